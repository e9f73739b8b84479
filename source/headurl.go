package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// DefaultHeadURLTimeout bounds one request for the head URL.
const DefaultHeadURLTimeout = 5 * time.Second

// HeadURLConfig configures a HeadURL.
type HeadURLConfig struct {
	// URL is a static http(s) URL whose body is the tracked branch's head
	// commit id. When set here (fleetd --poll-url) it wins over the fleet's
	// spec.poll.url; when empty, the applied revision's is used (UseHeadURL).
	URL string
	// MaxStale bounds how long a head read from URL goes unconfirmed by a
	// git poll. Zero: what UseHeadURL says (10 × the poll interval).
	MaxStale time.Duration
	// Timeout bounds one request for URL. Default DefaultHeadURLTimeout.
	Timeout time.Duration
	// Now is the clock (tests inject one). Default time.Now.
	Now func() time.Time
	// Traffic, when set, is told the bytes of each request for URL
	// (OpHeadURL); the git polls are counted by the wrapped source.
	Traffic Traffic
}

// headSource is the git source a HeadURL confirms every head with.
type headSource interface {
	Head(ctx context.Context) (string, error)
	Tree(ctx context.Context, rev string) (fs.FS, error)
}

// HeadURL is a Source that learns of new revisions from a static head URL
// (a file a web server, CDN or object store serves) and asks Git only when
// that changes, fails, or has not been confirmed for MaxStale:
//
//   - The URL is polled with If-None-Match / If-Modified-Since; while it
//     answers 304 (or the same id) and agrees with the head Git last
//     confirmed, Head returns that head and sends nothing else.
//   - A new id, a failure of the URL, an id Git does not confirm, or a
//     confirmation older than MaxStale leads to a git poll, whose answer
//     is what Head returns.
//
// The URL is a hint only: Head never returns an id Git has not given, and
// Tree fetches from Git, so a stale or lying URL can delay an update by at
// most MaxStale and never change what runs. With no URL, Head is the git
// poll. It is safe for concurrent use.
type HeadURL struct {
	git    headSource
	cfg    HeadURLConfig
	log    *slog.Logger
	client *http.Client

	mu       sync.Mutex
	url      string
	maxStale time.Duration
	etag     string // validators of the last 200
	modified string
	hint     string    // the id the URL gave last
	head     string    // the head Git confirmed last
	checked  time.Time // when
	via, why string    // the path the status report shows, and why not the URL
	// failingSince is when the URL's current run of transient failures
	// began (zero when its last answer was not one).
	failingSince time.Time
}

// NewHeadURL wraps git. cfg.URL, if set, is checked like fleet.yaml's
// spec.poll.url.
func NewHeadURL(git headSource, cfg HeadURLConfig, log *slog.Logger) (*HeadURL, error) {
	if cfg.URL != "" {
		if err := spec.CheckHeadURL(cfg.URL); err != nil {
			return nil, fmt.Errorf("head url: %w", err)
		}
	}
	if cfg.MaxStale < 0 {
		return nil, fmt.Errorf("head url: max stale %s is negative", cfg.MaxStale)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultHeadURLTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &HeadURL{
		git: git, cfg: cfg, log: log,
		client: &http.Client{Transport: newMeter(cfg.Traffic).httpTransport()},
		url:    cfg.URL, maxStale: cfg.MaxStale, via: status.PollViaGit,
	}, nil
}

// UseHeadURL takes the applied revision's poll settings (fleet.yaml
// spec.poll): its URL, unless the agent's own config set one, and how
// long a head may go unconfirmed (its maxStale, or 10 × the poll
// interval), unless the config set that.
func (h *HeadURL) UseHeadURL(rawURL string, maxStale time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cfg.MaxStale == 0 && maxStale > 0 {
		h.maxStale = maxStale
	}
	if h.cfg.URL != "" || rawURL == h.url {
		return
	}
	if rawURL != "" && spec.CheckHeadURL(rawURL) != nil {
		rawURL = "" // the spec's validation refuses it; never reached
	}
	h.url, h.etag, h.modified, h.hint = rawURL, "", "", ""
	h.log.Info("head url", logURL, redactHeadURL(rawURL))
}

// Head returns the branch head, as a git poll gave it: either just now, or
// earlier when the head URL has not changed since and agrees with it.
func (h *HeadURL) Head(ctx context.Context) (string, error) {
	h.mu.Lock()
	u := h.url
	h.mu.Unlock()
	if u == "" {
		head, err := h.git.Head(ctx)
		if err == nil {
			h.setPath(status.PollViaGit, "")
		}
		return head, err
	}
	hint, hintErr := h.readHint(ctx, u)
	now := h.cfg.Now()
	h.mu.Lock()
	cached, maxStale := h.head, h.maxStale
	fresh := maxStale > 0 && now.Sub(h.checked) < maxStale
	h.mu.Unlock()
	if hintErr == nil && cached != "" && hint == cached && fresh {
		h.setPath(status.PollViaHeadURL, "")
		h.failing(time.Time{})
		return cached, nil
	}
	head, err := h.git.Head(ctx)
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	h.head, h.checked = head, now
	h.mu.Unlock()
	if hintErr == nil || !hintTransient(hintErr) {
		h.failing(time.Time{})
	}
	switch {
	case hintErr != nil && hintTransient(hintErr):
		// A timeout or a refused connection says little about the URL:
		// a server that is busy or restarting. The report says so once
		// the failures have lasted maxStale; before that, a fleet whose
		// web server is slow for a while would push a status commit for
		// each node as each timed out and again as it recovered, which
		// loads the same servers more.
		h.log.Debug("head url failed, polled git", logErr, hintErr)
		if since := h.failing(now); maxStale <= 0 || now.Sub(since) >= maxStale {
			h.setPath(status.PollViaGit, "head URL unavailable: "+hintFailure(hintErr))
		}
	case hintErr != nil:
		h.log.Debug("head url failed, polled git", logErr, hintErr)
		h.setPath(status.PollViaGit, "head URL unavailable: "+hintFailure(hintErr))
	case hint != head:
		h.log.Debug("head url disagrees with git", "hint", short(hint), logRev, short(head))
		h.setPath(status.PollViaGit, "head URL disagrees with the branch")
	default:
		h.setPath(status.PollViaHeadURL, "")
	}
	return head, nil
}

// Tree fetches rev from Git.
func (h *HeadURL) Tree(ctx context.Context, rev string) (fs.FS, error) { return h.git.Tree(ctx, rev) }

// PollStatus says, for the status report, which path the last poll took
// and the git protocol of the git polls.
func (h *HeadURL) PollStatus() *status.Poll {
	h.mu.Lock()
	p := &status.Poll{Via: h.via, Message: h.why}
	h.mu.Unlock()
	if g, ok := h.git.(interface{ Protocol() string }); ok {
		p.Protocol = g.Protocol()
	}
	return p
}

func (h *HeadURL) setPath(via, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if via != h.via || why != h.why {
		h.log.Info("polls via "+via, "reason", why)
	}
	h.via, h.why = via, why
}

// failing notes a transient failure of the URL at now, or with now zero
// an answer that was none, and returns when the current run of transient
// failures began.
func (h *HeadURL) failing(now time.Time) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case now.IsZero():
		h.failingSince = time.Time{}
	case h.failingSince.IsZero():
		h.failingSince = now
	}
	return h.failingSince
}

// hintTransient reports whether the URL's failure err may pass by itself: a
// timeout, a connection that failed, a 5xx or 429 answer. A 404, a body
// that is no commit id, are the URL's own and reported at once.
func hintTransient(err error) bool {
	var se *hintStatusError
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusTooManyRequests
	}
	return !errors.Is(err, errNotCommit)
}

// errNotCommit: the URL's body is not a commit id.
var errNotCommit = errors.New("not a commit id")

// readHint asks the URL for the head id with the validators of its last
// answer; a 304 means the id it gave then.
func (h *HeadURL) readHint(ctx context.Context, u string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	etag, modified, hint := h.etag, h.modified, h.hint
	h.mu.Unlock()
	if hint != "" {
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		if modified != "" {
			req.Header.Set("If-Modified-Since", modified)
		}
	}
	res, err := h.client.Do(req)
	if err != nil {
		return "", err
	}
	defer drain(res.Body)
	switch {
	case res.StatusCode == http.StatusNotModified && hint != "":
		return hint, nil
	case res.StatusCode != http.StatusOK:
		return "", &hintStatusError{res.StatusCode}
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, 256))
	if err != nil {
		return "", err
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if id = strings.TrimSpace(id); len(id) != 40 || !plumbing.IsHash(id) {
		return "", errNotCommit
	}
	h.mu.Lock()
	if h.url == u {
		h.hint, h.etag, h.modified = id, res.Header.Get("ETag"), res.Header.Get("Last-Modified")
	}
	h.mu.Unlock()
	return id, nil
}

type hintStatusError struct{ code int }

func (e *hintStatusError) Error() string { return fmt.Sprintf("HTTP %d", e.code) }

// hintFailure names a failure of the URL for the status report in a few
// stable words: never the URL itself (it may carry a token).
func hintFailure(err error) string {
	var se *hintStatusError
	switch {
	case errors.As(err, &se):
		return se.Error()
	case errors.Is(err, errNotCommit):
		return "its body is not a commit id"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	return "unreachable"
}

// redactHeadURL drops the user info and the query (a presigned URL's
// signature) from a head URL, for logs.
func redactHeadURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redactRaw(raw)
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
