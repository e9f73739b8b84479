package source

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"
)

// Op names what a git exchange was for, as Traffic is told it.
type Op string

// Ops: few and fixed, so that a metric labelled with them stays small.
const (
	OpPoll    Op = "poll"    // Git.Head: ls-refs, or a v0 ref advertisement
	OpFetch   Op = "fetch"   // Git.Tree, Git.Deepen and the whole-tree fetch for rollout waves
	OpPush    Op = "push"    // StatusWriter.Report: reading the node's ref and pushing the report
	OpReports Op = "reports" // StatusWriter.Reports: reading other nodes' reports
	OpHeadURL Op = "headurl" // HeadURL's request for its static head URL
	OpOther   Op = "other"   // anything not started by one of the above
)

// Traffic is told the bytes each exchange sent to and received from a
// server, as they pass: the payload of the TCP connections (TLS and ssh
// framing included, since that is what the network carries) or, for a
// file:// repository, of the pipes to git upload-pack. It is called from
// several goroutines at once and must be quick.
type Traffic func(op Op, sent, received int64)

// meter counts the bytes of the connections and pipes it wraps; a nil
// meter or one without a Traffic counts nothing.
type meter struct {
	count Traffic
}

func newMeter(t Traffic) *meter { return &meter{count: t} }

func (m *meter) add(op Op, sent, received int64) {
	if m != nil && m.count != nil && (sent != 0 || received != 0) {
		m.count(op, sent, received)
	}
}

type opKey struct{}

// withOp marks ctx's exchanges as op's.
func withOp(ctx context.Context, op Op) context.Context {
	return context.WithValue(ctx, opKey{}, op)
}

// opOf is the op ctx was marked with, OpOther if none.
func opOf(ctx context.Context) Op {
	if op, ok := ctx.Value(opKey{}).(Op); ok {
		return op
	}
	return OpOther
}

// conn counts c's bytes as op's until setOp says otherwise (a kept-alive
// HTTP connection serves several ops in turn).
func (m *meter) conn(c net.Conn, op Op) *countedConn {
	cc := &countedConn{Conn: c, m: m}
	cc.setOp(op)
	return cc
}

type countedConn struct {
	net.Conn
	m  *meter
	op atomic.Pointer[Op]
}

func (c *countedConn) setOp(op Op) { c.op.Store(&op) }

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.m.add(*c.op.Load(), 0, int64(n))
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.m.add(*c.op.Load(), int64(n), 0)
	return n, err
}

// countedOf finds the countedConn under c (a TLS connection wraps it).
func countedOf(c net.Conn) *countedConn {
	for c != nil {
		switch v := c.(type) {
		case *countedConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// idleConnTimeout is how long a kept-alive connection to the git server
// may idle before the agent closes it: longer than the default poll
// interval (30 s), so that polls reuse their connection, and shorter than
// the idle timeouts of the servers in front of git (nginx's 75 s,
// GitLab's 65 s). A server that closes an idle connection races the
// request the agent may be sending on it that moment; the request then
// fails with no answer (a status push is sent again, source.MsgPushResent).
// With the agent closing first there is no such race. Go's default is 90 s.
const idleConnTimeout = 45 * time.Second

// httpTransport is http.DefaultTransport's settings, with idle connections
// closed after idleConnTimeout and every connection counted: a request's
// bytes go to the op of its context (each request tells the connection it
// got, so a connection kept alive across ops is counted right; HTTP/2
// streams sharing one connection at the same moment are counted to the op
// that got it last).
func (m *meter) httpTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.IdleConnTimeout = idleConnTimeout
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return m.conn(c, opOf(ctx)), nil
	}
	return opTransport{t}
}

// opTransport tells each request's connection the request's op.
type opTransport struct{ next http.RoundTripper }

func (t opTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	op := opOf(req.Context())
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if c := countedOf(info.Conn); c != nil {
			c.setOp(op)
		}
	}}
	return t.next.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
}

// reader and writer count a pipe's bytes as op's.
func (m *meter) reader(r io.Reader, op Op) io.Reader { return countedReader{r, m, op} }
func (m *meter) writer(w io.Writer, op Op) io.Writer { return countedWriter{w, m, op} }

type countedReader struct {
	r  io.Reader
	m  *meter
	op Op
}

func (r countedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.m.add(r.op, 0, int64(n))
	return n, err
}

type countedWriter struct {
	w  io.Writer
	m  *meter
	op Op
}

func (w countedWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.m.add(w.op, int64(n), 0)
	return n, err
}
