package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// errNoV2Fetch: the server does not speak protocol v2 or its fetch
// cannot deepen; the caller uses go-git's protocol v0 exchange.
var errNoV2Fetch = errors.New("no protocol v2 fetch")

// fetchV2 asks the server for wants at depth 1 with protocol v2's fetch
// command (no ref advertisement: the refs came from ls-refs), telling it
// the shallow commits the store has, and hands the pack to store. It
// returns the shallow commits the answer names. A server without v2 (or
// whose fetch cannot deepen) yields errNoV2Fetch.
func (l *refLister) fetchV2(ctx context.Context, wants, shallows []plumbing.Hash, store func(pack io.Reader) error) ([]plumbing.Hash, error) {
	return l.fetchV2Depth(ctx, 1, wants, nil, shallows, store)
}

// fetchV2Depth is fetchV2 with depth commits of history (0: all) and
// haves, commits the store holds with what they reach (the server leaves
// those objects out).
func (l *refLister) fetchV2Depth(ctx context.Context, depth int, wants, haves, shallows []plumbing.Hash, store func(pack io.Reader) error) ([]plumbing.Hash, error) {
	if l.loc.inProcess {
		return nil, errNoV2Fetch
	}
	req := fetchRequest(depth, wants, haves, shallows)
	if l.ep.Protocol == "http" || l.ep.Protocol == "https" {
		if l.Protocol() != ProtocolV2 {
			// Not known to speak v2 (the listing before got a v0
			// advertisement): ask for its capabilities first.
			caps, adv, err := l.getCapabilities(ctx)
			if err != nil {
				return nil, err
			}
			if adv != nil || !canDeepen(caps) {
				return nil, errNoV2Fetch
			}
		}
		hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base()+"/"+transport.UploadPackServiceName, bytes.NewReader(req))
		if err != nil {
			return nil, err
		}
		l.prepare(hreq)
		hreq.Header.Set("Content-Type", uploadPackRequest)
		hreq.Header.Set("Accept", uploadPackResult)
		readOnly(hreq)
		res, err := l.client.Do(hreq)
		if err != nil {
			return nil, err
		}
		defer drain(res.Body)
		if err := checkResponse(res, uploadPackResult); err != nil {
			return nil, err
		}
		return readFetch(res.Body, store)
	}
	st, err := l.openStream(ctx)
	if err != nil {
		return nil, err
	}
	out, err := func() ([]plumbing.Hash, error) {
		caps, adv, err := readGreeting(st.r)
		if err != nil {
			return nil, err
		}
		if adv != nil || !canDeepen(caps) {
			st.w.Write(pktline.FlushPkt)
			return nil, errNoV2Fetch
		}
		if _, err := st.w.Write(append(req, pktline.FlushPkt...)); err != nil {
			return nil, err
		}
		return readFetch(st.r, store)
	}()
	if cerr := st.close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, errNoV2Fetch) {
		return nil, st.explain(ctx, err)
	}
	return out, err
}

// canDeepen: the v2 capabilities offer fetch with shallow support.
func canDeepen(caps []string) bool {
	for _, c := range caps {
		if v, ok := strings.CutPrefix(c, "fetch="); ok && strings.Contains(" "+v+" ", " shallow ") {
			return true
		}
	}
	return false
}

// fetchRequest is the v2 fetch command for wants at depth commits (0:
// all), up to its flush-pkt. "done" skips negotiation: the server sends
// the pack.
func fetchRequest(depth int, wants, haves, shallows []plumbing.Hash) []byte {
	var buf bytes.Buffer
	e := pktline.NewEncoder(&buf)
	e.EncodeString("command=fetch\n")
	buf.WriteString("0001")
	e.EncodeString("ofs-delta\n")
	e.EncodeString("no-progress\n")
	if len(haves) > 0 {
		// With haves (the node fetch's picker), a thin pack: its deltas
		// may name objects the haves reach. It is also what makes a
		// shallow fetch incremental: without it, git's pack-objects
		// walks the wanted commit, which the new shallow boundary leaves
		// without parents, and sends its whole tree (every node file)
		// though the have holds nearly all of it.
		e.EncodeString("thin-pack\n")
	}
	if depth > 0 {
		e.EncodeString("deepen " + strconv.Itoa(depth) + "\n")
	}
	for _, h := range shallows {
		e.EncodeString("shallow " + h.String() + "\n")
	}
	for _, h := range wants {
		e.EncodeString("want " + h.String() + "\n")
	}
	for _, h := range haves {
		e.EncodeString("have " + h.String() + "\n")
	}
	e.EncodeString("done\n")
	e.Flush()
	return buf.Bytes()
}

// readFetch reads a v2 fetch answer: its shallow-info section, then the
// packfile section, demultiplexed and handed to store.
func readFetch(r io.Reader, store func(io.Reader) error) ([]plumbing.Hash, error) {
	var shallows []plumbing.Hash
	section := ""
	for {
		line, kind, err := readPkt(r)
		if err != nil {
			return nil, err
		}
		switch {
		case kind == pktFlush:
			return nil, errors.New("protocol error: fetch answer without a pack")
		case kind == pktDelim:
			section = ""
			continue
		case section == "":
			section = strings.TrimSuffix(string(line), "\n")
			if section == "packfile" {
				if err := store(sideband.NewDemuxer(sideband.Sideband64k, r)); err != nil {
					return nil, err
				}
				return shallows, nil
			}
		case section == "shallow-info":
			if h, ok := strings.CutPrefix(strings.TrimSuffix(string(line), "\n"), "shallow "); ok && plumbing.IsHash(h) {
				shallows = append(shallows, plumbing.NewHash(h))
			}
		}
	}
}

// pkt-line kinds besides data.
const (
	pktData = iota
	pktFlush
	pktDelim
	pktEnd
)

// readPkt reads one pkt-line, telling the special ones (flush, delim,
// response end) apart; an "ERR" line is returned as its error.
func readPkt(r io.Reader) ([]byte, int, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, 0, unexpected(err)
	}
	l, err := strconv.ParseUint(string(n[:]), 16, 16)
	if err != nil {
		return nil, 0, fmt.Errorf("protocol error: pkt-line length %q", n[:])
	}
	switch {
	case l == 0:
		return nil, pktFlush, nil
	case l == 1:
		return nil, pktDelim, nil
	case l == 2:
		return nil, pktEnd, nil
	case l < 4:
		return nil, 0, fmt.Errorf("protocol error: pkt-line length %d", l)
	}
	line := make([]byte, l-4)
	if _, err := io.ReadFull(r, line); err != nil {
		return nil, 0, unexpected(err)
	}
	if msg, ok := bytes.CutPrefix(line, []byte("ERR ")); ok {
		return nil, 0, &pktline.ErrorLine{Text: strings.TrimSpace(string(msg))}
	}
	return line, pktData, nil
}
