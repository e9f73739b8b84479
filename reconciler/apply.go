package reconciler

import (
	"context"
	"errors"
	"fmt"

	"github.com/gitfleet/gitfleet/fault"
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
		return nil, &ListError{Err: err}
	}
	r.crashLoops(target.desired)
	desired := r.effective(target)
	plan := Plan(desired, actual, PlanOptions{Supervised: r.deps.Supervisor != nil})
	r.adopt(desired, actual, plan)
	clear(r.acted)
	r.changed = false
	r.watchRunning(desired, plan)
	if len(plan) == 0 {
		return nil, nil
	}
	if target != r.current {
		if err := r.hold(ctx, target, plan); err != nil {
			return nil, err
		}
	}
	if err := r.stage(ctx, target, plan); err != nil {
		return nil, err
	}
	var done []Action
	var errs []error
	for _, a := range plan {
		if note := r.note(a); note != "" {
			r.acted[a.Workload] = note
		}
		if err := r.do(ctx, target, a); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, a)
	}
	r.changed = len(done) > 0
	if len(errs) == 0 {
		// Every action returned; the node must now be what the plan
		// aimed at. A containerd that died and came back meanwhile can
		// leave a started container stopped or a task gone without any
		// call having failed: that pass did not converge.
		errs = append(errs, r.settled(ctx, desired))
	}
	if r.deps.GC != nil && len(done) > 0 {
		if removed, err := r.deps.GC.GC(ctx, r.keepImages(r.effective(target))); err != nil {
			errs = append(errs, fmt.Errorf("image gc: %w", err))
		} else if len(removed) > 0 {
			r.log.Info("removed unused images", "images", removed)
		}
	}
	return done, errors.Join(errs...)
}

// note is what the report says of an action: only repairs, since a
// replacement for a new spec shows in the image and revision already.
func (r *Reconciler) note(a Action) string {
	_, known := r.fallback[a.Workload]
	switch {
	case a.Drift:
		return "drift corrected: " + a.Reason
	case a.Restart:
		return "restarted: " + a.Reason
	case a.Kind == Start && known:
		return "restored: its container was gone"
	}
	return ""
}

// adopt records what already runs as desired as the workload's last known
// good spec, for an agent that starts with no record of it.
func (r *Reconciler) adopt(desired []spec.Desired, actual []status.Instance, plan []Action) {
	planned := map[string]bool{}
	for _, a := range plan {
		planned[a.Workload] = true
	}
	running := instancesByWorkload(actual)
	for _, d := range desired {
		if _, ok := r.fallback[d.Name]; ok || planned[d.Name] {
			continue
		}
		if in, ok := running[d.Name]; ok && in.SpecHash == d.Hash {
			r.fallback[d.Name] = d
		}
	}
}

// stage verifies and pulls the images of every start and replacement.
func (r *Reconciler) stage(ctx context.Context, target *revision, plan []Action) error {
	seen := map[string]int{} // image -> signatures verified
	for _, a := range plan {
		if a.Desired == nil {
			continue
		}
		img, min := a.Desired.Spec.Image, max(a.Desired.Spec.MinSignatures, 1)
		if n, ok := seen[img]; ok && n >= min {
			continue
		}
		seen[img] = min
		srcs, err := r.sources(ctx, target, img, min)
		if err != nil {
			return err
		}
		if err := r.pullFirst(ctx, srcs); err != nil {
			return fmt.Errorf("workload %s: %w", a.Workload, err)
		}
	}
	return nil
}

// sources returns where img is pulled from: the one source it was verified
// at, or, with verification off, every source spec.Sources lists.
func (r *Reconciler) sources(ctx context.Context, target *revision, img string, min int) ([]spec.ImageSource, error) {
	if r.deps.Images != nil {
		src, err := r.deps.Images.VerifyImage(ctx, img, target.fleet.Registries, target.imageKeys, min)
		if err != nil {
			return nil, r.imageError(target, img, err)
		}
		return []spec.ImageSource{src}, nil
	}
	ref, err := spec.ParseImageRef(img)
	if err != nil {
		return nil, err
	}
	return spec.Sources(target.fleet.Registries, ref), nil
}

// pullFirst pulls from the first of srcs that serves the image.
func (r *Reconciler) pullFirst(ctx context.Context, srcs []spec.ImageSource) error {
	var errs []error
	for _, src := range srcs {
		err := r.deps.Runtime.Pull(ctx, src)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// imageError classifies a failed image verification: a refused image
// refuses a new revision; a registry that cannot be reached is transient,
// and so is any failure while repairing the current revision.
func (r *Reconciler) imageError(target *revision, img string, err error) error {
	if fault.ClassOf(err) != fault.Refused || target == r.current {
		return fault.Retry("", fmt.Errorf("image %s: %w", img, err))
	}
	return r.refuse(target.id, err)
}

// do carries out one action. A started container must become healthy;
// if it does not, or cannot start at all, the workload's last known good
// spec is started again, so the node keeps serving.
func (r *Reconciler) do(ctx context.Context, target *revision, a Action) error {
	r.log.Info("action", keyAction, a.Kind, keyWorkload, a.Workload, "reason", a.Reason, keyRevision, short(target.id))
	if a.Kind == Remove {
		if err := r.deps.Runtime.Remove(ctx, a.Workload); err != nil {
			return fmt.Errorf("remove %s: %w", a.Workload, err)
		}
		delete(r.restarts, a.Workload)
		delete(r.fallback, a.Workload)
		delete(r.previous, a.Workload)
		delete(r.failed, a.Workload)
		return nil
	}
	d := *a.Desired
	delete(r.pendingSince, d.Name)
	if err := r.deps.Runtime.Run(ctx, d, target.id); err != nil {
		if fault.ClassOf(err) != fault.Refused {
			// The runtime's trouble, not the workload's: retried, and
			// the spec does not count as failed.
			return fmt.Errorf("run %s: %w", d.Name, err)
		}
		return r.rollback(ctx, target, d, fmt.Sprintf("cannot start: %v", err))
	}
	if a.Restart {
		r.restarts[a.Workload]++
	} else if a.Kind == Replace {
		r.restarts[a.Workload] = 0
	}
	r.watch(d)
	if reason := r.verdict(ctx, d); reason != "" {
		return r.rollback(ctx, target, d, reason)
	}
	r.promote(d)
	if err := r.deps.Runtime.Retire(ctx, d.Name, d.Hash); err != nil {
		return fmt.Errorf("retire the old %s: %w", d.Name, err)
	}
	return nil
}

// rollback puts a workload whose new spec failed back on its fallback and
// remembers the failure until the spec changes.
func (r *Reconciler) rollback(ctx context.Context, target *revision, bad spec.Desired, reason string) error {
	fb, ok := r.fallback[bad.Name]
	if !ok || fb.Hash == bad.Hash {
		return fmt.Errorf("workload %s: %s (no earlier version to roll back to)", bad.Name, reason)
	}
	f := failure{Hash: bad.Hash, Image: bad.Spec.Image, To: fb.Spec.Image, Reason: reason}
	r.failed[bad.Name] = f
	r.log.Warn("rolling back", keyWorkload, bad.Name, "reason", reason)
	rev := r.applied
	if rev == "" {
		rev = target.id
	}
	if err := r.deps.Runtime.Run(ctx, fb, rev); err != nil {
		return fmt.Errorf("workload %s: %s; restoring %s failed: %w", bad.Name, reason, fb.Spec.Image, err)
	}
	if err := r.deps.Runtime.Retire(ctx, bad.Name, fb.Hash); err != nil {
		return fmt.Errorf("workload %s: %s; removing the failed version: %w", bad.Name, reason, err)
	}
	r.watch(fb)
	return fault.Refuse(bad.Name, &RollbackError{Workload: bad.Name, failure: f})
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
