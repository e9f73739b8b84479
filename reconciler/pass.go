package reconciler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gitfleet/gitfleet/spec"
)

// Log attribute keys.
const (
	keyRevision = "revision"
	keyWorkload = "workload"
	keyAction   = "action"
	keyErr      = "err"
	keyActions  = "actions"
	keyElapsed  = "elapsed"
)

// Pass runs one level-based, idempotent reconcile: poll the branch, parse
// and verify a new revision if the branch moved, bring the containers to
// the target, and report. It returns nil, a *StalledError (wait for a new
// revision) or a transient error (retry with backoff).
//
// Whatever fails, the last good workloads keep running: a new revision
// replaces them only after all its images have been verified and pulled.
func (r *Reconciler) Pass(ctx context.Context) (err error) {
	start := r.deps.Now()
	var applied []Action
	defer func() {
		err = errors.Join(err, r.report(ctx, err))
		r.log.Info("pass", keyRevision, short(r.applied), keyActions, len(applied),
			keyElapsed, r.deps.Now().Sub(start).Round(time.Millisecond), keyErr, err)
	}()

	next, pollErr := r.poll(ctx)
	target := r.current
	if next != nil {
		target = next
	}
	if target == nil {
		return pollErr
	}
	applied, err = r.apply(ctx, target)
	if err != nil {
		if next != nil && !IsStalled(err) {
			r.pending = next
		}
		return errors.Join(pollErr, err)
	}
	if next != nil {
		if err := saveState(r.cfg.StateFile, next.id); err != nil {
			return errors.Join(pollErr, err)
		}
		r.applied, r.current, r.pending = next.id, next, nil
	}
	return pollErr
}

// poll asks for the branch head and returns a new revision to apply, or
// nil when there is none. Its error is about the new revision only; the
// caller still enforces the current one.
func (r *Reconciler) poll(ctx context.Context) (*revision, error) {
	head, err := r.deps.Source.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("poll: %w", err)
	}
	r.observed = head
	switch {
	case head == r.refused:
		return nil, r.refusedErr
	case r.current != nil && head == r.current.id:
		return nil, nil
	case r.pending != nil && head == r.pending.id:
		return r.pending, nil
	}
	r.refused, r.refusedErr, r.pending = "", nil, nil
	if r.current == nil && r.applied != "" && head != r.applied {
		// An agent restarted behind the branch: load what it applied last,
		// so that a refused new revision leaves it enforcing the old one.
		if cur, err := r.load(ctx, r.applied); err == nil {
			r.current = cur
		} else {
			r.log.Warn("cannot load last applied revision", keyRevision, short(r.applied), keyErr, err)
		}
	}
	if err := r.verifyCommit(ctx, head); err != nil {
		return nil, r.refuse(head, err)
	}
	rev, err := r.load(ctx, head)
	if err != nil {
		if isTransient(err) {
			return nil, err
		}
		return nil, r.refuse(head, err)
	}
	return rev, nil
}

// load reads and resolves one revision of the fleet repo.
func (r *Reconciler) load(ctx context.Context, rev string) (*revision, error) {
	fsys, err := r.deps.Source.Tree(ctx, rev)
	if err != nil {
		return nil, &fetchError{fmt.Errorf("fetch %s: %w", short(rev), err)}
	}
	repo, err := spec.ParseForNode(fsys, r.cfg.Node)
	if err != nil {
		return nil, err
	}
	desired, err := repo.Resolve(r.cfg.Node, r.cfg.Labels)
	if err != nil {
		return nil, err
	}
	return &revision{id: rev, fleet: repo.Fleet.Spec, desired: desired}, nil
}

func (r *Reconciler) verifyCommit(ctx context.Context, head string) error {
	switch {
	case r.deps.Commits != nil:
		return r.deps.Commits.VerifyCommit(ctx, head, r.applied)
	case r.cfg.InsecureSkipVerify:
		return nil
	}
	return ErrNoTrust
}

// refuse remembers that rev failed for good.
func (r *Reconciler) refuse(rev string, err error) error {
	r.refused = rev
	r.refusedErr = &StalledError{Revision: rev, Err: err}
	return r.refusedErr
}

// isTransient tells a failure to reach something (retry) from a refusal.
func isTransient(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) || errors.As(err, new(*fetchError))
}

// fetchError marks a failure to read a revision from the source.
type fetchError struct{ err error }

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }
