// Package reconciler turns a node's desired workloads into running
// containers. It owns the small interfaces the adapters satisfy (Source,
// Images, Runtime, Reporter), a pure Plan, one idempotent Pass and the Run
// loop. It imports only spec, status, rollout, fault and the standard
// library; errors are classified with package fault (see errors.go).
package reconciler

import (
	"context"
	"io/fs"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// Source is the fleet repo.
type Source interface {
	// Head returns the commit the tracked branch points at. It asks for
	// that one ref and nothing else (a HeadHinter often not even that).
	Head(ctx context.Context) (string, error)
	// Tree fetches rev if needed and returns its file tree.
	Tree(ctx context.Context, rev string) (fs.FS, error)
}

// CommitVerifier decides whether a revision may be applied (signature,
// ancestry). The revision has been fetched (Source.Tree) and parsed before
// it is asked: mode is the commit mode its own fleet.yaml asks for
// (spec.CommitModeHead or spec.CommitModeAll), or "" when the revision
// could not be parsed, and then the verifier must take its strictest mode.
// A refusal is an error of class fault.Refused; any other error is taken as
// transient and retried. A nil CommitVerifier means verification is off,
// which the agent allows only when told so.
type CommitVerifier interface {
	VerifyCommit(ctx context.Context, rev, lastApplied, mode string) error
}

// ImageVerifier decides whether an image may run before it is pulled. keys
// are the PEM public keys the revision names (fleet.yaml
// spec.trust.images.keys), by path; minSignatures is how many distinct
// trusted keys must have signed it (0 means 1). It returns the source the
// image was verified at (one of spec.Sources), which is exactly where it
// is pulled from. A refusal is an error of class fault.Refused; any other
// error (a registry that is down) is transient.
type ImageVerifier interface {
	VerifyImage(ctx context.Context, ref string, registries []spec.Registry, keys map[string][]byte, minSignatures int) (spec.ImageSource, error)
}

// Runtime runs containers and reports the ones the agent owns.
type Runtime interface {
	// List returns every container the agent owns, from the runtime alone.
	List(ctx context.Context) ([]status.Instance, error)
	// Pull makes the image available locally, fetching it from exactly
	// src (pinned by digest); it decides no source itself.
	Pull(ctx context.Context, src spec.ImageSource) error
	// Run creates and starts the workload's container. An older container
	// of the workload that holds the same ports is stopped first and
	// removed; any other keeps serving until Retire. An error of class
	// fault.Refused says the workload itself cannot start (its process,
	// its image, its mounts) and counts against its spec; any other is the
	// runtime's trouble and is retried.
	Run(ctx context.Context, d spec.Desired, revision string) error
	// Retire removes the workload's containers other than the one of spec
	// hash keep, once that one is healthy.
	Retire(ctx context.Context, workload, keep string) error
	// Remove stops and deletes the workload's container.
	Remove(ctx context.Context, workload string) error
}

// Reporter records a status report. It decides itself whether the report
// is worth a commit (something changed, or the heartbeat is due).
type Reporter interface {
	Report(ctx context.Context, st *status.NodeStatus) error
}

// LogTailer reads the end of a workload's log, with the values of its
// secrets removed, for the report of a workload that fails ("" for none).
type LogTailer interface {
	LogTail(d spec.Desired) string
}
