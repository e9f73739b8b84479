package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/gitfleet/gitfleet/status"
)

// Git protocol versions a listing used, as the status report names them.
const (
	ProtocolV2 = "v2"
	ProtocolV0 = "v0"
	// ProtocolLocal: no protocol, the refs of a LocalRepository read in
	// process.
	ProtocolLocal = "local"
)

// errUseGoGit: this client does not handle the exchange (an HTTP
// redirect); go-git's own transport does, with protocol v0.
var errUseGoGit = errors.New("left to go-git")

// refLister asks a remote for a few named refs. It speaks protocol v2 and
// sends `ls-refs` with one `ref-prefix` per name, so the answer holds those
// refs only, however many the repository has; a server without v2 answers
// with its v0 ref advertisement, which is read instead. Over HTTP it posts
// the `ls-refs` command directly (one request) until that fails once, and
// then starts with the capability advertisement (`GET info/refs`). It is
// safe for concurrent use.
type refLister struct {
	loc     Location
	ep      *transport.Endpoint
	auth    transport.AuthMethod
	timeout time.Duration // ssh connection setup
	meter   *meter
	client  *http.Client // this package's requests: redirects not followed
	gogit   *http.Client // go-git's: the same counted connections

	mu       sync.Mutex
	protocol string // of the last successful listing
	discover bool   // http: start with GET info/refs
}

func newRefLister(loc Location, auth transport.AuthMethod, timeout time.Duration, m *meter) (*refLister, error) {
	ep, err := transport.NewEndpoint(loc.url)
	if err != nil {
		return nil, err
	}
	l := &refLister{loc: loc, ep: ep, auth: auth, timeout: timeout, meter: m}
	if ep.Protocol == "http" || ep.Protocol == "https" {
		t := m.httpTransport()
		l.gogit = &http.Client{Transport: t}
		l.client = &http.Client{
			Transport: t,
			// Redirects are left to go-git, which decides where
			// credentials may follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return l, nil
}

// list returns the refs among names (full names such as refs/heads/main)
// that the remote has; a missing ref is absent from the map.
func (l *refLister) list(ctx context.Context, names ...string) (map[string]plumbing.Hash, error) {
	refs, err := l.listPrefixes(ctx, names...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]plumbing.Hash, len(names))
	for _, n := range names {
		if h, ok := refs[n]; ok {
			out[n] = h
		}
	}
	return out, nil
}

// listPrefixes returns the refs whose names start with one of prefixes
// (ls-refs' ref-prefix; from a v0 server, its advertisement filtered).
func (l *refLister) listPrefixes(ctx context.Context, prefixes ...string) (map[string]plumbing.Hash, error) {
	names := prefixes
	var refs map[string]plumbing.Hash
	var proto string
	var err error
	switch {
	case l.loc.inProcess:
		refs, err = localRefs(l.loc, names)
		proto = ProtocolLocal
	case l.ep.Protocol == "http" || l.ep.Protocol == "https":
		refs, proto, err = l.listHTTP(ctx, names)
	default:
		refs, proto, err = l.listStream(ctx, names)
	}
	if errors.Is(err, errUseGoGit) {
		refs, err = l.advertisedRefs(ctx)
		proto = ProtocolV0
	}
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.protocol = proto
	l.mu.Unlock()
	out := map[string]plumbing.Hash{}
	for ref, h := range refs {
		for _, p := range prefixes {
			if strings.HasPrefix(ref, p) {
				out[ref] = h
				break
			}
		}
	}
	return out, nil
}

// Protocol returns the protocol of the last successful listing ("" before
// the first).
func (l *refLister) Protocol() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.protocol
}

// listStream lists over a connection that carries upload-pack's own
// stream: git://, ssh:// and file://.
func (l *refLister) listStream(ctx context.Context, names []string) (map[string]plumbing.Hash, string, error) {
	st, err := l.openStream(ctx)
	if err != nil {
		return nil, "", err
	}
	refs, proto, err := exchange(st.r, st.w, names)
	if cerr := st.close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, "", st.explain(ctx, err)
	}
	return refs, proto, nil
}

// exchange reads the server's greeting and, from a v2 server, asks for
// names with ls-refs. It ends the session with a flush either way, which
// tells a v0 server that nothing is wanted.
func exchange(r io.Reader, w io.Writer, names []string) (map[string]plumbing.Hash, string, error) {
	caps, adv, err := readGreeting(r)
	if err != nil {
		return nil, "", err
	}
	if adv != nil {
		if _, err := w.Write(pktline.FlushPkt); err != nil {
			return nil, "", err
		}
		return adv, ProtocolV0, nil
	}
	if !hasCapability(caps, "ls-refs") {
		return nil, "", errors.New("protocol v2 server without ls-refs")
	}
	req := lsRefsRequest(names)
	req = append(req, pktline.FlushPkt...) // ends the session after the answer
	if _, err := w.Write(req); err != nil {
		return nil, "", err
	}
	refs, err := readLsRefs(r)
	if err != nil {
		return nil, "", err
	}
	return refs, ProtocolV2, nil
}

// readGreeting reads what an upload-pack asked for protocol v2 says first:
// the v2 capability list (adv nil), or, from a server without v2, its v0
// ref advertisement. A smart-HTTP "# service=" header is skipped.
func readGreeting(r io.Reader) (caps []string, adv map[string]plumbing.Hash, err error) {
	s := pktline.NewScanner(r)
	line, err := nextPkt(s)
	if err != nil {
		return nil, nil, err
	}
	if bytes.HasPrefix(line, []byte("# service=")) {
		if flush, err := nextPkt(s); err != nil {
			return nil, nil, err
		} else if len(flush) != 0 {
			return nil, nil, fmt.Errorf("protocol error: no flush after %q", bytes.TrimSpace(line))
		}
		if line, err = nextPkt(s); err != nil {
			return nil, nil, err
		}
	}
	switch string(bytes.TrimSuffix(line, []byte("\n"))) {
	case "version 2":
		for {
			c, err := nextPkt(s)
			if err != nil {
				return nil, nil, err
			}
			if len(c) == 0 {
				return caps, nil, nil
			}
			caps = append(caps, string(bytes.TrimSuffix(c, []byte("\n"))))
		}
	case "version 1":
		adv, err = decodeV0(nil, r)
	default:
		adv, err = decodeV0(line, r)
	}
	return nil, adv, err
}

// decodeV0 reads a v0 ref advertisement whose first pkt-line (if any) was
// already read.
func decodeV0(first []byte, r io.Reader) (map[string]plumbing.Hash, error) {
	if first != nil {
		var buf bytes.Buffer
		e := pktline.NewEncoder(&buf)
		if len(first) == 0 {
			e.Flush()
		} else {
			e.Encode(first)
		}
		r = io.MultiReader(&buf, r)
	}
	ar := packp.NewAdvRefs()
	if err := ar.Decode(r); err != nil {
		if errors.Is(err, packp.ErrEmptyAdvRefs) {
			return map[string]plumbing.Hash{}, nil
		}
		return nil, err
	}
	if ar.References == nil {
		return map[string]plumbing.Hash{}, nil
	}
	return ar.References, nil
}

// lsRefsRequest is the v2 ls-refs command asking for names, up to its
// flush-pkt.
func lsRefsRequest(names []string) []byte {
	var buf bytes.Buffer
	e := pktline.NewEncoder(&buf)
	e.EncodeString("command=ls-refs\n")
	buf.WriteString("0001") // delim-pkt: arguments follow
	for _, n := range names {
		e.EncodeString("ref-prefix " + n + "\n")
	}
	e.Flush()
	return buf.Bytes()
}

// readLsRefs reads an ls-refs answer: "<oid> <ref>[ <attribute>...]"
// lines up to a flush-pkt.
func readLsRefs(r io.Reader) (map[string]plumbing.Hash, error) {
	s := pktline.NewScanner(r)
	refs := map[string]plumbing.Hash{}
	for {
		line, err := nextPkt(s)
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			return refs, nil
		}
		fields := strings.Fields(string(line))
		if len(fields) < 2 || !plumbing.IsHash(fields[0]) {
			return nil, fmt.Errorf("protocol error: ls-refs line %q", bytes.TrimSpace(line))
		}
		refs[fields[1]] = plumbing.NewHash(fields[0])
	}
}

// nextPkt returns the next pkt-line's payload, empty for a flush-pkt. An
// "ERR" line from the server is returned as its error.
func nextPkt(s *pktline.Scanner) ([]byte, error) {
	if s.Scan() {
		return s.Bytes(), nil
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return nil, io.ErrUnexpectedEOF
}

func hasCapability(caps []string, name string) bool {
	for _, c := range caps {
		if c == name || strings.HasPrefix(c, name+"=") {
			return true
		}
	}
	return false
}

// Protocol is the git protocol of the last successful Head: ProtocolV2,
// ProtocolV0 for a server without v2, "" before the first.
func (g *Git) Protocol() string { return g.refs.Protocol() }

// PollStatus says, for the status report, that the node polls git and
// with which protocol.
func (g *Git) PollStatus() *status.Poll {
	return &status.Poll{Via: status.PollViaGit, Protocol: g.Protocol()}
}
