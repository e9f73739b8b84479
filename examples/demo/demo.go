package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/gitfleet/gitfleet/internal/imagebuild"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
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

	step("building the model-server image in Go (no Docker) and pushing it")
	images := map[string]string{}
	for name, weights := range map[string]string{"defect-classifier": "defect-v1.json", "vibration-anomaly": "vibration-v1.json"} {
		ref, err := d.buildModel(ctx, name, weights)
		if err != nil {
			return err
		}
		images[name] = ref
		fmt.Printf("    %s\n", ref)
	}

	step("creating the fleet repo from examples/fleet-repo, pinned to those digests")
	if err := d.createRepo(images); err != nil {
		return err
	}
	fmt.Println("    fleet repo:", "file://"+d.bare)

	step("starting fleetd for node %s (labels %s)", node, labels)
	if err := d.startAgent(); err != nil {
		return err
	}
	if err := waitVersion(ctx, "v1", 2*time.Minute); err != nil {
		return err
	}
	if err := predict(); err != nil {
		return err
	}

	step("an operator commits a new model version (defect-v2)")
	ref2, err := d.buildModel(ctx, workload, "defect-v2.json")
	if err != nil {
		return err
	}
	start := time.Now()
	if err := d.commitImage(workload, ref2, "defect-classifier: model v2"); err != nil {
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
	step("done: cleaning up")
	return nil
}

func (d *demo) startRegistry() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.host = ln.Addr().String()
	d.registry = &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
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
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"commit", "-q", "-m", "plant-1: initial fleet"},
		{"clone", "-q", "--bare", d.work, d.bare},
		{"remote", "add", "origin", d.bare},
	} {
		if _, err := git(d.work, args...); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) commitImage(name, ref, msg string) error {
	file := filepath.Join(d.work, "workloads", name+".yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := os.WriteFile(file, imageLine.ReplaceAll(b, []byte("${1}"+ref)), 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{{"commit", "-q", "-am", msg}, {"push", "-q", "origin", "main"}} {
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
		"--interval", "2s", "--insecure-skip-verify")
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
