package reconciler

import (
	"errors"
	"fmt"
)

// StalledError marks a failure that retrying cannot fix: a bad spec, a
// refused signature. The revision is not tried again until the ref moves.
type StalledError struct {
	Revision string
	Err      error
}

func (e *StalledError) Error() string {
	return fmt.Sprintf("revision %s refused: %v", short(e.Revision), e.Err)
}

func (e *StalledError) Unwrap() error { return e.Err }

// IsStalled reports whether err waits for a new revision rather than a retry.
// Every other error of a pass is transient: the loop backs off and retries.
func IsStalled(err error) bool {
	var s *StalledError
	return errors.As(err, &s)
}

// ErrNoTrust refuses every revision of an agent that has no way to verify
// commits and was not told to skip verification.
var ErrNoTrust = errors.New("no trusted keys configured: refusing to apply unverified revisions (use --insecure-skip-verify only in labs)")

// short abbreviates a commit id for messages.
func short(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}
