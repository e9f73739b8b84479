package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/reconciler"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
	"github.com/gitfleet/gitfleet/trust"
	"github.com/gitfleet/gitfleet/usb"
)

// channel chooses, pass by pass, where the reconciler's revision, images
// and report go: the network (the fleet repo, the registries), or a USB
// stick handed over by the watcher. A stick gets exactly one pass, from
// its Head to its Report: the reconciler and every rule it applies are the
// same; only the places change. The wrappers below satisfy the
// reconciler's interfaces by asking the channel which place the pass in
// progress uses.
type channel struct {
	log      *slog.Logger
	net      *source.HeadURL      // nil on a node with no fleet repo
	netRep   *source.StatusWriter // nil likewise
	netImage reconciler.ImageVerifier
	wake     chan struct{}

	mu      sync.Mutex
	offered *session // waits for the next pass
	current *session // the pass in progress uses it
}

// session is one stick's pass.
type session struct {
	stick  *usb.Stick
	src    *source.Git
	layout *image.LayoutStore
	images reconciler.ImageVerifier
	rep    *source.StatusWriter
	done   chan error // the report's outcome, once
}

// errNoRepo: a node without --repo waits for sticks.
var errNoRepo = errors.New("no fleet repo configured: waiting for a USB stick")

func newChannel(net *source.HeadURL, netRep *source.StatusWriter, log *slog.Logger) *channel {
	return &channel{log: log, net: net, netRep: netRep, wake: make(chan struct{}, 1)}
}

// begin picks the place of a new pass: an offered stick, else the network.
func (c *channel) begin() *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.offered != nil {
		c.current, c.offered = c.offered, nil
	}
	return c.current
}

// now is the session of the pass in progress, or nil for the network.
func (c *channel) now() *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current
}

// end closes the pass: the stick's session is over.
func (c *channel) end(err error) {
	c.mu.Lock()
	s := c.current
	c.current = nil
	c.mu.Unlock()
	if s != nil {
		s.done <- err
	}
}

// Head is the first call of every pass.
func (c *channel) Head(ctx context.Context) (string, error) {
	if s := c.begin(); s != nil {
		return s.src.Head(ctx)
	}
	if c.net == nil {
		return "", &fault.Error{Class: fault.Held, Err: errNoRepo}
	}
	return c.net.Head(ctx)
}

func (c *channel) Tree(ctx context.Context, rev string) (fs.FS, error) {
	if s := c.now(); s != nil {
		return s.src.Tree(ctx, rev)
	}
	if c.net == nil {
		return nil, &fault.Error{Class: fault.Held, Err: errNoRepo}
	}
	return c.net.Tree(ctx, rev)
}

// channelCommits checks commits with the history of the place the pass
// reads: the same keys and rules, a checker per place.
type channelCommits struct {
	c        *channel
	net      reconciler.CommitVerifier
	forStick func(*source.Git) reconciler.CommitVerifier
}

func (cc channelCommits) VerifyCommit(ctx context.Context, rev, lastApplied, mode string) error {
	if s := cc.c.now(); s != nil {
		return cc.forStick(s.src).VerifyCommit(ctx, rev, lastApplied, mode)
	}
	return cc.net.VerifyCommit(ctx, rev, lastApplied, mode)
}

// UseHeadURL hands the applied revision's poll settings to the network's
// poller.
func (c *channel) UseHeadURL(url string, maxStale time.Duration) {
	if c.net != nil {
		c.net.UseHeadURL(url, maxStale)
	}
}

// PollStatus says how the pass's head was learned.
func (c *channel) PollStatus() *status.Poll {
	if s := c.now(); s != nil {
		return s.src.PollStatus()
	}
	if c.net == nil {
		return nil
	}
	return c.net.PollStatus()
}

// channelImages verifies images where the pass reads them.
type channelImages struct{ c *channel }

func (ci channelImages) VerifyImage(ctx context.Context, ref string, registries []spec.Registry, keys map[string][]byte, minSignatures int) (spec.ImageSource, error) {
	if s := ci.c.now(); s != nil {
		return s.images.VerifyImage(ctx, ref, registries, keys, minSignatures)
	}
	return ci.c.netImage.VerifyImage(ctx, ref, registries, keys, minSignatures)
}

// Report is the last call of every pass: a stick's report goes onto the
// stick, and ends its session.
func (c *channel) Report(ctx context.Context, st *status.NodeStatus) error {
	s := c.now()
	if s == nil {
		if c.netRep == nil {
			return nil
		}
		return c.netRep.Report(ctx, st)
	}
	err := s.rep.Report(ctx, st)
	c.end(err)
	if err != nil {
		return fmt.Errorf("write status onto the stick: %w", err)
	}
	return nil
}

// Reports reads other nodes' reports for rollout gates where the pass is.
func (c *channel) Reports(ctx context.Context, nodes []string, statusKeys map[string]string) (map[string]*status.NodeStatus, error) {
	if s := c.now(); s != nil {
		return s.rep.Reports(ctx, nodes, statusKeys)
	}
	if c.netRep == nil {
		return map[string]*status.NodeStatus{}, nil
	}
	return c.netRep.Reports(ctx, nodes, statusKeys)
}

// Rollout gates ask the channel, and fleetd's status writer behind it,
// which reports moved before they fetch them.
var (
	_ reconciler.ReportPeeker = (*channel)(nil)
	_ reconciler.ReportPeeker = (*source.StatusWriter)(nil)
)

// KnownReports is Reports without the fetch (reconciler.ReportPeeker),
// where the pass is.
func (c *channel) KnownReports(ctx context.Context, nodes []string, statusKeys map[string]string) (map[string]*status.NodeStatus, []string, error) {
	if s := c.now(); s != nil {
		return s.rep.KnownReports(ctx, nodes, statusKeys)
	}
	if c.netRep == nil {
		return map[string]*status.NodeStatus{}, nil, nil
	}
	return c.netRep.KnownReports(ctx, nodes, statusKeys)
}

// stickSync hands sticks from the watcher to the reconciler.
type stickSync struct {
	c         *channel
	cfg       *Config
	imageKeys map[string][]byte
	statusKey *trust.StatusKey // signs the reports written onto sticks
	log       *slog.Logger
}

// found runs one stick: check it, offer it to the next pass, wake the
// reconciler, wait for the pass to write its report onto the stick.
func (y *stickSync) found(ctx context.Context, dir string) {
	start := time.Now()
	log := y.log.With("stick", dir)
	s, err := y.open(dir)
	if err != nil {
		log.Error("usb stick refused", "err", err)
		return
	}
	defer s.layout.Close()
	m := s.stick.Manifest
	log.Info("usb stick ready", "revision", m.Revision, "created", m.Created, "images", len(m.Images))
	y.c.mu.Lock()
	y.c.offered = s
	y.c.mu.Unlock()
	select {
	case y.c.wake <- struct{}{}:
	default:
	}
	select {
	case err = <-s.done:
	case <-ctx.Done():
		return
	}
	if err != nil {
		log.Error("usb stick: status not written; the stick keeps its previous state", "err", err, "elapsed", time.Since(start).Round(time.Millisecond))
		return
	}
	log.Info("usb stick done: status written, safe to remove", "elapsed", time.Since(start).Round(time.Millisecond))
}

// open checks the stick and prepares its session.
func (y *stickSync) open(dir string) (*session, error) {
	st, err := usb.Open(dir)
	if err != nil {
		return nil, err
	}
	if st.Manifest.Branch != y.cfg.Branch {
		return nil, fmt.Errorf("the stick carries branch %q, this node tracks %q", st.Manifest.Branch, y.cfg.Branch)
	}
	repo, err := source.LocalRepository(st.RepoPath())
	if err != nil {
		return nil, err
	}
	state := filepath.Join(y.cfg.StateDir, "usb")
	src, err := source.New(source.Config{Location: repo, Branch: y.cfg.Branch, Dir: filepath.Join(state, "repo")}, y.log)
	if err != nil {
		return nil, err
	}
	// The writer starts from what this stick holds, not from the last one.
	if err := os.RemoveAll(filepath.Join(state, "status")); err != nil {
		return nil, err
	}
	rep, err := source.NewStatusWriter(source.StatusConfig{
		Location: repo, Node: y.cfg.Node, Dir: filepath.Join(state, "status"),
		Heartbeat: time.Nanosecond, // every visit leaves a report
		Signer:    y.statusKey, CheckReport: checkReport,
	}, y.log)
	if err != nil {
		return nil, err
	}
	layout, err := image.OpenLayout(st.ImagesPath())
	if err != nil {
		return nil, err
	}
	return &session{stick: st, src: src, layout: layout, images: image.NewLayoutVerifier(y.imageKeys, layout), rep: rep, done: make(chan error, 1)}, nil
}

// network opens the fleet repo (its git store, and the poller in front of
// it) and the status repo; none on a node that has only sticks (no
// --repo).
func network(cfg *Config, auth source.Auth, key *trust.StatusKey, traffic source.Traffic, log *slog.Logger) (*source.Git, *source.HeadURL, *source.StatusWriter, string, error) {
	if cfg.Repo == "" {
		return nil, nil, nil, "", nil
	}
	repo, err := source.ParseLocation(cfg.Repo, auth)
	if err != nil {
		return nil, nil, nil, "", err
	}
	statusRepo := repo
	if cfg.StatusRepo != "" {
		if statusRepo, err = source.ParseLocation(cfg.StatusRepo, auth); err != nil {
			return nil, nil, nil, "", err
		}
	}
	src, err := source.New(source.Config{
		Location: repo, Branch: cfg.Branch,
		Dir:  filepath.Join(cfg.StateDir, "repo"),
		Node: cfg.Node, Traffic: traffic,
	}, log)
	if err != nil {
		return nil, nil, nil, "", err
	}
	// Every head comes from git; a head URL only spares the git server
	// polls that would find nothing new.
	poller, err := source.NewHeadURL(src, source.HeadURLConfig{URL: cfg.PollURL, MaxStale: cfg.PollMaxStale.Duration, Traffic: traffic}, log)
	if err != nil {
		return nil, nil, nil, "", err
	}
	rep, err := source.NewStatusWriter(source.StatusConfig{
		Location: statusRepo, Node: cfg.Node,
		Dir:       filepath.Join(cfg.StateDir, "status"),
		Heartbeat: cfg.Heartbeat.Duration,
		Signer:    key, CheckReport: checkReport,
		Traffic: traffic,
	}, log)
	if err != nil {
		return nil, nil, nil, "", err
	}
	return src, poller, rep, repo.String(), nil
}

// withUSB puts the channel between the reconciler and its places and
// starts the watcher; it returns the channel that wakes the reconciler
// when a stick is ready.
func withUSB(ctx context.Context, cfg *Config, deps *reconciler.Deps, src *source.Git, poller *source.HeadURL, rep *source.StatusWriter,
	checker func(*source.Git) reconciler.CommitVerifier, imageKeys map[string][]byte, statusKey *trust.StatusKey, log *slog.Logger) (chan struct{}, error) {
	if cfg.InsecureSkipVerify {
		return nil, errors.New("--usb-root needs signature verification: a stick's images are found through their signatures (drop --insecure-skip-verify)")
	}
	c := newChannel(poller, rep, log)
	c.netImage = deps.Images
	deps.Source, deps.Reporter, deps.Reports = c, c, c
	deps.Images = channelImages{c}
	if checker != nil {
		net := deps.Commits
		if src == nil {
			net = refuseAll{}
		}
		deps.Commits = channelCommits{c: c, net: net, forStick: checker}
	}
	w, err := usb.NewWatcher(usb.WatchConfig{Roots: cfg.USBRoots, Log: log})
	if err != nil {
		return nil, err
	}
	y := &stickSync{c: c, cfg: cfg, imageKeys: imageKeys, statusKey: statusKey, log: log}
	go func() {
		if err := w.Run(ctx, y.found); err != nil {
			log.Error("usb watcher stopped", "err", err)
		}
	}()
	return c.wake, nil
}

// refuseAll is the network's commit check on a node without a fleet repo.
type refuseAll struct{}

func (refuseAll) VerifyCommit(context.Context, string, string, string) error {
	return fault.Refuse("", errNoRepo)
}
