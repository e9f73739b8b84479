package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/spec"
)

// probeHost is where probes reach workloads: their declared ports are
// mapped to the host's (network isolated), or they share its network.
const probeHost = "127.0.0.1"

// bodyMax bounds how much of a failed HTTP answer goes into the message.
const bodyMax = 200

// Prober runs the real probes. One Prober serves every workload: it keeps
// one HTTP client, without keep-alives (a probe every few seconds would
// only hold idle connections and their goroutines).
type Prober struct {
	exec   Execer
	client *http.Client
	dialer net.Dialer
}

// NewProber returns a Prober; exec runs exec probes and may be nil when no
// workload has one.
func NewProber(exec Execer) *Prober {
	return &Prober{
		exec: exec,
		client: &http.Client{
			Transport: &http.Transport{
				Proxy:                  nil, // never through a proxy: it is the host itself
				DisableKeepAlives:      true,
				DisableCompression:     true,
				MaxResponseHeaderBytes: 64 << 10,
			},
			// A redirect is an answer (3xx counts as healthy), not a link
			// to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Probe probes d once by its health check; ctx carries the timeout. A
// workload without a health check passes.
func (p *Prober) Probe(ctx context.Context, d spec.Desired) error {
	h := d.Spec.Health
	switch {
	case h == nil:
		return nil
	case h.HTTP != nil:
		return p.http(ctx, h.HTTP)
	case h.TCP != nil:
		return p.tcp(ctx, h.TCP)
	case h.Exec != nil:
		return p.execProbe(ctx, d, h.Exec)
	}
	return errors.New("health check has no probe")
}

func (p *Prober) http(ctx context.Context, h *spec.HTTPProbe) error {
	path := h.Path
	if path == "" {
		path = "/"
	} else if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := "http://" + net.JoinHostPort(probeHost, strconv.Itoa(h.Port)) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("HTTP probe %s: %w", url, err)
	}
	req.Header.Set("User-Agent", "gitfleet-health")
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("HTTP probe: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, bodyMax))
	msg := fmt.Sprintf("HTTP probe %s: %s", url, resp.Status)
	if body := strings.TrimSpace(string(b)); body != "" {
		msg += ": " + firstLine(body)
	}
	return errors.New(msg)
}

func (p *Prober) tcp(ctx context.Context, h *spec.TCPProbe) error {
	addr := net.JoinHostPort(probeHost, strconv.Itoa(h.Port))
	conn, err := p.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("TCP probe: %w", err)
	}
	return conn.Close()
}

func (p *Prober) execProbe(ctx context.Context, d spec.Desired, h *spec.ExecProbe) error {
	if p.exec == nil {
		return errors.New("exec probe: no runtime to exec in")
	}
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	code, err := p.exec.ExecIn(ctx, d.Name, d.Hash, h.Command, timeout)
	if err != nil {
		return fmt.Errorf("exec probe: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("exec probe %q: exit code %d", h.Command, code)
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
