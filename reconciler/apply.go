package reconciler

import (
	"context"
	"errors"
	"fmt"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// apply brings the containers to target. It verifies and pulls every image
// the plan needs before it changes anything, so a registry that is down or
// an image that is refused leaves the running workloads untouched. It
// returns the actions it carried out.
func (r *Reconciler) apply(ctx context.Context, target *revision) ([]Action, error) {
	actual, err := r.deps.Runtime.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	plan := Plan(target.desired, actual)
	if err := r.stage(ctx, target, plan); err != nil {
		return nil, err
	}
	var done []Action
	var errs []error
	for _, a := range plan {
		if err := r.do(ctx, target, a); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, a)
	}
	return done, errors.Join(errs...)
}

// stage verifies and pulls the images of every start and replacement.
func (r *Reconciler) stage(ctx context.Context, target *revision, plan []Action) error {
	seen := map[string]bool{}
	for _, a := range plan {
		if a.Desired == nil || seen[a.Desired.Spec.Image] {
			continue
		}
		img := a.Desired.Spec.Image
		seen[img] = true
		if r.deps.Images != nil {
			if err := r.deps.Images.VerifyImage(ctx, img, target.fleet.Registries, target.imageKeys); err != nil {
				return r.imageError(target, img, err)
			}
		}
		if err := r.deps.Runtime.Pull(ctx, img, target.fleet.Registries); err != nil {
			return fmt.Errorf("workload %s: %w", a.Workload, err)
		}
	}
	return nil
}

// imageError classifies a failed image verification: a refused image
// refuses a new revision; a registry that cannot be reached is transient,
// and so is any failure while repairing the current revision.
func (r *Reconciler) imageError(target *revision, img string, err error) error {
	if !IsStalled(err) || target == r.current {
		return fmt.Errorf("image %s: %w", img, err)
	}
	return r.refuse(target.id, err)
}

// do carries out one action. A replacement that fails is undone: the
// workload's last good spec is started again, so the node keeps serving.
func (r *Reconciler) do(ctx context.Context, target *revision, a Action) error {
	r.log.Info("action", keyAction, a.Kind, keyWorkload, a.Workload, "reason", a.Reason, keyRevision, short(target.id))
	if a.Kind == Remove {
		if err := r.deps.Runtime.Remove(ctx, a.Workload); err != nil {
			return fmt.Errorf("remove %s: %w", a.Workload, err)
		}
		delete(r.restarts, a.Workload)
		return nil
	}
	err := r.deps.Runtime.Run(ctx, *a.Desired, target.id)
	if err == nil {
		if a.Restart {
			r.restarts[a.Workload]++
		} else if a.Kind == Replace {
			r.restarts[a.Workload] = 0
		}
		return nil
	}
	err = fmt.Errorf("run %s: %w", a.Workload, err)
	if old := r.lastGood(a.Workload); old != nil && old.Hash != a.Desired.Hash {
		if rerr := r.deps.Runtime.Run(ctx, *old, r.current.id); rerr != nil {
			return errors.Join(err, fmt.Errorf("restore %s: %w", a.Workload, rerr))
		}
		return fmt.Errorf("%w (kept the last good version)", err)
	}
	return err
}

// lastGood returns the workload's spec in the current revision, if any.
func (r *Reconciler) lastGood(name string) *spec.Desired {
	if r.current == nil {
		return nil
	}
	for i := range r.current.desired {
		if r.current.desired[i].Name == name {
			return &r.current.desired[i]
		}
	}
	return nil
}

// instancesByWorkload indexes the running view for the report.
func instancesByWorkload(in []status.Instance) map[string]status.Instance {
	m := make(map[string]status.Instance, len(in))
	for _, i := range in {
		if prev, ok := m[i.Workload]; ok && prev.State == status.StateRunning {
			continue
		}
		m[i.Workload] = i
	}
	return m
}
