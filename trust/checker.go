package trust

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5"
)

// History is the fleet repo's local store as an agent's commit check needs
// it: its objects, and more of its history on demand. The agent's git
// adapter (source.Git) satisfies it; trust does not import that adapter.
type History interface {
	// Repository opens the store read-only.
	Repository() (*git.Repository, error)
	// Deepen fetches the tracked branch again with depth commits of
	// history, keeping what the store holds.
	Deepen(ctx context.Context, depth int) error
}

// Depths of history a Checker fetches, in turn, while a check needs
// commits the store does not hold: FirstDepth, then four times as many,
// up to MaxDepth. A last applied revision further back than MaxDepth
// commits is refused.
const (
	FirstDepth = 16
	MaxDepth   = 4096
)

// Checker is the agent's commit check: a Verifier over a History, in the
// node's mode made stricter by the revision's own fleet.yaml, fetching more
// history while the check needs it. It satisfies reconciler.CommitVerifier.
type Checker struct {
	history History
	local   *TrustSet
	opts    Options
}

// NewChecker returns a Checker trusting local (the node's --trust-dir) and,
// under the rotation rule documented on Verifier, the repo's trust/ keys.
// opts.Mode is the node's own mode (--verify-mode).
func NewChecker(h History, local *TrustSet, opts Options) *Checker {
	return &Checker{history: h, local: local, opts: opts}
}

// VerifyCommit decides whether rev may be applied after lastApplied.
// asked is the commit mode the revision's own fleet.yaml asks for
// (spec.trust.commits.mode, "head" or "all"), or "" when the revision's
// fleet.yaml could not be read; see Escalate. Refusals are of class
// fault.Refused (a *Refusal, matching ErrRefused); an error fetching
// history is returned as the History gave it.
func (c *Checker) VerifyCommit(ctx context.Context, rev, lastApplied, asked string) error {
	mode, why := Escalate(c.opts.Mode, asked)
	opts := c.opts
	opts.Mode = mode
	v := NewVerifier(c.history.Repository, c.local, opts)
	err := deepening(ctx, c.history, rev, lastApplied, func() error {
		return v.VerifyCommit(ctx, rev, lastApplied)
	})
	var refusal *Refusal
	if why != "" && errors.As(err, &refusal) {
		refusal.Reason += " (" + why + ")"
	}
	return err
}

// Escalate returns the mode a revision is verified in: the node's own mode,
// made stricter, never weaker, by the mode the revision's fleet.yaml asks
// for. A revision cannot relax the node's ModeAll by asking for "head".
// asked "" means the revision's fleet.yaml could not be read, and an
// unknown value cannot be trusted either: both get the strictest mode,
// ModeAll, never a silent fallback to the head only. why says why the mode
// is stricter than the node's own ("" when it is not), for messages.
func Escalate(node Mode, asked string) (mode Mode, why string) {
	if node == ModeAll {
		return ModeAll, ""
	}
	switch Mode(asked) {
	case ModeHead:
		return ModeHead, ""
	case ModeAll:
		return ModeAll, "mode all, asked for by the revision's fleet.yaml"
	case "":
		return ModeAll, "mode all: the revision's fleet.yaml could not be read, so every commit is verified"
	}
	return ModeAll, fmt.Sprintf("mode all: the revision's fleet.yaml asks for unknown mode %q", asked)
}

// deepening runs verify and, while it fails with ErrHistoryMissing, fetches
// more history from h (FirstDepth, then four times as many each time, up to
// MaxDepth) and runs it again. When MaxDepth commits are not enough, it
// refuses rev: its last applied revision is too far back to prove that rev
// descends from it.
func deepening(ctx context.Context, h History, rev, lastApplied string, verify func() error) error {
	for depth := FirstDepth; ; depth *= 4 {
		err := verify()
		switch {
		case err == nil, !errors.Is(err, ErrHistoryMissing):
			return err
		case depth > MaxDepth:
			return &Refusal{Commit: rev, Err: err,
				Reason: fmt.Sprintf("the last applied revision %s is more than %d commits back", lastApplied, MaxDepth)}
		}
		if err := h.Deepen(ctx, depth); err != nil {
			return fmt.Errorf("fetch %d commits of history to verify %.12s: %w", depth, rev, err)
		}
	}
}
