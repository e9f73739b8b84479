package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/gitfleet/gitfleet/status"
)

// Defaults for StatusConfig.
const (
	DefaultHeartbeat     = time.Hour
	DefaultReportTimeout = time.Minute
)

// StatusConfig configures a StatusWriter.
type StatusConfig struct {
	// Location is the fleet repo, or a separate status repo. Required.
	Location Location
	// Node names the report file status/<Node>.yaml and the ref
	// refs/heads/status/<Node>.
	Node string
	// Dir holds the writer's own bare repository (the remote's current
	// report is fetched there). Required; not shared with Config.Dir.
	Dir string
	// Traffic, when set, is told the bytes of every exchange with the
	// remote (OpPush for Report, OpReports for Reports).
	Traffic Traffic
	// Heartbeat is how long after the last commit an unchanged report is
	// committed anyway. Default 1h.
	Heartbeat time.Duration
	// AuthorName and AuthorEmail sign the commits. Defaults "fleetd <node>"
	// and "<node>@gitfleet.invalid".
	AuthorName, AuthorEmail string
	// Timeout bounds the network exchanges of one Report. Default 1m.
	Timeout time.Duration
	// Now is the clock (tests inject one). Default time.Now.
	Now func() time.Time
	// Signer signs every status commit, as git commit -S does: its
	// signature goes into the commit's gpgsig header (fleetd passes the
	// node's status key, trust.StatusKey). Nil writes unsigned commits,
	// which other nodes' gates and fleetctl status count as untrusted.
	Signer Signer
	// CheckReport says whether a report Reports read from another node's
	// ref is trusted, given the status key enrolled for that node ("" for
	// none); fleetd passes one built on trust.VerifyReport. Nil: every
	// such report is untrusted.
	CheckReport func(statusKey string, r Report) status.Trust
}

// Signer signs a commit's bytes (the commit without its signature) and
// returns the armored signature; go-git's git.Signer has the same shape.
type Signer interface {
	Sign(message io.Reader) ([]byte, error)
}

var nodeName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`) })

// validNode reports whether node can name a status ref and file.
func validNode(node string) bool {
	return nodeName().MatchString(node) && !strings.HasSuffix(node, ".lock") && !strings.Contains(node, "..")
}

// Validate fills in defaults and checks the rest.
func (c *StatusConfig) Validate() error {
	var errs []error
	if !validNode(c.Node) {
		errs = append(errs, fmt.Errorf("status: invalid node name %q", c.Node))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("status: dir is required"))
	}
	if c.Location.IsZero() {
		errs = append(errs, errors.New("status: location is required"))
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultReportTimeout
	}
	if c.AuthorName == "" {
		c.AuthorName = "fleetd " + c.Node
	}
	if c.AuthorEmail == "" {
		c.AuthorEmail = c.Node + "@gitfleet.invalid"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return errors.Join(errs...)
}

// StatusWriter commits a node's status reports to status/<node>.yaml on
// the node's own ref, refs/heads/status/<node>, and pushes that one ref.
// Each commit has a one-file tree and the previous report as its parent,
// so `git log status/<node>` is the node's audit trail. It builds the
// objects itself: no work tree, no checkout. It is safe for concurrent
// use; reports are written one at a time.
type StatusWriter struct {
	cfg  StatusConfig
	log  *slog.Logger
	auth transport.AuthMethod
	refs *refLister
	ref  plumbing.ReferenceName
	file string // status/<node>.yaml

	mu     sync.Mutex
	loaded bool               // the remote's report has been read
	last   *status.NodeStatus // last report committed, or found on the remote; nil if none
	head   plumbing.Hash      // the remote ref's commit, as of the last exchange
	when   time.Time          // when head was committed
	// reports are the other nodes' reports Reports read last.
	reports reportCache
}

var _ interface {
	Report(context.Context, *status.NodeStatus) error
} = (*StatusWriter)(nil)

// NewStatusWriter validates cfg. It does not touch the network: the first
// Report reads the remote's current report, so a restarted agent commits
// only if its report differs from what the remote holds.
func NewStatusWriter(cfg StatusConfig, log *slog.Logger) (*StatusWriter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	auth, err := authMethod(cfg.Location, cfg.Timeout)
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", cfg.Location, err)
	}
	refs, err := newRefLister(cfg.Location, auth, cfg.Timeout, newMeter(cfg.Traffic))
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", cfg.Location, err)
	}
	return &StatusWriter{
		cfg:  cfg,
		log:  log.With(logURL, cfg.Location.String()),
		auth: auth,
		refs: refs,
		ref:  statusRef(cfg.Node),
		file: cfg.Node + ".yaml",
	}, nil
}

// errMoved: the remote ref is not where this writer left it.
var errMoved = errors.New("status ref moved")

// Report commits st if it differs from the last report written (LastSeen
// aside) or the heartbeat is due, and pushes it; otherwise it sends
// nothing. The last report is remembered in Dir, so a restarted agent
// does not ask the remote either. If someone else moved the node's ref,
// the push is refused; Report then reads the ref again and retries once.
func (w *StatusWriter) Report(ctx context.Context, st *status.NodeStatus) error {
	if st.Metadata.Name != "" && st.Metadata.Name != w.cfg.Node {
		return fmt.Errorf("status: report names node %q, writer is for %q", st.Metadata.Name, w.cfg.Node)
	}
	rep := *st
	rep.Metadata.Name = w.cfg.Node
	ctx, cancel := context.WithTimeout(withOp(ctx, OpPush), w.cfg.Timeout)
	defer cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if !w.loaded {
			if err := w.load(ctx, attempt > 0); err != nil {
				return err
			}
		}
		changes := status.Changes(w.last, &rep)
		now := w.cfg.Now()
		if len(changes) == 0 && now.Sub(w.when) < w.cfg.Heartbeat {
			return nil
		}
		err := w.commit(ctx, &rep, changes, now)
		if err != nil && !errors.Is(err, errMoved) {
			// A push that got no answer (a timeout) may have landed: the
			// next report reads the ref before it pushes on top of it,
			// instead of conflicting with its own commit.
			w.loaded = false
			w.forgetLocal()
		}
		if !errors.Is(err, errMoved) || attempt == 1 {
			return err
		}
		w.log.Info("status ref moved, reading it again", logRef, w.ref.String())
		w.loaded = false
	}
}

// load reads the node's last report: from lastReportFile unless remote is
// set, else from the remote: the node's ref alone (protocol v2 ls-refs),
// and a depth-1 fetch of the ref into the store in Dir when it exists.
func (w *StatusWriter) load(ctx context.Context, remote bool) error {
	if !remote && w.loadLocal() {
		return nil
	}
	w.forgetLocal()
	refs, err := w.refs.list(ctx, w.ref.String())
	if err != nil {
		return remoteError("fetch", w.cfg.Location, w.ref.String(), err)
	}
	w.last, w.head, w.when = nil, plumbing.ZeroHash, time.Time{}
	remoteHead, ok := refs[w.ref.String()]
	if !ok {
		w.loaded = true
		return nil
	}
	st, err := openStore(w.cfg.Dir)
	if err == nil && st.packs() >= maxPacks {
		st, err = recreateStore(w.cfg.Dir)
	}
	if err != nil {
		return err
	}
	var c *object.Commit
	for retry := false; ; retry = true {
		if err := w.fetchRef(ctx, st, remoteHead); err != nil {
			return remoteError("fetch", w.cfg.Location, w.ref.String(), err)
		}
		ref, err := st.s.Reference(w.ref)
		if err != nil {
			return fmt.Errorf("status: read %s: %w", w.ref, err)
		}
		c, err = object.GetCommit(st.s, ref.Hash())
		if errors.Is(err, plumbing.ErrObjectNotFound) && !retry {
			// A fetch on a full disk can leave the ref naming a commit
			// whose pack index was cut short: start the store afresh
			// once, else every later report fails.
			if st, err = recreateStore(w.cfg.Dir); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("status: read %s: %w", w.ref, err)
		}
		break
	}
	w.head, w.when, w.loaded = c.Hash, c.Committer.When, true
	prev, err := newTreeFS(&sync.Mutex{}, st.s, c.TreeHash).ReadFile("status/" + w.file)
	if err == nil {
		w.last, err = status.Unmarshal(prev)
	}
	if err != nil {
		// Not ours, or unreadable: the next report replaces it.
		w.log.Warn("remote status unreadable", logRef, w.ref.String(), logErr, err)
		w.last, prev = nil, nil
	}
	w.saveLocal(prev)
	return nil
}

// fetchRef brings the node's ref and its commit (depth 1) into st; head
// is the ref's commit as the remote listed it just before.
func (w *StatusWriter) fetchRef(ctx context.Context, st *store, head plumbing.Hash) error {
	if w.cfg.Location.inProcess {
		src, err := openInProcess(w.cfg.Location)
		if err != nil {
			return err
		}
		defer src.Close()
		ref, err := src.Reference(w.ref)
		if err != nil {
			return err
		}
		if err := copyHistory(ctx, src, st.s, ref.Hash(), 1); err != nil {
			return err
		}
		return st.s.SetReference(plumbing.NewHashReference(w.ref, ref.Hash()))
	}
	if ref, err := st.s.Reference(w.ref); err == nil && ref.Hash() == head && st.s.HasEncodedObject(head) == nil {
		return nil // already here
	}
	// Protocol v2's fetch on the writer's own (counted) connections, or
	// a v0 session from a server without it.
	if err := fetchReports(ctx, w.cfg.Location, w.auth, w.refs, st.s, []plumbing.Hash{head}); err != nil {
		return err
	}
	return st.s.SetReference(plumbing.NewHashReference(w.ref, head))
}

// commit builds blob, trees and commit on top of w.head and pushes the ref.
func (w *StatusWriter) commit(ctx context.Context, st *status.NodeStatus, changes []string, now time.Time) error {
	data, err := status.Marshal(st)
	if err != nil {
		return err
	}
	data = w.scrub(data)
	msg := w.scrub([]byte(w.message(st, changes)))
	var parents []plumbing.Hash
	if !w.head.IsZero() {
		parents = []plumbing.Hash{w.head}
	}
	sig := object.Signature{Name: w.cfg.AuthorName, Email: w.cfg.AuthorEmail, When: now}
	pack, commit, err := buildCommit(w.file, data, parents, sig, string(msg), w.cfg.Signer)
	if err != nil {
		return err
	}
	if err := w.push(ctx, commit, pack); err != nil {
		return err
	}
	w.log.Info("status committed", logRef, w.ref.String(), logRev, short(commit.String()), "subject", firstLine(string(msg)))
	// Keep an independent copy: the caller may reuse st.
	last, err := status.Unmarshal(data)
	if err != nil {
		return err
	}
	w.last, w.head, w.when = last, commit, now
	w.saveLocal(data)
	return nil
}

// push updates the ref from w.head to commit in one receive-pack exchange:
// over HTTP(S) one request (pushHTTP, or go-git's exchange after a
// redirect); over ssh, git:// and file:// receive-pack first advertises
// every ref of the repository, as it always does (pushStream).
func (w *StatusWriter) push(ctx context.Context, commit plumbing.Hash, pack []byte) (err error) {
	fail := func(err error) error { return remoteError("push", w.cfg.Location, w.ref.String(), err) }
	if w.cfg.Location.inProcess {
		if err := writeLocal(w.cfg.Location, w.ref, w.head, commit, pack); err != nil {
			return fail(err)
		}
		return nil
	}
	if w.refs.client != nil {
		err := w.pushHTTP(ctx, commit, pack)
		if !errors.Is(err, errUseGoGit) {
			return fail(err)
		}
		w.log.Debug("push over HTTP with the ref advertisement", logErr, err)
	} else {
		return fail(w.pushStream(ctx, commit, pack))
	}
	c, ep, err := w.refs.goGitClient()
	if err != nil {
		return fail(err)
	}
	sess, err := c.NewReceivePackSession(ep, w.auth)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if cerr := sess.Close(); err == nil && cerr != nil {
			err = fail(cerr)
		}
	}()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return fail(err)
	}
	if cur := ar.References[w.ref.String()]; cur != w.head {
		return fail(fmt.Errorf("%w: at %s, expected %s", errMoved, short(cur.String()), short(w.head.String())))
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
	req.Commands = []*packp.Command{{Name: w.ref, Old: w.head, New: commit}}
	req.Packfile = io.NopCloser(bytes.NewReader(pack))
	rs, err := sess.ReceivePack(ctx, req)
	if err == nil && rs != nil {
		if rerr := rs.Error(); rerr != nil {
			// The server refused the update: another writer won a race for
			// this ref (git reports it only as text).
			err = fmt.Errorf("%w: %w", errMoved, rerr)
		}
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// message is the commit message: a subject saying what changed, the list
// in the body.
func (w *StatusWriter) message(st *status.NodeStatus, changes []string) string {
	var b strings.Builder
	if len(changes) == 0 {
		fmt.Fprintf(&b, "%s: heartbeat\n\nNo change since %s.\n", w.cfg.Node, w.when.UTC().Format(time.RFC3339))
	} else {
		subject := w.cfg.Node + ": " + strings.Join(changes, "; ")
		if r := []rune(subject); len(r) > 100 {
			subject = string(r[:99]) + "…"
		}
		b.WriteString(subject + "\n\n")
		for _, c := range changes {
			b.WriteString("- " + c + "\n")
		}
	}
	if s := st.Status; s.ObservedRevision != "" || s.AppliedRevision != "" {
		fmt.Fprintf(&b, "\nObserved-Revision: %s\nApplied-Revision: %s\n", s.ObservedRevision, s.AppliedRevision)
	}
	return b.String()
}

// scrub removes this writer's own credentials should a report carry them.
func (w *StatusWriter) scrub(b []byte) []byte {
	for _, s := range w.cfg.Location.secrets() {
		b = bytes.ReplaceAll(b, []byte(s), []byte("***"))
	}
	return b
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
