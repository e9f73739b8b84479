package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// protocolEnv asks an upload-pack for protocol v2. Over ssh the server
// must accept it (OpenSSH: AcceptEnv GIT_PROTOCOL); without it the server
// speaks v0.
const protocolEnv = "GIT_PROTOCOL"

// stream is one upload-pack session: the server's output, its input, how
// to end it (close) or abort it (kill), and what the server said on stderr.
type stream struct {
	r      io.Reader
	w      io.Writer
	close  func() error
	kill   func()
	stderr *limitedBuffer
}

// openStream starts upload-pack for l's git://, ssh:// or file:// URL,
// asking for protocol v2. The stream is killed when ctx ends first.
func (l *refLister) openStream(ctx context.Context) (*stream, error) {
	return l.openService(ctx, transport.UploadPackServiceName)
}

// openService is openStream for service, git-upload-pack or
// git-receive-pack (which has no protocol v2: it is not asked for).
func (l *refLister) openService(ctx context.Context, service string) (*stream, error) {
	return l.openServiceAt(ctx, service, service == transport.UploadPackServiceName)
}

// openServiceAt starts service, asking for protocol v2 if v2 (a server
// without it speaks v0 anyway, which its greeting shows).
func (l *refLister) openServiceAt(ctx context.Context, service string, v2 bool) (*stream, error) {
	var st *stream
	var err error
	switch l.ep.Protocol {
	case "git":
		st, err = l.openDaemon(ctx, service, v2)
	case "ssh":
		st, err = l.openSSH(ctx, service, v2)
	case "file":
		st, err = l.openFile(ctx, service, v2)
	default:
		return nil, fmt.Errorf("unsupported url scheme %q", l.ep.Protocol)
	}
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, st.kill)
	close := st.close
	st.close = func() error {
		stop()
		return close()
	}
	return st, nil
}

// explain turns a failed exchange into its error: the context's when it
// ended, else err with the server's first stderr line ("fatal: '/x' does
// not appear to be a git repository"). A missing repository wraps
// transport.ErrRepositoryNotFound, as in go-git's transports.
func (st *stream) explain(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	msg := err.Error()
	if st.stderr != nil {
		if line, _, _ := strings.Cut(strings.TrimSpace(st.stderr.String()), "\n"); line != "" {
			err = fmt.Errorf("%w: %s", err, line)
			msg = line
		}
	}
	for _, s := range repoNotFound {
		if strings.Contains(msg, s) {
			return fmt.Errorf("%w: %w", transport.ErrRepositoryNotFound, err)
		}
	}
	return err
}

// repoNotFound are what servers say of a repository that is not there
// (or not for this user): the list go-git's transports check.
var repoNotFound = []string{
	"Repository not found.", "repository does not exist.", "does not appear to be a git repository",
	"no such repository", "access denied", "Repository does not exist or you do not have access",
	"The project you were looking for could not be found",
}

// openDaemon connects to git daemon; the request's extra parameter
// "version=2" asks for protocol v2.
func (l *refLister) openDaemon(ctx context.Context, service string, v2 bool) (*stream, error) {
	port := l.ep.Port
	if port <= 0 {
		port = 9418
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", net.JoinHostPort(l.ep.Host, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	conn := l.meter.conn(raw, opOf(ctx))
	host := l.ep.Host
	if port != 9418 {
		host = net.JoinHostPort(l.ep.Host, strconv.Itoa(port))
	}
	req := packp.GitProtoRequest{RequestCommand: service, Pathname: l.ep.Path, Host: host}
	if v2 {
		req.ExtraParams = []string{"version=2"}
	}
	if err := req.Encode(conn); err != nil {
		conn.Close()
		return nil, err
	}
	return &stream{r: conn, w: conn, close: conn.Close, kill: func() { conn.Close() }}, nil
}

// openFile runs service on the local repository, as go-git's file
// transport does.
func (l *refLister) openFile(ctx context.Context, service string, v2 bool) (*stream, error) {
	name, args := service, []string{l.ep.Path}
	if _, err := exec.LookPath(name); err != nil {
		name, args = "git", []string{strings.TrimPrefix(service, "git-"), l.ep.Path}
	}
	cmd := exec.Command(name, args...)
	cmd.Env = os.Environ()
	if v2 {
		cmd.Env = append(cmd.Env, protocolEnv+"=version=2")
	}
	stderr := &limitedBuffer{max: 4096}
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	op := opOf(ctx)
	return &stream{r: l.meter.reader(out, op), w: l.meter.writer(in, op), stderr: stderr,
		close: func() error {
			in.Close()
			return cmd.Wait()
		},
		kill: func() { cmd.Process.Kill() },
	}, nil
}

// openSSH runs git-upload-pack on the server with GIT_PROTOCOL set, the
// way go-git's ssh transport connects (ssh_config's Hostname and Port,
// the ssh agent when no key is configured, known_hosts).
func (l *refLister) openSSH(ctx context.Context, service string, v2 bool) (*stream, error) {
	auth, ok := l.auth.(gitssh.AuthMethod)
	if l.auth == nil {
		a, err := gitssh.DefaultAuthBuilder(l.ep.User)
		if err != nil {
			return nil, err
		}
		auth, ok = a, true
	}
	if !ok {
		return nil, transport.ErrInvalidAuthMethod
	}
	cfg, err := auth.ClientConfig()
	if err != nil {
		return nil, err
	}
	addr := sshAddr(l.ep)
	if cfg.HostKeyCallback == nil {
		db, err := gitssh.NewKnownHostsDb()
		if err != nil {
			return nil, err
		}
		cfg.HostKeyCallback = db.HostKeyCallback()
		cfg.HostKeyAlgorithms = db.HostKeyAlgorithms(addr)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = l.timeout
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultPollTimeout
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	raw, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// The ssh connection's bytes are counted whole: its handshake and
	// framing are what the network carries.
	conn := l.meter.conn(raw, opOf(ctx))
	stopSetup := context.AfterFunc(dctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if !stopSetup() {
		if err == nil {
			c.Close()
		}
		return nil, errors.Join(dctx.Err(), err)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	client := ssh.NewClient(c, chans, reqs)
	sess, err := client.NewSession()
	if err != nil {
		client.Close()
		return nil, err
	}
	// A server that does not accept the variable refuses it: it then
	// speaks v0, which the greeting shows.
	if v2 {
		_ = sess.Setenv(protocolEnv, "version=2")
	}
	stderr := &limitedBuffer{max: 4096}
	sess.Stderr = stderr
	in, err := sess.StdinPipe()
	if err != nil {
		client.Close()
		return nil, err
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		client.Close()
		return nil, err
	}
	if err := sess.Start(serviceCommand(service, l.ep.Path)); err != nil {
		client.Close()
		return nil, err
	}
	return &stream{r: out, w: in, stderr: stderr,
		close: func() error {
			in.Close()
			err := sess.Wait()
			client.Close()
			return err
		},
		kill: func() { client.Close() },
	}, nil
}

// sshAddr is host:port for ep, after ssh_config's Hostname and Port.
func sshAddr(ep *transport.Endpoint) string {
	host, port := ep.Host, ep.Port
	if cfg := gitssh.DefaultSSHConfig; cfg != nil {
		if h := cfg.Get(ep.Host, "Hostname"); h != "" {
			host = h
			if p, err := strconv.Atoi(cfg.Get(ep.Host, "Port")); err == nil {
				port = p
			}
		}
	}
	if port <= 0 {
		port = gitssh.DefaultPort
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// serviceCommand is the remote command line, the path single-quoted for
// the server's shell as git and go-git quote it.
func serviceCommand(service, path string) string {
	var b strings.Builder
	b.WriteString(service + " '")
	for _, c := range path {
		if c == '\'' || c == '!' {
			b.WriteString(`'\` + string(c) + `'`)
			continue
		}
		b.WriteRune(c)
	}
	b.WriteString("'")
	return b.String()
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
