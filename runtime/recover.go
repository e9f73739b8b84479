package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	containerd "github.com/containerd/containerd"
)

// A replace or a removal is a sequence of containerd calls (create the
// container, create its task, stop the old task, start the new one, delete
// the old container), any of which an agent killed mid-way or a containerd
// restart can interrupt. The record of what was about to happen is the
// containers themselves: every container carries its workload and spec hash
// as labels from the moment it exists, before its task is created. The next
// Run of the workload reads that record and finishes or undoes the step:
//
//   - a container of the wanted spec hash whose task is not running (created
//     and never started, a task whose creation was cut off, a stopped task)
//     is an interrupted attempt: Run removes it (task, container, snapshot,
//     staged mounts, secrets) and creates the container again;
//   - containers of other spec hashes are the old version: Run removes them
//     once the new one runs, Retire once it is healthy, and a Remove removes
//     whatever of the workload is left.
//
// Each attempt creates its container under a fresh ID (attemptID): an
// interrupted task creation can leave the shim's bundle directory behind
// (containerd says "failed to start shim: mkdir …/<id>: file exists" for the
// next task of that ID until the daemon restarts), so an ID is never used
// twice. The leftover directory is containerd's: it removes bundles without
// a live shim when it starts.

// attemptID returns a fresh container ID for workload at spec hash:
// <workload>-<first 12 hex of the hash>-<6 random hex>.
func attemptID(workload, hash string) (string, error) {
	base, err := containerID(workload, hash)
	if err != nil {
		return "", err
	}
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("container id: %w", err)
	}
	return base + "-" + hex.EncodeToString(b[:]), nil
}

// hashOf returns the spec hash ctr was created for ("" if unlabelled).
func hashOf(ctx context.Context, ctr containerd.Container) (string, error) {
	labels, err := ctr.Labels(ctx)
	if err != nil {
		return "", fmt.Errorf("container %s: %w", ctr.ID(), err)
	}
	return labels[LabelSpecHash], nil
}

// idsOf returns every container, the agent's or not, whose ID is one that
// attemptID gives workload at hash (or the ID without attempt that agents
// before it gave).
func (c *Containerd) idsOf(ctx context.Context, workload, hash string) ([]containerd.Container, error) {
	base, err := containerID(workload, hash)
	if err != nil {
		return nil, err
	}
	all, err := c.client.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []containerd.Container
	for _, ctr := range all {
		id := ctr.ID()
		if id == base || (strings.HasPrefix(id, base+"-") && len(id) == len(base)+7) {
			out = append(out, ctr)
		}
	}
	return out, nil
}
