package fleetsim

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// fleetRepo is the fleet repo: a bare repository the server serves, with
// the head-publishing post-receive hook of packaging/ installed, and the
// operator's clone that commits and pushes to it (as a merged pull request
// would).
type fleetRepo struct {
	bare  string // <gitRoot>/fleet.git
	work  string // the operator's clone
	heads string // the head file's root: <heads>/fleet/main
}

// hookPath is packaging/post-receive-head, found from this file's place in
// the module.
func hookPath() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("fleetsim: cannot find the module's packaging directory")
	}
	p := filepath.Join(filepath.Dir(file), "..", "..", "packaging", "post-receive-head")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("fleetsim: the head hook: %w", err)
	}
	return p, nil
}

// newFleetRepo creates the bare repository under gitRoot with the hook and
// an empty clone in work.
func newFleetRepo(gitRoot, heads, work string) (*fleetRepo, error) {
	r := &fleetRepo{bare: filepath.Join(gitRoot, "fleet.git"), work: work, heads: heads}
	if err := run("", "init", "-q", "--bare", "-b", "main", r.bare); err != nil {
		return nil, err
	}
	hook, err := hookPath()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(hook)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(r.bare, "hooks", "post-receive"), data, 0o755); err != nil {
		return nil, err
	}
	if err := run(r.bare, "config", "gitfleet.headFile", filepath.Join(heads, "fleet", "main")); err != nil {
		return nil, err
	}
	if err := run("", "init", "-q", "-b", "main", work); err != nil {
		return nil, err
	}
	return r, run(work, "remote", "add", "origin", r.bare)
}

// commit writes files (path → content; "" removes) in the clone, commits
// and pushes main, and returns the new head.
func (r *fleetRepo) commit(msg string, files map[string]string) (string, error) {
	for p, content := range files {
		full := filepath.Join(r.work, p)
		if content == "" {
			if err := os.Remove(full); err != nil && !os.IsNotExist(err) {
				return "", err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	if err := run(r.work, "add", "-A"); err != nil {
		return "", err
	}
	if err := run(r.work, "commit", "-q", "-m", msg); err != nil {
		return "", err
	}
	if err := run(r.work, "push", "-q", "origin", "main"); err != nil {
		return "", err
	}
	out, err := git(r.work, "rev-parse", "HEAD")
	return strings.TrimSpace(out), err
}

// statusRefs lists the status refs the server holds, by node name.
func (r *fleetRepo) statusRefs() (map[string]bool, error) {
	out, err := git(r.bare, "for-each-ref", "--format=%(refname)", "refs/heads/status/")
	if err != nil {
		return nil, err
	}
	refs := map[string]bool{}
	for _, l := range strings.Fields(out) {
		refs[strings.TrimPrefix(l, "refs/heads/status/")] = true
	}
	return refs, nil
}

// The fleet's files. Every node runs one workload, model, from the group
// all; rollout, when set, orders the group in three waves.
func fleetYAML(interval, registry, pollURL string) string {
	s := fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: sim}\nspec:\n  pollInterval: %s\n  registries: [{host: %q, plainHTTP: true}]\n", interval, registry)
	if pollURL != "" {
		s += fmt.Sprintf("  poll: {url: %q}\n", pollURL)
	}
	return s
}

func workloadYAML(image, version string) string {
	return fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: model}\nspec:\n  image: %s\n  env: {MODEL_VERSION: %q}\n  ports: [8080]\n  resources: {memory: 256Mi, cpu: \"0.5\"}\n", image, version)
}

// Wave names of the rollout.
func groupYAML(rollout bool) string {
	s := "apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: all}\nspec:\n  selector: {matchLabels: {fleet: sim}}\n  workloads: [model]\n"
	if rollout {
		s += "  rollout:\n    waves:\n      - {name: canary, percent: 5}\n      - {name: early, percent: 25}\n      - {name: rest}\n    gate: {minHealthy: \"100%\"}\n"
	}
	return s
}

// nodeYAML is a node's file: its labels and its enrolled status key.
func nodeYAML(name string, i int, statusKey string) string {
	return fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: %s\n  labels: {fleet: sim, site: site-%d}\nspec:\n  statusKey: %s\n", name, i%20, statusKey)
}

func nodeName(i int) string { return fmt.Sprintf("node-%05d", i) }

// git runs git in dir without the user's or the system's config.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=operator", "GIT_AUTHOR_EMAIL=operator@gitfleet.invalid",
		"GIT_COMMITTER_NAME=operator", "GIT_COMMITTER_EMAIL=operator@gitfleet.invalid")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, stderr)
	}
	return string(out), nil
}

func run(dir string, args ...string) error {
	_, err := git(dir, args...)
	return err
}
