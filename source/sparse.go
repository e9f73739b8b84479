package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
)

// nodeFile marks a store kept for one node (Config.Node): it holds that
// node's file of nodes/ and no other.
const nodeFile = "gitfleet-node"

// maxLoose bounds the loose objects of a node's store; past it the next
// fetch starts from an empty store, as maxPacks does for packs.
const maxLoose = 4096

// keepForNode is the picker's rule for an agent: everything of the tree
// but the files of nodes/ other than the node's own.
func keepForNode(node string) func(dir string, name []byte, mode filemode.FileMode) bool {
	yaml, yml := node+".yaml", node+".yml"
	return func(dir string, name []byte, mode filemode.FileMode) bool {
		if dir != "nodes" {
			return true
		}
		return mode != filemode.Dir && (string(name) == yaml || string(name) == yml)
	}
}

// fetchForNode fetches the branch head at depth 1 and keeps of it only
// what Config.Node needs (picker): the pack goes to a temporary file and
// the wanted objects into the store as loose objects, so that neither the
// memory nor the store grows with the fleet's other nodes. The previous
// head, when the store has it, is offered as common, so the server sends
// what changed since; should that leave a wanted object out (the store
// lacks it), the fetch is done again from an empty store. polled is as
// fetchPicked takes it.
func (g *Git) fetchForNode(ctx context.Context, polled plumbing.Hash) error {
	if n, err := g.store.loose(); err != nil || n > maxLoose {
		if err := g.resetStore(); err != nil {
			return err
		}
	}
	err := g.fetchPicked(ctx, true, polled)
	var missing *missingError
	if errors.As(err, &missing) {
		if err := g.resetStore(); err != nil {
			return err
		}
		err = g.fetchPicked(ctx, false, polled)
	}
	return err
}

// missingError: wanted objects were neither sent nor in the store.
type missingError struct{ n int }

func (e *missingError) Error() string {
	return fmt.Sprintf("%d objects of the commit neither sent nor stored", e.n)
}

// fetchPicked is one node fetch. polled, when not zero, is the head the
// poll just before got from a server that speaks protocol v2: it is
// fetched without asking for the branch again, which saves every node a
// round trip (and the server an upload-pack) per change. Should the
// server refuse it (the branch moved and the commit is no longer one it
// serves), the branch is asked for, as without polled.
func (g *Git) fetchPicked(ctx context.Context, offerHave bool, polled plumbing.Hash) error {
	shallows, err := g.store.s.Shallow()
	if err != nil {
		return err
	}
	var haves []plumbing.Hash
	if ref, err := g.store.s.Reference(g.ref); offerHave && err == nil && g.store.s.HasEncodedObject(ref.Hash()) == nil {
		haves = []plumbing.Hash{ref.Hash()}
	}
	direct := !polled.IsZero() && g.refs.Protocol() == ProtocolV2
	// Protocol v2 first: ls-refs for the branch alone (unless the poll
	// just did), then fetch.
	refs := map[string]plumbing.Hash{g.ref.String(): polled}
	if !direct {
		if refs, err = g.refs.list(ctx, g.ref.String()); err != nil {
			return err
		}
	}
	if g.refs.Protocol() == ProtocolV2 {
		head, ok := refs[g.ref.String()]
		if !ok {
			return ErrBranchNotFound
		}
		if g.stored(head) {
			return nil
		}
		var pk *picked
		got, err := g.refs.fetchV2Depth(ctx, 1, []plumbing.Hash{head}, haves, shallows, func(pack io.Reader) (err error) {
			pk, err = g.pickStream(pack, head, len(haves) > 0)
			return err
		})
		if pk != nil {
			defer os.Remove(pk.path)
		}
		if err == nil {
			return g.pickInto(ctx, pk, head, append(shallows, got...))
		}
		if direct && ctx.Err() == nil && !errors.Is(err, errNoV2Fetch) {
			g.log.Info("fetch of the polled head failed, asking for the branch", logRev, short(head.String()), logErr, err)
			return g.fetchPicked(ctx, offerHave, plumbing.ZeroHash)
		}
		if !errors.Is(err, errNoV2Fetch) {
			return err
		}
	}
	sess, ar, head, err := g.sessionV0(ctx)
	if err != nil {
		return err
	}
	defer sess.Close()
	if g.stored(head) {
		return nil
	}
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	req.Wants = []plumbing.Hash{head}
	req.Depth = packp.DepthCommits(1)
	for _, c := range []capability.Capability{capability.Shallow, capability.OFSDelta, capability.NoProgress} {
		if c == capability.Shallow || ar.Capabilities.Supports(c) {
			if err := req.Capabilities.Set(c); err != nil {
				return err
			}
		}
	}
	req.Shallows, req.Haves = shallows, haves
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Close()
	pk, err := g.pickStream(demux(req.Capabilities, resp), head, false)
	if pk != nil {
		defer os.Remove(pk.path)
	}
	if err != nil {
		return err
	}
	return g.pickInto(ctx, pk, head, append(shallows, resp.Shallows...))
}

// stored reports whether an earlier fetch stored commit head whole.
func (g *Git) stored(head plumbing.Hash) bool {
	if g.store.s.HasEncodedObject(head) != nil {
		return false
	}
	_, err := g.store.s.Reference(g.ref)
	return err == nil
}

// picked is a pack written to a temporary file in the store (path) and
// the picker's first pass over it, made while it arrived.
type picked struct {
	path     string
	p        *picker
	progress bool
	err      error // the pack's content, as a pass fails
}

// pickStream writes a pack as it arrives to a temporary file in the store
// and picks commit head's objects from it meanwhile (the first pass). It
// returns nil only when no file was made; its error is the transfer's or
// the file's. thin says the pack may be thin (the fetch offered haves).
func (g *Git) pickStream(pack io.Reader, head plumbing.Hash, thin bool) (*picked, error) {
	tmp, err := os.CreateTemp(filepath.Join(g.cfg.Dir, "objects", "pack"), "tmp_pick_")
	if err != nil {
		return nil, err
	}
	pk := &picked{path: tmp.Name(), p: newPicker(g.store.s, g.cfg.Dir, head, keepForNode(g.cfg.Node))}
	pk.p.thin = thin
	pk.progress, pk.err, err = pk.p.passStream(pack, tmp, pk.path)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	return pk, err
}

// pickInto keeps what the node reads of the pack pk (commit head): the
// passes after the first, if objects came before the trees that name
// them. It records the shallow commits and the branch.
func (g *Git) pickInto(ctx context.Context, pk *picked, head plumbing.Hash, shallows []plumbing.Hash) error {
	var missing []plumbing.Hash
	err := pk.err
	if err == nil {
		missing, err = pk.p.pickAfter(pk.path, 1, pk.progress)
	}
	if errors.Is(err, errRefDelta) {
		return g.fetchWhole(ctx, 1)
	}
	if err != nil {
		return fmt.Errorf("read pack: %w", err)
	}
	if len(missing) > 0 {
		return &missingError{n: len(missing)}
	}
	if err := g.store.s.SetShallow(addShallows(nil, shallows)); err != nil {
		return err
	}
	return g.store.s.SetReference(plumbing.NewHashReference(g.ref, head))
}

// useNodeStore opens the store for Config.Node: a store kept for another
// node (or whole) is started again; one just made (a first start) is
// only marked.
func (g *Git) useNodeStore() error {
	path := filepath.Join(g.cfg.Dir, nodeFile)
	if b, err := os.ReadFile(path); err == nil && string(b) == g.cfg.Node {
		return nil
	}
	if !g.store.created {
		if err := g.resetStore(); err != nil {
			return err
		}
	}
	return os.WriteFile(path, []byte(g.cfg.Node), 0o600)
}

// loose counts the store's loose objects.
func (st *store) loose() (int, error) {
	n := 0
	dirs, err := os.ReadDir(filepath.Join(st.dir, "objects"))
	if err != nil {
		return 0, err
	}
	for _, d := range dirs {
		if !d.IsDir() || len(d.Name()) != 2 {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(st.dir, "objects", d.Name()))
		if err != nil {
			return 0, err
		}
		n += len(ents)
	}
	return n, nil
}

// fetchComplete fetches commit rev at depth 1 again, every object of its
// tree, as go-git indexes a pack (its memory grows with the fleet): an
// agent reads the other nodes' files only for rollout waves, which count
// every node a group selects. No commit is offered as common, else the
// server would leave out the files the node store never kept. The caller
// holds g.mu.
func (g *Git) fetchComplete(rev plumbing.Hash) error {
	ctx, cancel := context.WithTimeout(withOp(context.Background(), OpFetch), g.cfg.FetchTimeout)
	defer cancel()
	start := time.Now()
	// Protocol v2's fetch on the source's own (counted) connections, or a
	// v0 session from a server without it: the exchange reports use.
	if err := fetchReports(ctx, g.cfg.Location, g.auth, g.refs, g.store.s, []plumbing.Hash{rev}); err != nil {
		return remoteError("fetch", g.cfg.Location, g.ref.String(), err)
	}
	g.log.Info("fetched the whole tree", logRev, short(rev.String()), logDuration, time.Since(start).Round(time.Millisecond))
	return nil
}
