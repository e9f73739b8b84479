package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/gitfleet/gitfleet/fault"
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
	keyResult   = "result"
)

// Pass runs one level-based, idempotent reconcile: poll the branch, parse
// and verify a new revision if the branch moved, bring the containers to
// the target, and report. It returns nil or an error whose class
// (fault.ClassOf) says what to do: refused (wait for the branch to move),
// held (ask again at the next poll) or transient (retry with backoff).
//
// Whatever fails, the last good workloads keep running: a new revision
// replaces them only after all its images have been verified and pulled.
func (r *Reconciler) Pass(ctx context.Context) (err error) {
	start := r.deps.Now()
	var applied []Action
	var next *revision
	defer func() {
		err = errors.Join(err, r.report(ctx, err))
		elapsed := r.deps.Now().Sub(start)
		noop := err == nil && next == nil && len(applied) == 0
		level := slog.LevelInfo
		switch {
		case noop:
			level = slog.LevelDebug // a poll that found nothing new
		case fault.ClassOf(err) == fault.Refused:
			// A refusal stands until the branch moves: warn once.
			level = slog.LevelWarn
			key := r.refused + "\n" + err.Error()
			if key == r.loggedRefusal {
				level = slog.LevelDebug
			}
			r.loggedRefusal = key
		}
		r.log.Log(ctx, level, "pass", keyResult, outcome(err), keyRevision, short(r.applied), keyActions, len(applied),
			keyElapsed, elapsed.Round(time.Millisecond), keyErr, err)
		if r.deps.Observer != nil {
			r.deps.Observer.ObservePass(PassResult{Start: start, Duration: elapsed, Revision: r.applied,
				Actions: len(applied), NoOp: noop, Err: err})
		}
	}()

	r.hintHead()
	next, pollErr := r.poll(ctx)
	target := r.current
	if next != nil {
		target = next
	}
	if target == nil {
		return pollErr
	}
	applied, err = r.apply(ctx, target)
	if err != nil && !onlyRollbacks(err) {
		if next != nil && fault.ClassOf(err) != fault.Refused {
			r.pending = next
		}
		return errors.Join(pollErr, err, r.saveIf(len(applied) > 0))
	}
	// Applied; a workload that is back on its fallback is a refusal of its
	// spec (class refused): nothing to retry until that spec changes.
	if next != nil {
		r.applied, r.current, r.pending = next.id, next, nil
	}
	return errors.Join(pollErr, err, r.saveIf(next != nil || len(applied) > 0))
}

// saveIf writes the state file when something changed.
func (r *Reconciler) saveIf(changed bool) error {
	if !changed {
		return nil
	}
	return r.save()
}

// onlyRollbacks reports whether err consists of rollbacks alone.
func onlyRollbacks(err error) bool {
	if err == nil {
		return false
	}
	var rb *RollbackError
	if f, ok := err.(*fault.Error); ok {
		return onlyRollbacks(f.Err)
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !onlyRollbacks(e) {
				return false
			}
		}
		return true
	}
	return errors.As(err, &rb)
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
	if r.deps.Commits == nil && !r.cfg.InsecureSkipVerify {
		return nil, r.refuse(head, ErrNoTrust)
	}
	fsys, err := r.fetch(ctx, head)
	if err != nil {
		return nil, err
	}
	// The revision is parsed once, before its commit is verified: the
	// verifier needs the commit mode its fleet.yaml asks for.
	rev, parseErr := r.parse(head, fsys)
	var se *spec.Error
	if parseErr != nil && !errors.As(parseErr, &se) {
		return nil, fmt.Errorf("read %s: %w", short(head), parseErr) // reading the tree failed, not the spec
	}
	if r.deps.Commits != nil {
		mode := ""
		if rev != nil {
			mode = rev.fleet.Trust.Commits.Mode
		}
		if err := r.deps.Commits.VerifyCommit(ctx, head, r.applied, mode); err != nil {
			if fault.ClassOf(err) == fault.Refused {
				return nil, r.refuse(head, errors.Join(err, parseErr))
			}
			return nil, fmt.Errorf("verify %s: %w", short(head), err)
		}
	}
	if parseErr != nil {
		return nil, r.refuse(head, parseErr)
	}
	return rev, nil
}

// load fetches, reads and resolves one revision of the fleet repo.
func (r *Reconciler) load(ctx context.Context, rev string) (*revision, error) {
	fsys, err := r.fetch(ctx, rev)
	if err != nil {
		return nil, err
	}
	return r.parse(rev, fsys)
}

func (r *Reconciler) fetch(ctx context.Context, rev string) (fs.FS, error) {
	fsys, err := r.deps.Source.Tree(ctx, rev)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", short(rev), err)
	}
	return fsys, nil
}

// parse reads a revision once for everything a pass needs: the fleet
// settings (the commit mode among them), this node's workloads, the rollout
// groups that select it and the image keys the revision names.
func (r *Reconciler) parse(rev string, fsys fs.FS) (*revision, error) {
	repo, err := spec.ParseForNode(fsys, r.cfg.Node)
	if err != nil {
		return nil, err
	}
	desired, err := repo.Resolve(r.cfg.Node, r.cfg.Labels)
	if err != nil {
		return nil, err
	}
	gates, err := r.gates(fsys, repo, rev)
	if err != nil {
		return nil, err
	}
	keys, err := r.imageKeys(fsys, repo.Fleet.Spec.Trust.Images.Keys)
	if err != nil {
		return nil, err
	}
	return &revision{id: rev, fleet: repo.Fleet.Spec, desired: desired, imageKeys: keys, gates: gates}, nil
}

// imageKeys reads the image keys a revision names. With image verification
// off (--insecure-skip-verify) they are not needed and not read.
func (r *Reconciler) imageKeys(fsys fs.FS, paths []string) (map[string][]byte, error) {
	keys := map[string][]byte{}
	if r.deps.Images == nil {
		return keys, nil
	}
	var errs []error
	for i, p := range paths {
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			errs = append(errs, &spec.Error{File: "fleet.yaml", Field: fmt.Sprintf("spec.trust.images.keys[%d]", i), Err: fmt.Errorf("read %s: %w", p, err)})
			continue
		}
		keys[p] = b
	}
	return keys, errors.Join(errs...)
}

// refuse remembers that rev failed for good and returns err as its
// refusal.
func (r *Reconciler) refuse(rev string, err error) error {
	refused := fault.Refuse(rev, err)
	r.refused, r.refusedErr = rev, refused
	return refused
}
