package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// planNodes is the fleet the plan is measured on; planChanged of its node
// files change in the first change.
const (
	planNodes   = 10000
	planChanged = 1000
)

// statusSizes are the status refs fleetctl status reads.
var statusSizes = []int{1000, 10000}

// fleetTools measures `fleetctl plan --offline` beside `git diff
// --name-only` between the same commits, and `fleetctl status` beside
// `git fetch --depth 1` of the status refs, each a fresh process, taking
// turns; peak RSS by GNU time.
func fleetTools(ctx context.Context, e *env) (string, error) {
	fleetctl := filepath.Join(e.tmp, "fleetctl")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", fleetctl, "./cmd/fleetctl")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build fleetctl: %v: %s", err, out)
	}
	var b strings.Builder
	b.WriteString("## Fleet-wide tools beside git\n\n")
	fmt.Fprintf(&b, "`fleetctl` built as `make release` builds it; every run a fresh process, the two commands taking turns, %d runs each, medians; peak RSS is GNU time's maximum resident size (for git, over git and its helpers).\n\n", e.n)

	bare := filepath.Join(filepath.Dir(e.bare), "plan.git")
	base, err := generateFleet(bare, planNodes)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(bare)
	nodesMoved, err := commitFiles(bare, "move nodes", func(w *bufio.Writer) {
		for i := 1; i <= planChanged; i++ {
			fmt.Fprintf(w, "M 644 inline nodes/node-%05d.yaml\n", i*planNodes/planChanged)
			data := strings.Replace(nodeFile(i*planNodes/planChanged), "line: ", "line: x", 1)
			fmt.Fprintf(w, "data %d\n%s\n", len(data), data)
		}
	})
	if err != nil {
		return "", err
	}
	groupChanged, err := commitFiles(bare, "group line-a: debug logs", func(w *bufio.Writer) {
		data := groupFile(0) + "  overrides: {model-0: {env: {LOG_LEVEL: debug}}}\n"
		fmt.Fprintf(w, "M 644 inline groups/line-a.yaml\ndata %d\n%s\n", len(data), data)
	})
	if err != nil {
		return "", err
	}
	b.WriteString("### `fleetctl plan`\n\n")
	fmt.Fprintf(&b, "A generated fleet of %d nodes in three groups (the first-sync fixture), packed; `fleetctl plan --offline --output json --repo <bare repo>` (no registry: the plan's own work) and `git diff --name-only` in the same repository.\n\n", planNodes)
	b.WriteString("| change | `fleetctl plan`: wall | peak RSS | `git diff --name-only`: wall | peak RSS | plan ÷ diff |\n|---|---|---|---|---|---|\n")
	type planCase struct{ what, from, to string }
	planCmd := func(c planCase) *exec.Cmd {
		return timed(exec.CommandContext(ctx, fleetctl, "plan", "--offline", "--output", "json", "--repo", bare, "--base", c.from, "--head", c.to))
	}
	group := planCase{fmt.Sprintf("one group's override (%d nodes change)", planNodes/fixtureGroups), nodesMoved, groupChanged}
	for _, c := range []planCase{
		{fmt.Sprintf("%d node files change their labels (%d nodes change)", planChanged, planChanged), base, nodesMoved},
		group,
	} {
		pw, pr, gw, gr, err := versus(ctx, e.n, planCmd(c), timed(gitCmd(bare, "diff", "--name-only", c.from, c.to)), planExit)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.1f× |\n", c.what, ms(pw), mib(pr), ms(gw), mib(gr), float64(pw)/float64(gw))
	}

	// A changed group has the plan test every node file's labels against
	// its selector, which git diff does not read: beside it, git reading
	// the same blobs.
	ids, err := gitCmd(bare, "ls-tree", "-r", "--object-only", group.to, "nodes/").Output()
	if err != nil {
		return "", fmt.Errorf("git ls-tree: %v", err)
	}
	fmt.Fprintf(&b, "\nA changed group makes the plan read every node file, to test its labels against the group's selector; `git diff` reads none. Beside git's own reading of the same %d blobs: `git cat-file --batch` fed their ids on its standard input (listed beforehand with `git ls-tree -r --object-only <head> nodes/`), the two commands taking turns as above.\n\n", strings.Count(string(ids), "\n"))
	b.WriteString("| change | `fleetctl plan`: wall | peak RSS | `git cat-file --batch` of `nodes/`: wall | peak RSS | plan ÷ cat-file |\n|---|---|---|---|---|---|\n")
	pw, pr, cw, cr, err := versusFn(ctx, e.n, func() *exec.Cmd { return planCmd(group) }, func() *exec.Cmd {
		cmd := timed(gitCmd(bare, "cat-file", "--batch"))
		cmd.Stdin = bytes.NewReader(ids)
		return cmd
	}, planExit)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.1f× |\n", group.what, ms(pw), mib(pr), ms(cw), mib(cr), float64(pw)/float64(cw))

	b.WriteString("\n### `fleetctl status`\n\n")
	b.WriteString("A fleet repo with one status ref per node (`refs/heads/status/<node>`, one commit each), served like the fixture; `fleetctl status --output json --repo URL` beside `git fetch --depth 1` of `refs/heads/status/*` into an empty bare repository.\n\n")
	b.WriteString("| status refs | `fleetctl status`: wall | peak RSS | `git fetch --depth 1`: wall | peak RSS | status ÷ fetch |\n|---|---|---|---|---|---|\n")
	for _, n := range statusSizes {
		name := fmt.Sprintf("status-%d.git", n)
		sbare := filepath.Join(filepath.Dir(e.bare), name)
		if _, err := generateFleet(sbare, n); err != nil {
			return "", err
		}
		if err := addStatusRefs(sbare, n); err != nil {
			return "", err
		}
		url := "http://" + e.proxy.Addr() + "/" + name
		into := filepath.Join(e.tmp, "status-fetch.git")
		fetch := func() *exec.Cmd {
			os.RemoveAll(into)
			gitCmd("", "init", "-q", "--bare", into).Run()
			return timed(gitCmd(into, "fetch", "-q", "--depth", "1", url, "+refs/heads/status/*:refs/remotes/status/*"))
		}
		sw, sr, fw, fr, err := versusFn(ctx, e.n,
			func() *exec.Cmd {
				return timed(exec.CommandContext(ctx, fleetctl, "status", "--output", "json", "--repo", url))
			}, fetch, statusExit)
		os.RemoveAll(sbare)
		os.RemoveAll(into)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %.2f× |\n", n, ms(sw), mib(sr), ms(fw), mib(fr), float64(sw)/float64(fw))
	}
	return b.String(), nil
}

// planExit: fleetctl plan exits 0 (nothing refused) here.
func planExit(code int) bool { return code == 0 }

// statusExit: fleetctl status exits 0, or 1 when some node needs
// attention (reports are old: the fixture's clock is not now).
func statusExit(code int) bool { return code == 0 || code == 1 }

// versus runs a and b by turns n times and returns their median walls and
// peaks.
func versus(ctx context.Context, n int, a, b *exec.Cmd, ok func(int) bool) (aw time.Duration, ar int64, bw time.Duration, br int64, err error) {
	again := func(c *exec.Cmd) func() *exec.Cmd {
		return func() *exec.Cmd {
			cc := exec.CommandContext(ctx, c.Path, c.Args[1:]...)
			cc.Dir, cc.Env = c.Dir, c.Env
			return cc
		}
	}
	return versusFn(ctx, n, again(a), again(b), ok)
}

func versusFn(ctx context.Context, n int, a, b func() *exec.Cmd, ok func(int) bool) (aw time.Duration, ar int64, bw time.Duration, br int64, err error) {
	var walls [2][]time.Duration
	var peaks [2][]int64
	for range n {
		for i, mk := range []func() *exec.Cmd{a, b} {
			cmd := mk()
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = nil, &out
			start := time.Now()
			err := cmd.Run()
			wall := time.Since(start)
			code := 0
			if ee, isExit := err.(*exec.ExitError); isExit {
				code = ee.ExitCode()
			} else if err != nil {
				return 0, 0, 0, 0, err
			}
			if (i == 0 && !ok(code)) || (i == 1 && code != 0) {
				return 0, 0, 0, 0, fmt.Errorf("%s: exit %d: %s", cmd.Args, code, out.String())
			}
			kib, err := timedPeak(out.String())
			if err != nil {
				return 0, 0, 0, 0, err
			}
			walls[i] = append(walls[i], wall)
			peaks[i] = append(peaks[i], kib)
		}
	}
	return median(walls[0]), median(peaks[0]), median(walls[1]), median(peaks[1]), nil
}

// commitFiles adds a commit on main with what write writes (fast-import
// file commands) and returns it.
func commitFiles(bare, msg string, write func(*bufio.Writer)) (string, error) {
	head, err := gitCmd(bare, "rev-parse", "refs/heads/main").Output()
	if err != nil {
		return "", err
	}
	if err := fastImport(bare, nil, func(w *bufio.Writer) {
		fmt.Fprintf(w, "commit refs/heads/main\ncommitter Bench <bench@gitfleet.invalid> 1700000100 +0000\ndata %d\n%s\nfrom %s", len(msg), msg, head)
		write(w)
	}); err != nil {
		return "", err
	}
	out, err := gitCmd(bare, "rev-parse", "refs/heads/main").Output()
	return strings.TrimSpace(string(out)), err
}

// addStatusRefs gives each of the first n nodes a status ref with one
// commit holding its report.
func addStatusRefs(bare string, n int) error {
	return fastImport(bare, nil, func(w *bufio.Writer) {
		for i := 1; i <= n; i++ {
			node := fmt.Sprintf("node-%05d", i)
			data := fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: NodeStatus\nmetadata: {name: %s}\nstatus:\n  observedRevision: %040d\n  appliedRevision: %040d\n  lastSeen: 2026-11-22T10:00:00Z\n  conditions: [{type: Ready, status: \"True\", reason: Applied}]\n  workloads:\n    - {name: model-%d, image: \"registry.example.com/models/m@sha256:%064d\", state: running, health: healthy}\n", node, i, i, i%fixtureWorkloads, i)
			msg := node + ": applied"
			fmt.Fprintf(w, "commit refs/heads/status/%s\ncommitter %s <%s@gitfleet.invalid> 1700000000 +0000\ndata %d\n%s\nM 644 inline status/%s.yaml\ndata %d\n%s\n", node, node, node, len(msg), msg, node, len(data), data)
		}
	})
}
