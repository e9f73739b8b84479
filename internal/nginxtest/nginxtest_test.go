package nginxtest

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
)

func TestStaticAndGit(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "main"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := gittest.NewRepo(t)
	r.Write("a.txt", "a\n")
	sha := r.Commit("first")
	s := StartT(t, Config{Root: root, GitRoot: r.BareParent})

	res, err := http.Get(s.URL + "/main")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	etag := res.Header.Get("ETag")
	if res.StatusCode != http.StatusOK || etag == "" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET /main = %s, ETag %q, Cache-Control %q", res.Status, etag, res.Header.Get("Cache-Control"))
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/main", nil)
	req.Header.Set("If-None-Match", etag)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET = %s, want 304", res.Status)
	}

	out, err := gittest.Command("", "ls-remote", s.URL+"/git/"+r.Name, "refs/heads/main").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), sha) {
		t.Errorf("ls-remote through nginx = %q, %v; want %s", out, err, sha)
	}
}

// TestFcgiwrapBacklog: with Backlog set, fcgiwrap serves git on a socket
// made here whose listen queue is that long (ss shows a listening
// socket's backlog as its Send-Q).
func TestFcgiwrapBacklog(t *testing.T) {
	r := gittest.NewRepo(t)
	r.Write("a.txt", "a\n")
	sha := r.Commit("first")
	s := StartT(t, Config{Root: t.TempDir(), GitRoot: r.BareParent, FcgiWorkers: 3, Backlog: 1000})
	out, err := gittest.Command("", "ls-remote", s.URL+"/git/"+r.Name, "refs/heads/main").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), sha) {
		t.Errorf("ls-remote through nginx = %q, %v; want %s", out, err, sha)
	}
	sock := filepath.Join(s.dir, "fcgiwrap.sock")
	ss, err := exec.Command("ss", "-xlH", "src", sock).CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v\n%s", err, ss)
	}
	if f := strings.Fields(string(ss)); len(f) < 5 || f[3] != "1000" || f[4] != sock {
		t.Errorf("ss -xl for %s = %q, want a listening socket with backlog (Send-Q) 1000", sock, ss)
	}
}
