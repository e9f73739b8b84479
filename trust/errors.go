package trust

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gitfleet/gitfleet/fault"
)

// ErrRefused matches (errors.Is) every refusal: a revision that must not be
// applied until the ref moves.
var ErrRefused = errors.New("refused")

// ErrHistoryMissing matches (errors.Is) a check that needs commits the
// repository does not hold, typically below the boundary of a shallow
// fetch. It is not a refusal: deepen the fetch and verify again.
var ErrHistoryMissing = errors.New("history missing (shallow repository?)")

// Refusal is the error returned for a refused commit. It matches
// ErrRefused.
type Refusal struct {
	// Commit is the refused commit's hash.
	Commit string
	// Reason says why, in a few words.
	Reason string
	// Tried lists the keys tried, e.g. "ssh SHA256:… (alice@example.com)";
	// nil when keys are not the question (ancestry).
	Tried []string
	// Err is the underlying cause, if any.
	Err error
}

func (e *Refusal) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "refused commit %s: %s", e.Commit, e.Reason)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	switch {
	case e.Tried == nil: // not a question of keys (ancestry)
	case len(e.Tried) == 0:
		b.WriteString(" (keys tried: none, the trust set is empty)")
	default:
		fmt.Fprintf(&b, " (keys tried: %s)", strings.Join(e.Tried, ", "))
	}
	return b.String()
}

// Is reports whether target is ErrRefused.
func (e *Refusal) Is(target error) bool { return target == ErrRefused }

// Unwrap returns the underlying cause.
func (e *Refusal) Unwrap() error { return e.Err }

// Fault classifies a refusal: fault.Refused, whatever its cause.
func (e *Refusal) Fault() fault.Class { return fault.Refused }
