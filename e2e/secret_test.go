package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/imagebuild"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
)

// TestSecrets: an operator encrypts a value to a node with fleetctl
// secret encrypt; fleetd on that node decrypts it into the workload's
// environment and into a file on tmpfs. The value is in neither fleetd's
// log nor the status report; a plan of a changed value names the secret,
// not the value; after the change the workload reads the new value.
func TestSecrets(t *testing.T) {
	ctd := runtimetest.StartT(t)
	host := ocitest.NewRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	img, err := imagebuild.Build(ctx, imagebuild.Options{Package: "./runtime/testdata/echo"})
	if err != nil {
		t.Fatal(err)
	}
	echo := ocitest.Push(t, img, host+"/test/echo")
	fleetctl := buildFleetctl(t)

	repo := gittest.NewRepo(t)
	port := porttest.Port(t)
	a := newAgent(t, repo, gittest.FileURL(repo.BareDir), ctd.Address, "press-01", "",
		"--insecure-skip-verify", "--secrets-dir", tmpfsDir(t))
	recipient := strings.TrimSpace(mustRun(t, "", fleetdBin, "--print-age-recipient", "--state-dir", a.stateDir))

	repo.Write("fleet.yaml", fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: e2e}\nspec:\n  registries: [{host: %q, plainHTTP: true}]\n", host))
	repo.Write("nodes/press-01.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: press-01}\nspec:\n  workloads: [api]\n  ageRecipient: "+recipient+"\n")
	repo.Write("workloads/api.yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Workload
metadata: {name: api}
spec:
  image: %s
  args: ["--port", "%d"]
  ports: [%d]
  secrets:
    - {name: token, file: secrets/token.age, env: API_TOKEN}
    - {name: token-file, file: secrets/token.age, path: /run/secrets/token}
`, echo, port, port))
	encrypt := func(value string) {
		in := filepath.Join(t.TempDir(), "value")
		if err := os.WriteFile(in, []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
		mustRun(t, repo.Dir, fleetctl, "secret", "encrypt", "--to", "node:press-01", "--in", in, "--out", "secrets/token.age")
	}
	first, second := "first-"+filepath.Base(t.TempDir()), "second-"+filepath.Base(t.TempDir())
	encrypt(first)
	if b, _ := os.ReadFile(filepath.Join(repo.Dir, "secrets/token.age")); strings.Contains(string(b), first) {
		t.Fatal("the encrypted file holds the value in clear")
	}
	rev1 := repo.Commit("api with a token")

	out, err := a.once()
	if err != nil {
		t.Fatalf("fleetd --once: %v\n%s", err, out)
	}
	checkSecret(t, port, first)
	assertHidden(t, "fleetd's log", out, first)
	assertHidden(t, "the status report", repo.BareGit("show", "refs/heads/status/press-01:status/press-01.yaml"), first)

	encrypt(second)
	rev2 := repo.Commit("rotate the token")
	plan := mustRun(t, repo.Dir, fleetctl, "plan", "--base", rev1, "--head", rev2, "--offline")
	if !strings.Contains(plan, "secrets.token") || !strings.Contains(plan, "new encrypted value") {
		t.Errorf("the plan does not say the token changed:\n%s", plan)
	}
	assertHidden(t, "the plan", plan, first, second)

	out, err = a.once()
	if err != nil {
		t.Fatalf("fleetd --once after the rotation: %v\n%s", err, out)
	}
	checkSecret(t, port, second)
	assertHidden(t, "fleetd's log", out, first, second)
	assertHidden(t, "the status report", repo.BareGit("show", "refs/heads/status/press-01:status/press-01.yaml"), first, second)
}

// checkSecret asks the echo workload for its environment and its secret
// file: both must hold value.
func checkSecret(t *testing.T, port int, value string) {
	t.Helper()
	if env := httpGet(t, port, "/env"); !strings.Contains(env, "API_TOKEN="+value+"\n") {
		t.Errorf("the workload's environment has no API_TOKEN=%s:\n%s", value, env)
	}
	if got := httpGet(t, port, "/read?path=/run/secrets/token"); got != value {
		t.Errorf("the workload read %q from /run/secrets/token, want %q", got, value)
	}
}

func assertHidden(t *testing.T, where, text string, values ...string) {
	t.Helper()
	for _, v := range values {
		if strings.Contains(text, v) {
			t.Errorf("%s holds the secret value %q:\n%s", where, v, text)
		}
	}
}

// httpGet GETs path from 127.0.0.1:port until the workload answers 200.
func httpGet(t *testing.T, port int, path string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute) // a bound for a hang only
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(b)
			}
			err = fmt.Errorf("%s: %s", resp.Status, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s on port %d: %v", path, port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tmpfsDir mounts a small tmpfs for decrypted secrets until the test ends.
func tmpfsDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "secrets")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700,size=1m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// buildFleetctl builds fleetctl from this tree.
func buildFleetctl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fleetctl")
	mustRun(t, "", "go", "build", "-o", bin, "github.com/gitfleet/gitfleet/cmd/fleetctl")
	return bin
}

// mustRun runs a command in dir and returns its standard output.
func mustRun(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}
