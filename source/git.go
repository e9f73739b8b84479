package source

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// Log attribute keys.
const (
	logURL      = "url"
	logRef      = "ref"
	logRev      = "rev"
	logDuration = "duration"
	logErr      = "err"
)

// maxPacks bounds the store: each fetch adds one pack, and when this many
// have piled up the next fetch starts from an empty store (one depth-1
// fetch of the whole tree), which also drops every older commit.
const maxPacks = 16

// Git is the fleet repo reached with go-git. Head asks the remote for the
// branch head; Tree fetches a commit at depth 1 into the bare repository
// in Config.Dir and serves its tree. It is safe for concurrent use.
type Git struct {
	cfg  Config
	log  *slog.Logger
	auth transport.AuthMethod
	ref  plumbing.ReferenceName
	refs *refLister

	// polled is the head the last Head returned: Tree fetches that commit
	// without asking for the branch again (see fetchPicked).
	polled atomic.Pointer[plumbing.Hash]

	mu    sync.Mutex // guards store: go-git storage is not safe for concurrent use
	store *store
}

// New validates cfg and opens (or creates) the bare repository in cfg.Dir.
// It does not touch the network.
func New(cfg Config, log *slog.Logger) (*Git, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	auth, err := authMethod(cfg.Location, cfg.PollTimeout)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Location, err)
	}
	refs, err := newRefLister(cfg.Location, auth, cfg.PollTimeout, newMeter(cfg.Traffic))
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Location, err)
	}
	st, err := openStore(cfg.Dir)
	if err != nil {
		return nil, err
	}
	g := &Git{
		cfg:   cfg,
		log:   log.With(logURL, cfg.Location.String()),
		auth:  auth,
		ref:   plumbing.NewBranchReferenceName(cfg.Branch),
		refs:  refs,
		store: st,
	}
	if cfg.Node != "" && !cfg.Location.inProcess {
		if err := g.useNodeStore(); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Head returns the commit the branch points at on the remote, bounded by
// Config.PollTimeout. It asks for that one ref with protocol v2 (ls-refs),
// so its cost does not grow with the refs the repository holds; a server
// without v2 sends its whole ref advertisement instead (protocol v0).
func (g *Git) Head(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(withOp(ctx, OpPoll), g.cfg.PollTimeout)
	defer cancel()
	refs, err := g.refs.list(ctx, g.ref.String())
	if err != nil {
		return "", remoteError("poll", g.cfg.Location, g.ref.String(), err)
	}
	h, ok := refs[g.ref.String()]
	if !ok {
		return "", remoteError("poll", g.cfg.Location, g.ref.String(), ErrBranchNotFound)
	}
	g.polled.Store(&h)
	return h.String(), nil
}

// Tree returns the file tree of commit rev. If the commit is not in the
// local store, Tree first fetches the branch at depth 1 (bounded by
// Config.FetchTimeout); rev must then be the fetched head, else the error
// wraps ErrRevisionNotFound (the branch moved: poll again).
//
// The FS reads blobs from the store on demand; it stays valid until a
// later Tree call re-creates the store (every maxPacks fetches).
func (g *Git) Tree(ctx context.Context, rev string) (fs.FS, error) {
	h, err := parseHash(rev)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	c, err := object.GetCommit(g.store.s, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		ctx, cancel := context.WithTimeout(withOp(ctx, OpFetch), g.cfg.FetchTimeout)
		defer cancel()
		if err := g.fetch(ctx, rev); err != nil {
			return nil, err
		}
		c, err = object.GetCommit(g.store.s, h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, &Error{Op: "fetch", URL: g.cfg.Location.String(), Ref: g.ref.String(), Transient: true,
				Err: fmt.Errorf("%w: %s is no longer the branch head", ErrRevisionNotFound, rev)}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", rev, err)
	}
	f := newTreeFS(&g.mu, g.store.s, c.TreeHash)
	if g.cfg.Node != "" && !g.cfg.Location.inProcess {
		f.complete = func() error { return g.fetchComplete(h) }
	}
	return f, nil
}

// fetch brings the branch head into the store. A local failure (go-git's
// shallow bookkeeping, a damaged store) is retried once from an empty
// store; remote failures are returned as they are.
func (g *Git) fetch(ctx context.Context, rev string) error {
	fresh := false
	if g.store.packs() >= maxPacks {
		if err := g.resetStore(); err != nil {
			return err
		}
		fresh = true
	}
	start := time.Now()
	var polled plumbing.Hash
	if p := g.polled.Load(); p != nil && p.String() == rev {
		polled = *p
	}
	err := g.fetchOnce(ctx, 1, polled)
	if err != nil && !fresh && ctx.Err() == nil && isLocalFailure(err) {
		g.log.Warn("fetch failed, starting from an empty store", logErr, err)
		if rerr := g.resetStore(); rerr != nil {
			return rerr
		}
		err = g.fetchOnce(ctx, 1, polled)
	}
	if err != nil {
		return remoteError("fetch", g.cfg.Location, g.ref.String(), err)
	}
	g.log.Info("fetched", logRef, g.ref.String(), logRev, short(rev), logDuration, time.Since(start).Round(time.Millisecond))
	return nil
}

// Deepen fetches the branch again with depth commits of history, keeping
// what the store holds, so that a commit verifier can walk back from a new
// head to the last applied revision (ancestry, key rotation). Deepen is
// only needed when a verifier says history is missing.
func (g *Git) Deepen(ctx context.Context, depth int) error {
	if depth < 2 {
		return fmt.Errorf("deepen: depth %d must be at least 2", depth)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	ctx, cancel := context.WithTimeout(withOp(ctx, OpFetch), g.cfg.FetchTimeout)
	defer cancel()
	start := time.Now()
	if err := g.fetchOnce(ctx, depth, plumbing.ZeroHash); err != nil {
		return remoteError("deepen", g.cfg.Location, g.ref.String(), err)
	}
	if err := g.trimShallow(); err != nil {
		return fmt.Errorf("deepen: %w", err)
	}
	g.log.Info("deepened", logRef, g.ref.String(), "depth", depth, logDuration, time.Since(start).Round(time.Millisecond))
	return nil
}

// trimShallow drops shallow markers of commits whose parents are now in
// the store: go-git only ever adds markers, so after a deeper fetch the old
// boundary would still read as the end of history.
func (g *Git) trimShallow() error {
	shallows, err := g.store.s.Shallow()
	if err != nil {
		return err
	}
	keep := shallows[:0]
	for _, h := range shallows {
		c, err := object.GetCommit(g.store.s, h)
		if err != nil {
			keep = append(keep, h)
			continue
		}
		for _, p := range c.ParentHashes {
			if _, err := g.store.s.EncodedObject(plumbing.CommitObject, p); err != nil {
				keep = append(keep, h)
				break
			}
		}
	}
	return g.store.s.SetShallow(keep)
}

// Repository opens the local store read-only for commit verification. It
// must not be used concurrently with Tree or Deepen (go-git's storage is not
// safe for concurrent use); the reconciler calls them from one goroutine.
func (g *Git) Repository() (*git.Repository, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return git.Open(g.store.s, nil)
}

// fetchOnce fetches the branch with depth commits of history. polled,
// when not zero, is the head Head just returned (see fetchPicked).
func (g *Git) fetchOnce(ctx context.Context, depth int, polled plumbing.Hash) error {
	g.store.cleanTemp()
	if g.cfg.Location.inProcess {
		return g.fetchInProcess(ctx, depth)
	}
	if g.cfg.Node != "" && depth == 1 {
		return g.fetchForNode(ctx, polled)
	}
	if depth > 1 {
		if err := g.deepenV2(ctx, depth); !errors.Is(err, errNoV2Fetch) {
			return err
		}
	}
	return g.fetchWhole(ctx, depth)
}

// fetchWhole fetches the branch head with depth commits of history,
// every object of its tree, in go-git's protocol v0 exchange on the
// source's counted connections (goGitClient): from a server without
// protocol v2, or a pack the node fetch cannot pick from.
func (g *Git) fetchWhole(ctx context.Context, depth int) error {
	sess, ar, head, err := g.sessionV0(ctx)
	if err != nil {
		return err
	}
	defer sess.Close()
	if cur, err := g.store.s.Reference(g.ref); depth == 1 && err == nil && cur.Hash() == head {
		return nil // up to date, as go-git's fetch would say
	}
	if err := fetchCommits(ctx, sess, ar, g.store.s, []plumbing.Hash{head}, depth); err != nil {
		return err
	}
	return g.store.s.SetReference(plumbing.NewHashReference(g.ref, head))
}

// sessionV0 opens go-git's upload-pack session for the branch on the
// source's counted connections (goGitClient) and returns it with its ref
// advertisement and the branch head; the caller closes it.
func (g *Git) sessionV0(ctx context.Context) (transport.UploadPackSession, *packp.AdvRefs, plumbing.Hash, error) {
	c, ep, err := g.refs.goGitClient()
	if err != nil {
		return nil, nil, plumbing.ZeroHash, err
	}
	sess, err := c.NewUploadPackSession(ep, g.auth)
	if err != nil {
		return nil, nil, plumbing.ZeroHash, err
	}
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		err = ErrBranchNotFound
	}
	head, ok := plumbing.ZeroHash, false
	if err == nil {
		if head, ok = ar.References[g.ref.String()]; !ok {
			err = ErrBranchNotFound
		}
	}
	if err != nil {
		sess.Close()
		return nil, nil, plumbing.ZeroHash, err
	}
	return sess, ar, head, nil
}

func (g *Git) resetStore() error {
	st, err := recreateStore(g.cfg.Dir)
	if err != nil {
		return err
	}
	g.store = st
	return nil
}

// isLocalFailure reports whether a fetch failed on this side (storage,
// pack decoding, shallow bookkeeping) rather than in talking to the remote.
func isLocalFailure(err error) bool {
	switch {
	case errors.Is(err, ErrBranchNotFound), errors.Is(err, ErrIncomplete),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.Is(err, plumbing.ErrObjectNotFound):
		return true
	}
	for _, remote := range []error{
		transport.ErrAuthenticationRequired, transport.ErrAuthorizationFailed,
		transport.ErrRepositoryNotFound, transport.ErrEmptyRemoteRepository,
		transport.ErrInvalidAuthMethod, io.EOF, io.ErrUnexpectedEOF,
	} {
		if errors.Is(err, remote) {
			return false
		}
	}
	var netErr net.Error
	var httpErr *githttp.Err
	return !errors.As(err, &netErr) && !errors.As(err, &httpErr) && !strings.Contains(err.Error(), "ssh:")
}

// advertisedRefs opens one upload-pack session and returns the refs the
// server advertises (none for an empty repository).
func (l *refLister) advertisedRefs(ctx context.Context) (map[string]plumbing.Hash, error) {
	c, ep, err := l.goGitClient()
	if err != nil {
		return nil, err
	}
	sess, err := c.NewUploadPackSession(ep, l.auth)
	if err != nil {
		return nil, err
	}
	ar, err := sess.AdvertisedReferencesContext(ctx)
	cerr := sess.Close()
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return map[string]plumbing.Hash{}, nil
	}
	if err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, cerr
	}
	return ar.References, nil
}

func parseHash(rev string) (plumbing.Hash, error) {
	if len(rev) != 40 {
		return plumbing.ZeroHash, fmt.Errorf("invalid revision %q: want a 40-digit commit hash", rev)
	}
	if _, err := hex.DecodeString(rev); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("invalid revision %q: want a 40-digit commit hash", rev)
	}
	return plumbing.NewHash(rev), nil
}

func short(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}
