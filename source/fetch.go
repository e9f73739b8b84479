package source

import (
	"context"
	"strings"

	"github.com/go-git/go-git/v5"
)

// fetch runs rem.FetchContext; see retryCloseRace.
func fetch(ctx context.Context, rem *git.Remote, opts *git.FetchOptions) error {
	return retryCloseRace(ctx, func() error { return rem.FetchContext(ctx, opts) })
}

// closeRace is how go-git v5 reports losing a race over SSH: git
// upload-pack has sent the pack and the server closed the channel before
// the client closed its side, so closing it fails with EOF although
// nothing is wrong (go-git issue 1685, fixed in v6 only). go-git formats
// the error with %s, so its text is all there is to recognise it by.
const closeRace = "closing input: EOF"

// retryCloseRace runs do, and again (at most twice more) while it fails
// with closeRace: each try is a new session, and a try that lost the race
// stored nothing, since the pack is read only after the input is closed.
// A machine under load loses the race often enough to fail a poll or a
// one-shot fleetctl command now and then.
func retryCloseRace(ctx context.Context, do func() error) error {
	err := do()
	for try := 0; try < 2 && err != nil && strings.Contains(err.Error(), closeRace) && ctx.Err() == nil; try++ {
		err = do()
	}
	return err
}
