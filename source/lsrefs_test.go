package source_test

import (
	"context"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
)

// extraRefs is how many status refs the busy repository holds: at
// protocol v0's ~74 bytes a ref, about 740 KB per poll.
const extraRefs = 10000

// grewWithRefs reports whether b, the bytes of an exchange with a
// repository holding extraRefs other refs, grew with them compared with
// q, the same exchange without them. A v0 advertisement would add about
// 74 B a ref (740 KB); growth is judged per ref, since two sessions
// differ by hundreds of bytes anyway (ssh's key exchange and padding:
// CI once saw 4705 B against 5233 B). Half a byte a ref is growth.
func grewWithRefs(q, b int64) bool { return b > q+extraRefs/2 }

// pollTarget is one way of reaching a repository, and how to count the
// bytes a poll costs there.
type pollTarget struct {
	cfg   source.Config
	bytes func() int64
}

// servers serves r over git daemon, http-backend and sshd, each behind a
// byte-counting proxy, and over file://, counted by the git-upload-pack
// wrapper countUploadPack puts on PATH.
func servers(t *testing.T, r *gittest.Repo, httpOpts gittest.HTTPOptions, sshConfig ...string) map[string]pollTarget {
	t.Helper()
	out := map[string]pollTarget{}
	viaProxy := func(name, raw string, auth func(url string) source.Auth) {
		url, p := gittest.ProxyURL(t, raw)
		out[name] = pollTarget{cfg: source.Config{Location: loc(t, url+"/"+r.Name, auth(url+"/"+r.Name))},
			bytes: func() int64 { n, _ := p.Take(); return n }}
	}
	none := func(string) source.Auth { return source.Auth{} }
	viaProxy("daemon", gittest.ServeDaemon(t, r.BareParent), none)
	viaProxy("http", gittest.ServeHTTPWith(t, r.BareParent, httpOpts), none)
	sshURL, key, knownHosts := gittest.ServeSSH(t, r.BareParent, sshConfig...)
	viaProxy("ssh", sshURL, func(url string) source.Auth {
		return source.Auth{SSHKeyFile: key, KnownHostsFile: knownHostsFor(t, knownHosts, url)}
	})
	count := filepath.Join(r.BareParent, "upload-pack.bytes")
	out["file"] = pollTarget{cfg: source.Config{Location: loc(t, gittest.FileURL(r.BareDir))}, bytes: func() int64 {
		fi, err := os.Stat(count)
		if err != nil {
			return 0
		}
		os.Remove(count)
		return fi.Size()
	}}
	return out
}

// knownHostsFor rewrites a known_hosts file of 127.0.0.1 for the port of
// url (the proxy's): the same server key.
func knownHostsFor(t *testing.T, file, url string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := strings.Cut(string(b), " ")
	out := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(out, []byte("[127.0.0.1]:"+u.Port()+" "+key), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// countUploadPack puts a git-upload-pack first on PATH that runs git's own
// and copies both directions to upload-pack.bytes beside the repository.
func countUploadPack(t *testing.T) {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(strings.TrimSpace(string(out)), "git-upload-pack")
	dir := t.TempDir()
	script := "#!/bin/sh\nf=\"$(dirname \"$1\")/upload-pack.bytes\"\ntee -a \"$f\" | '" + real + "' \"$@\" | tee -a \"$f\"\n"
	if err := os.WriteFile(filepath.Join(dir, "git-upload-pack"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// busyAndQuiet returns two repositories with the same main branch, one
// with extraRefs status branches besides.
func busyAndQuiet(t *testing.T) (quiet, busy *gittest.Repo) {
	t.Helper()
	quiet, _ = fleetRepo(t)
	busy, _ = fleetRepo(t)
	busy.AddRefs("status/node-", extraRefs)
	if quiet.RemoteRef("refs/heads/main") != busy.RemoteRef("refs/heads/main") {
		t.Fatal("fixtures differ")
	}
	return quiet, busy
}

// pollBytes polls twice (a running agent polls again and again) and
// returns the bytes of the second poll and the protocol it used.
func pollBytes(t *testing.T, target pollTarget, want string) (int64, string) {
	t.Helper()
	g := newGit(t, target.cfg)
	ctx := context.Background()
	for range 2 {
		target.bytes()
		head, err := g.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head != want {
			t.Fatalf("Head = %s, want %s", head, want)
		}
	}
	return target.bytes(), g.Protocol()
}

func TestPollCostDoesNotGrowWithRefs(t *testing.T) {
	countUploadPack(t)
	quiet, busy := busyAndQuiet(t)
	want := quiet.RemoteRef("refs/heads/main")
	accept := "AcceptEnv GIT_PROTOCOL"
	quietSrv := servers(t, quiet, gittest.HTTPOptions{}, accept)
	busySrv := servers(t, busy, gittest.HTTPOptions{}, accept)
	for _, name := range []string{"file", "daemon", "http", "ssh"} {
		t.Run(name, func(t *testing.T) {
			q, qProto := pollBytes(t, quietSrv[name], want)
			b, bProto := pollBytes(t, busySrv[name], want)
			t.Logf("poll: %d B with no other ref, %d B with %d other refs", q, b, extraRefs)
			if qProto != source.ProtocolV2 || bProto != source.ProtocolV2 {
				t.Errorf("protocol = %q, %q, want v2", qProto, bProto)
			}
			if q == 0 {
				t.Fatal("no bytes counted")
			}
			if grewWithRefs(q, b) {
				t.Errorf("a poll of the repository with %d other refs costs %d B, one without %d B: it grows with the refs", extraRefs, b, q)
			}
		})
	}
}

func TestPollFallsBackToV0(t *testing.T) {
	quiet, busy := busyAndQuiet(t)
	want := quiet.RemoteRef("refs/heads/main")
	// http-backend that never sees the Git-Protocol header, and sshd
	// without AcceptEnv GIT_PROTOCOL: servers that speak v0 only.
	v0 := gittest.HTTPOptions{ProtocolV0: true}
	quietSrv, busySrv := servers(t, quiet, v0), servers(t, busy, v0)
	for _, name := range []string{"http", "ssh"} {
		t.Run(name, func(t *testing.T) {
			q, qProto := pollBytes(t, quietSrv[name], want)
			b, bProto := pollBytes(t, busySrv[name], want)
			t.Logf("poll: %d B with no other ref, %d B with %d other refs", q, b, extraRefs)
			if qProto != source.ProtocolV0 || bProto != source.ProtocolV0 {
				t.Errorf("protocol = %q, %q, want v0", qProto, bProto)
			}
			// The whole advertisement came: at least the ref names.
			if b < q+int64(len("refs/heads/status/node-00000"))*extraRefs {
				t.Errorf("v0 poll with %d other refs costs %d B, without %d B: the advertisement is missing", extraRefs, b, q)
			}
		})
	}
}
