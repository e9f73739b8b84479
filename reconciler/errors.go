package reconciler

import (
	"errors"

	"github.com/gitfleet/gitfleet/fault"
)

// The reconciler classifies every error of a pass with package fault, the
// same way the adapters do:
//
//   - refused (fault.Refused): a revision that failed verification or does
//     not parse, or a workload version that had to be rolled back. The
//     revision is not tried again until the branch moves; the workload's
//     spec not until it changes.
//   - retrying (fault.Transient, and any error nobody classified): the loop
//     backs off and retries.
//   - waiting (fault.Held): a revision held by a rollout wave or an update
//     lock; asked again at the next poll, or when the gate said.
//
// The Ready condition and the pass's log line use these words.

// ErrNoTrust refuses every revision of an agent that has no way to verify
// commits and was not told to skip verification.
var ErrNoTrust = errors.New("no trusted keys configured: refusing to apply unverified revisions (use --insecure-skip-verify only in labs)")

// find returns the outermost *fault.Error of class c in err's tree, or nil.
func find(err error, c fault.Class) *fault.Error {
	switch e := err.(type) {
	case nil:
		return nil
	case *fault.Error:
		if e.Class == c {
			return e
		}
		return find(e.Err, c)
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			if f := find(inner, c); f != nil {
				return f
			}
		}
		return nil
	}
	return find(errors.Unwrap(err), c)
}

// outcome is the word for a pass's result in logs: applied, or the class
// of its error.
func outcome(err error) string {
	if err == nil {
		return "applied"
	}
	return fault.ClassOf(err).String()
}

// short abbreviates a commit id for messages.
func short(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

// ListError is the runtime failing to list its containers. A pass that
// already failed on it does not report it a second time.
type ListError struct {
	// When is the moment of the pass: "" before the actions, "after the
	// actions", "for the report".
	When string
	Err  error
}

func (e *ListError) Error() string {
	if e.When == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + " (" + e.When + ")"
}

func (e *ListError) Unwrap() error { return e.Err }

// Fault returns fault.Transient: containerd busy or restarting.
func (e *ListError) Fault() fault.Class { return fault.Transient }
