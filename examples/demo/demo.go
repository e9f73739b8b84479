package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/internal/imagebuild"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/runtime"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// The demo node and what it runs (see examples/fleet-repo).
const (
	node       = "press-01"
	labels     = "site=plant-1,line=a"
	workload   = "defect-classifier"
	listenPort = "8080"
)

type demo struct {
	fleetd  string
	keep    bool
	dir     string
	logFile string

	containerd *runtimetest.Daemon
	registry   *http.Server
	agent      *exec.Cmd
	host       string // registry host:port
	work       string // the operator's clone of the fleet repo
	bare       string // the "server" repo fleetd polls
	trustDir   string // the node's own keys
	imageKey   *ecdsa.PrivateKey
	sshKey     string // the operator's commit signing key
	statusKey  string // the node's status key, as enrolled
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func (d *demo) run(ctx context.Context) error {
	var err error
	if d.fleetd, err = filepath.Abs(d.fleetd); err != nil {
		return err
	}
	if d.dir, err = os.MkdirTemp("", "gfdemo"); err != nil {
		return err
	}

	step("starting a private containerd")
	if d.containerd, err = runtimetest.Start(runtimetest.Options{}); err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	fmt.Println("    socket:", d.containerd.Address)

	step("starting an embedded OCI registry")
	if err := d.startRegistry(); err != nil {
		return err
	}
	fmt.Println("    registry:", d.host)

	step("making the keys: a cosign key for images, an SSH key for commits")
	if err := d.makeKeys(); err != nil {
		return err
	}
	fmt.Println("    node trust dir:", d.trustDir, "(allowed_signers, cosign.pub)")

	step("building the model-server image in Go (no Docker), pushing and signing it")
	images := map[string]string{}
	for name, weights := range map[string]string{"defect-classifier": "defect-v1.json", "vibration-anomaly": "vibration-v1.json"} {
		ref, err := d.buildModel(ctx, name, weights)
		if err != nil {
			return err
		}
		if err := image.SignLegacy(ctx, ref, d.imageKey, d.imageOpts()); err != nil {
			return fmt.Errorf("sign %s: %w", ref, err)
		}
		images[name] = ref
		fmt.Printf("    %s (signed, cosign legacy format)\n", ref)
	}

	step("creating the fleet repo from examples/fleet-repo, pinned to those digests, signed commit")
	if err := d.createRepo(images); err != nil {
		return err
	}
	fmt.Println("    fleet repo:", "file://"+d.bare)

	step("starting fleetd for node %s (labels %s), verifying every commit and image", node, labels)
	if err := d.startAgent(); err != nil {
		return err
	}
	if err := waitVersion(ctx, "v1", 2*time.Minute); err != nil {
		return err
	}
	if err := predict(); err != nil {
		return err
	}

	step("someone pushes an UNSIGNED commit with a new model: fleetd refuses it")
	ref2, err := d.buildModel(ctx, workload, "defect-v2.json")
	if err != nil {
		return err
	}
	if err := d.commitImage(workload, ref2, "defect-classifier: model v2 (unsigned)", false); err != nil {
		return err
	}
	if err := d.waitRefusal(ctx); err != nil {
		return err
	}
	if err := predict(); err != nil {
		return err
	}

	step("the operator signs the image (sigstore bundle format) and pushes a signed commit on top")
	if err := image.SignBundle(ctx, ref2, d.imageKey, d.imageOpts()); err != nil {
		return fmt.Errorf("sign %s: %w", ref2, err)
	}
	start := time.Now()
	if err := d.commitImage(workload, ref2, "defect-classifier: model v2", true); err != nil {
		return err
	}
	if err := waitVersion(ctx, "v2", 2*time.Minute); err != nil {
		return err
	}
	fmt.Printf("    fleetd switched to v2 %.1fs after the push (poll interval 2s)\n", time.Since(start).Seconds())
	if err := predict(); err != nil {
		return err
	}

	step("the node's audit trail: git log refs/heads/status/%s", node)
	// Give fleetd one more pass to report the update.
	time.Sleep(3 * time.Second)
	out, err := git(d.bare, "log", "--format=%h %ad %s", "--date=format:%H:%M:%S", "refs/heads/status/"+node)
	if err != nil {
		return err
	}
	fmt.Print(indent(out))
	st, err := git(d.bare, "show", "refs/heads/status/"+node+":status/"+node+".yaml")
	if err != nil {
		return err
	}
	step("status/%s.yaml", node)
	fmt.Print(indent(st))
	if err := d.showStatus(ctx); err != nil {
		return err
	}
	step("done: cleaning up")
	return nil
}

func (d *demo) startRegistry() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.host = ln.Addr().String()
	d.registry = &http.Server{Handler: ocitest.Handler()}
	go d.registry.Serve(ln)
	return nil
}

func (d *demo) buildModel(ctx context.Context, name, weights string) (string, error) {
	b, err := os.ReadFile(filepath.Join("examples/model-server/weights", weights))
	if err != nil {
		return "", err
	}
	img, err := imagebuild.Build(ctx, imagebuild.Options{
		Package: "./examples/model-server",
		Files:   map[string][]byte{"/model/weights.json": b},
	})
	if err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	tag := strings.TrimSuffix(weights, ".json")
	return imagebuild.Push(ctx, img, d.host+"/models/"+name+":"+tag)
}

var imageLine = regexp.MustCompile(`(?m)^(\s*image:\s*)\S+@sha256:[0-9a-f]{64}`)

// createRepo copies the example fleet into a git repo, points it at the
// demo's registry and digests, and clones it bare for fleetd to poll.
func (d *demo) createRepo(images map[string]string) error {
	d.work = filepath.Join(d.dir, "fleet")
	d.bare = filepath.Join(d.dir, "fleet.git")
	err := filepath.WalkDir("examples/fleet-repo", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel("examples/fleet-repo", p)
		if strings.HasPrefix(rel, ".") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b = bytes.ReplaceAll(b, []byte("127.0.0.1:5000"), []byte(d.host))
		if strings.HasPrefix(rel, "workloads/") {
			name := strings.TrimSuffix(filepath.Base(rel), filepath.Ext(rel))
			if ref, ok := images[name]; ok {
				b = imageLine.ReplaceAll(b, []byte("${1}"+ref))
			}
		}
		dst := filepath.Join(d.work, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		return err
	}
	for _, f := range []string{"cosign.pub", "allowed_signers"} {
		b, err := os.ReadFile(filepath.Join(d.trustDir, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d.work, "trust", f), b, 0o644); err != nil {
			return err
		}
	}
	if err := d.enrolStatusKey(); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		d.signed("commit", "-q", "-m", "plant-1: initial fleet"),
		{"clone", "-q", "--bare", d.work, d.bare},
		{"remote", "add", "origin", d.bare},
	} {
		if _, err := git(d.work, args...); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) imageOpts() image.Options {
	return image.Options{Registries: []spec.Registry{{Host: d.host, PlainHTTP: true}}}
}

// waitRefusal waits until the node's status report says it refused the
// branch head, and prints why.
func (d *demo) waitRefusal(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		out, err := git(d.bare, "show", "refs/heads/status/"+node+":status/"+node+".yaml")
		if err == nil {
			if st, err := status.Unmarshal([]byte(out)); err == nil && len(st.Status.Errors) > 0 {
				fmt.Printf("    status/%s.yaml says: %s\n", node, st.Status.Errors[0].Reason)
				fmt.Printf("    the running model is untouched (applied revision %.7s)\n", st.Status.AppliedRevision)
				return nil
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	return errors.New("fleetd did not report the refusal")
}

func (d *demo) commitImage(name, ref, msg string, sign bool) error {
	file := filepath.Join(d.work, "workloads", name+".yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := os.WriteFile(file, imageLine.ReplaceAll(b, []byte("${1}"+ref)), 0o644); err != nil {
		return err
	}
	commit := []string{"commit", "-q", "--allow-empty", "-am", msg}
	if sign {
		commit = d.signed(commit...)
	}
	for _, args := range [][]string{commit, {"push", "-q", "origin", "main"}} {
		if _, err := git(d.work, args...); err != nil {
			return err
		}
	}
	out, _ := git(d.work, "log", "-1", "--format=%h %s")
	fmt.Print(indent(out))
	return nil
}

func (d *demo) startAgent() error {
	d.logFile = filepath.Join(d.dir, "fleetd.log")
	logf, err := os.Create(d.logFile)
	if err != nil {
		return err
	}
	d.agent = exec.Command(d.fleetd,
		"--repo", "file://"+d.bare, "--node", node, "--labels", labels,
		"--containerd-address", d.containerd.Address, "--state-dir", filepath.Join(d.dir, "state"),
		"--interval", "2s", "--trust-dir", d.trustDir)
	d.agent.Stdout, d.agent.Stderr = logf, logf
	fmt.Println("   ", strings.Join(d.agent.Args, " "))
	return d.agent.Start()
}

// waitVersion waits until the model on the demo node reports version want.
func waitVersion(ctx context.Context, want string, limit time.Duration) error {
	fmt.Printf("    waiting for model %s on http://127.0.0.1:%s ...\n", want, listenPort)
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := http.Get("http://127.0.0.1:" + listenPort + "/version")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if strings.Contains(last, `"`+want+`"`) {
				fmt.Printf("    model answers: %s\n", strings.TrimSpace(last))
				return nil
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	return fmt.Errorf("model %s not serving after %s (last answer %q)", want, limit, last)
}

func predict() error {
	body := `{"features":[85,3.0,95,1500]}`
	resp, err := http.Post("http://127.0.0.1:"+listenPort+"/predict", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("predict: %s: %v", resp.Status, out)
	}
	b, _ := json.Marshal(out)
	fmt.Printf("    POST /predict %s\n    -> %s\n", body, b)
	return nil
}

func (d *demo) cleanup() {
	if d.agent != nil && d.agent.Process != nil {
		d.agent.Process.Signal(syscall.SIGTERM)
		d.agent.Wait()
	}
	if d.containerd != nil {
		d.removeWorkloads()
		if err := d.containerd.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop containerd:", err)
		}
	}
	if d.registry != nil {
		d.registry.Close()
	}
	if d.dir != "" && !d.keep {
		os.RemoveAll(d.dir)
	}
}

// removeWorkloads removes what fleetd runs, the agent's way, so that the
// models' networks (addresses, port rules on the host) go with them.
func (d *demo) removeWorkloads() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	state := filepath.Join(d.dir, "state")
	rt, err := runtime.New(ctx, runtime.Config{Address: d.containerd.Address,
		LogDir: filepath.Join(state, "logs"), RunDir: filepath.Join(state, "run")}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "remove workloads:", err)
		return
	}
	defer rt.Close()
	ins, err := rt.List(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "remove workloads:", err)
	}
	for _, in := range ins {
		if err := rt.Remove(ctx, in.Workload); err != nil {
			fmt.Fprintln(os.Stderr, "remove workloads:", err)
		}
	}
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=operator", "GIT_AUTHOR_EMAIL=ops@plant-1.example",
		"GIT_COMMITTER_NAME=operator", "GIT_COMMITTER_EMAIL=ops@plant-1.example")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}
