package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// gate is a TCP proxy in front of the git server that can refuse
// connections (the server is unreachable) and accept them again.
type gate struct {
	t       *testing.T
	backend string
	addr    string
	mu      sync.Mutex
	ln      net.Listener
	conns   []net.Conn
}

// newGate returns a gate for the http URL u and the same URL through it.
func newGate(t *testing.T, u string) (*gate, string) {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{t: t, backend: pu.Host}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = ln.Addr().String()
	g.serve(ln)
	t.Cleanup(g.close)
	pu.Host = g.addr
	return g, pu.String()
}

func (g *gate) serve(ln net.Listener) {
	g.mu.Lock()
	g.ln = ln
	g.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", g.backend)
			if err != nil {
				c.Close()
				continue
			}
			g.mu.Lock()
			g.conns = append(g.conns, c, b)
			g.mu.Unlock()
			go func() { io.Copy(b, c); b.Close() }()
			go func() { io.Copy(c, b); c.Close() }()
		}
	}()
}

// close refuses connections from now on.
func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

// open accepts connections again, on the same address.
func (g *gate) open() {
	ln, err := net.Listen("tcp", g.addr)
	if err != nil {
		g.t.Fatal(err)
	}
	g.serve(ln)
}

// cosignKey is an image signing key and its PEM public half.
type cosignKey struct {
	key *ecdsa.PrivateKey
	pub []byte
}

func newCosignKey(t *testing.T) cosignKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := image.MarshalPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return cosignKey{key: k, pub: pub}
}

func (k cosignKey) sign(t *testing.T, ref, reg string) {
	t.Helper()
	opts := image.Options{Registries: []spec.Registry{{Host: reg, PlainHTTP: true}}}
	if err := image.SignLegacy(context.Background(), ref, k.key, opts); err != nil {
		t.Fatal(err)
	}
}

// backdatedCommit commits the work tree signed with key, author and
// committer dated date, and pushes it.
func backdatedCommit(t *testing.T, repo *gittest.Repo, key, date, msg string) string {
	t.Helper()
	gittest.Git(t, repo.Dir, "add", "-A")
	cmd := gittest.Command(repo.Dir, "-c", "gpg.format=ssh", "-c", "user.signingkey="+key, "commit", "-q", "--allow-empty", "-S", "-m", msg)
	cmd.Env = append(cmd.Env, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git commit: %v\n%s", err, out)
	}
	gittest.Git(t, repo.Dir, "push", "-q", "--force", "origin", "main")
	return repo.Head()
}

// statusIn reads node's status report from a bare repository.
func statusIn(t *testing.T, bare, node string) *status.NodeStatus {
	t.Helper()
	out, err := gittest.Command(bare, "show", "refs/heads/status/"+node+":status/"+node+".yaml").Output()
	if err != nil {
		t.Fatalf("read the status of %s: %v", node, err)
	}
	st, err := status.Unmarshal(out)
	if err != nil {
		t.Fatalf("parse the status of %s: %v\n%s", node, err, out)
	}
	return st
}

// writeAll writes files (path -> content) below dir.
func writeAll(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// pubLine is the "type base64" part of an SSH public key file.
func pubLine(t *testing.T, keyFile string) string {
	t.Helper()
	b, err := os.ReadFile(keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	return f[0] + " " + f[1]
}
