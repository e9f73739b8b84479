package source

import (
	"context"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// deepenV2 is fetchOnce for Deepen over protocol v2 on the source's own
// (counted) connections: ls-refs for the branch, then a fetch of its head
// with depth commits, telling the server the store's shallow commits. It
// returns errNoV2Fetch when the server has no v2 fetch; go-git's exchange
// is used then. The caller trims the shallow markers (trimShallow).
func (g *Git) deepenV2(ctx context.Context, depth int) error {
	if g.cfg.Location.inProcess {
		return errNoV2Fetch
	}
	refs, err := g.refs.list(ctx, g.ref.String())
	if err != nil {
		return err
	}
	if g.refs.Protocol() != ProtocolV2 {
		return errNoV2Fetch
	}
	head, ok := refs[g.ref.String()]
	if !ok {
		return ErrBranchNotFound
	}
	shallows, err := g.store.s.Shallow()
	if err != nil {
		return err
	}
	got, err := g.refs.fetchV2Depth(ctx, depth, []plumbing.Hash{head}, nil, shallows, func(pack io.Reader) error {
		return packfile.UpdateObjectStorage(g.store.s, pack)
	})
	if err != nil {
		return err
	}
	if err := g.store.s.SetShallow(addShallows(shallows, got)); err != nil {
		return err
	}
	return g.store.s.SetReference(plumbing.NewHashReference(g.ref, head))
}
