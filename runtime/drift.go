package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/typeurl/v2"

	"github.com/gitfleet/gitfleet/fault"
)

// What drift the runtime sees, so that the reconciler's next pass restores
// the spec:
//
//   - a task killed by hand: its exit event reaches the Supervisor, which
//     restarts it by the restart policy; List reports it stopped meanwhile;
//   - a task deleted by hand: List reports the container created (no task);
//     the Supervisor's re-list restarts it, or Run starts it afresh;
//   - a container deleted by hand: List no longer reports it;
//   - its OCI spec edited by hand (env, args, mounts, limits: anything in the
//     spec): the spec's hash no longer matches LabelOCISpecHash; List reports
//     the container with an empty SpecHash, so the plan replaces it, and Run
//     replaces it even though its ID is the desired one;
//   - LabelSpecHash edited: List reports the edited hash, Run replaces it;
//   - LabelWorkload edited: the container is no longer the workload's; Run
//     removes the container that holds the workload's ID (it still carries
//     LabelManaged) before it creates the new one;
//   - LabelManaged removed or edited: the container is no longer the
//     agent's, and the agent never touches what it does not own: Run refuses
//     the workload with a *ClashError naming the container that holds its
//     ID, and leaves that container running; other workloads go on.
//
// Not seen: changes inside the running container (files written, processes
// started by exec) and a paused task (reported running; its health probe
// fails).

// ociSpecHash is the sha256 of a container's stored OCI spec, as it was
// marshalled when the container was created.
func ociSpecHash(s typeurl.Any) string {
	if s == nil {
		return ""
	}
	sum := sha256.Sum256(s.GetValue())
	return "sha256:" + hex.EncodeToString(sum[:])
}

// withOCISpecHash labels a new container with the hash of its OCI spec. It
// must come after the options that set the spec and the labels.
func withOCISpecHash(_ context.Context, _ *containerd.Client, c *containers.Container) error {
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	c.Labels[LabelOCISpecHash] = ociSpecHash(c.Spec)
	return nil
}

// specDrift says how the container differs from what the agent created, or
// "" when it does not. Containers created before the agent labelled the
// spec hash have no drift by this measure.
func specDrift(info containers.Container) string {
	want, ok := info.Labels[LabelOCISpecHash]
	if !ok {
		return ""
	}
	if got := ociSpecHash(info.Spec); got != want {
		return "OCI spec changed by hand"
	}
	return ""
}

// driftOf says why ctr, which has the desired container ID, is not the
// container the agent would create for spec hash hash, or "".
func (c *Containerd) driftOf(ctx context.Context, ctr containerd.Container, hash string) (string, error) {
	info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return "", fmt.Errorf("container %s: %w", ctr.ID(), err)
	}
	if got := info.Labels[LabelSpecHash]; got != hash {
		return fmt.Sprintf("label %s is %q, want %q", LabelSpecHash, got, hash), nil
	}
	return specDrift(info), nil
}

// ClashError refuses a workload whose container ID is held by a container
// the agent does not own (it lacks LabelManaged=true). That container is
// left alone.
type ClashError struct {
	Workload  string
	Container string
	// Managed is the foreign container's LabelManaged, if any.
	Managed string
}

// Fault refuses the workload until its spec changes (or someone removes
// the container by hand).
func (e *ClashError) Fault() fault.Class { return fault.Refused }

func (e *ClashError) Error() string {
	return fmt.Sprintf("workload %s: container %s, which gitfleet does not own (%s=%q), holds the ID the workload needs: left alone; remove or rename it by hand",
		e.Workload, e.Container, LabelManaged, e.Managed)
}

// removeForeign clears the way for the workload's container of spec hash
// hash when another container holds one of the IDs of that workload and hash
// (attemptID) although it is not among the workload's containers. One that
// still carries LabelManaged is the agent's (its workload label was edited
// by hand) and is removed; any other is refused with a *ClashError and left
// alone.
func (c *Containerd) removeForeign(ctx context.Context, workload, hash string) error {
	ctrs, err := c.idsOf(ctx, workload, hash)
	if err != nil {
		return err
	}
	for _, ctr := range ctrs {
		labels, err := ctr.Labels(ctx)
		if err != nil {
			if ignoreNotFound(err) == nil {
				continue
			}
			return fmt.Errorf("container %s: %w", ctr.ID(), err)
		}
		if labels[LabelManaged] != "true" {
			return &ClashError{Workload: workload, Container: ctr.ID(), Managed: labels[LabelManaged]}
		}
		if labels[LabelWorkload] == workload {
			continue
		}
		c.log.WarnContext(ctx, "replacing container with edited labels", logKeyWorkload, workload, logKeyContainer, ctr.ID(),
			logKeyDrift, fmt.Sprintf("%s=%q %s=%q", LabelManaged, labels[LabelManaged], LabelWorkload, labels[LabelWorkload]))
		if err := c.remove(ctx, ctr); err != nil {
			return err
		}
	}
	return nil
}
