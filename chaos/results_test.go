package chaos

import (
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// section is the heading of the chaos figures in bench/RESULTS.md.
const section = "## Chaos"

// figures are one fault's results over its points.
type figures struct {
	title, unit string
	steps       []string
	byStep      map[string]*[2]int // converged, points
	// exitZero counts fleetd --once runs that exited 0 while the node had
	// not converged.
	exitZero                                    int
	failed, orphans, duplicates, missing, wrong int
	restarts                                    int // of steady, which no change touches
	commits                                     int // most status commits of one class in one outage; -1 unmeasured
	fewest                                      int // fewest retrying commits of one outage
	refetch                                     float64
	refetched                                   bool
	recovery                                    map[int]int // passes after the fault cleared (-1: none converged) -> points
	note                                        string
}

var (
	resultsMu sync.Mutex
	all       []*figures
)

// figure returns the figures of a fault, registered for the results file.
func figure(title, unit string) *figures {
	f := &figures{title: title, unit: unit, byStep: map[string]*[2]int{}, recovery: map[int]int{}, commits: -1}
	resultsMu.Lock()
	all = append(all, f)
	resultsMu.Unlock()
	return f
}

// point records one point: c is the node's state after it, passes how
// many passes after the fault cleared it took to converge (0: the pass
// the fault cut into converged once it cleared; -1: not within three), commits the status commits per outage class during it (nil when
// not measured), refetch the bytes fetched again after a cut in % of the
// layer (-1 when not measured).
func (f *figures) point(step string, c check, passes int, steadyRestarted bool, commits map[string]int, refetch float64) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	s, ok := f.byStep[step]
	if !ok {
		s = &[2]int{}
		f.byStep[step] = s
		f.steps = append(f.steps, step)
	}
	s[1]++
	if passes >= 0 && c.ok() {
		s[0]++
	}
	f.failed += c.failed
	f.orphans += c.orphans
	f.duplicates += c.duplicates
	f.missing += c.missing
	f.wrong += c.wrong
	if steadyRestarted {
		f.restarts++
	}
	if commits != nil {
		if f.commits < 0 {
			f.fewest = commits["retrying"]
		}
		f.commits = max(f.commits, 0)
		for _, n := range commits {
			f.commits = max(f.commits, n)
		}
		f.fewest = min(f.fewest, commits["retrying"])
	}
	if refetch >= 0 {
		f.refetch, f.refetched = max(f.refetch, refetch), true
	}
	f.recovery[passes]++
}

func (f *figures) table(b *strings.Builder) {
	fmt.Fprintf(b, "### %s\n\n", f.title)
	if f.note != "" {
		b.WriteString(f.note + "\n\n")
	}
	fmt.Fprintf(b, "| change | %s | converged |\n|---|---|---|\n", f.unit)
	total, ok := 0, 0
	for _, k := range f.steps {
		c := f.byStep[k]
		ok, total = ok+c[0], total+c[1]
		fmt.Fprintf(b, "| %s | %d | %d (%.0f %%) |\n", k, c[1], c[0], pct(c[0], c[1]))
	}
	fmt.Fprintf(b, "| all | %d | %d (%.0f %%) |\n\n", total, ok, pct(ok, total))
	fmt.Fprintf(b, "good specs marked failed: %d · orphans: %d · duplicates: %d · missing: %d · wrong state: %d · unneeded restarts (steady): %d",
		f.failed, f.orphans, f.duplicates, f.missing, f.wrong, f.restarts)
	if f.exitZero > 0 || strings.Contains(f.title, "containerd") {
		fmt.Fprintf(b, " · `--once` exit 0 while not converged: %d", f.exitZero)
	}
	if f.commits >= 0 {
		fmt.Fprintf(b, " · status commits per outage per class: %d to %d", f.fewest, f.commits)
	}
	if f.refetched {
		fmt.Fprintf(b, " · refetched bytes after a cut: at most %.2f %% of the layer", f.refetch)
	}
	var passes []int
	for p := range f.recovery {
		passes = append(passes, p)
	}
	sort.Ints(passes)
	var rec []string
	for _, p := range passes {
		what := fmt.Sprintf("%d", p)
		switch p {
		case -1:
			what = "not within 3"
		case 0:
			what = "0 (the pass the fault cut into converged)"
		}
		rec = append(rec, fmt.Sprintf("%s: %d", what, f.recovery[p]))
	}
	fmt.Fprintf(b, " · passes after the fault cleared until converged (passes: points): %s\n\n", strings.Join(rec, ", "))
}

func pct(a, b int) float64 { return 100 * float64(a) / float64(max(b, 1)) }

// writeResults replaces (or appends) the chaos section of the markdown
// file with every figure recorded.
func writeResults(file string, took time.Duration) error {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(all) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", section)
	fmt.Fprintf(&b, "Generated %s by `make chaos` (`%s`) in %s on %s.\n\n", time.Now().UTC().Format(time.RFC3339), command(),
		took.Round(time.Second), machine())
	b.WriteString("Every point runs on real parts: fleetd built from this tree, git http-backend and Debian's docker-registry each behind a proxy that can go down or cut a response, a private containerd 1.6 with runc. A node runs `steady`, which no change touches, beside the workload a point changes. " +
		"Converged: the head's workloads run (one container each, the head's image and revision), the status report says applied with no error, no spec is marked failed (report or state file), and steady's container and process are the ones it had. " +
		"Passes after the fault cleared: how many `fleetd --once` runs (or, for the long-running agent, passes begun after the fault cleared) it took to converge; 1 means recovery within one poll interval. " +
		"Status commits: the commits of the node's status ref naming one outage class (`retrying: …` at the start, `… retrying ended …` at the end) from the fault to the recovery.\n\n")
	for _, f := range all {
		f.table(&b)
	}
	old, _ := os.ReadFile(file)
	text := string(old)
	for _, heading := range []string{section + "\n", section + ":"} {
		i := strings.Index(text, heading)
		if i < 0 {
			continue
		}
		end := len(text)
		if j := strings.Index(text[i+len(heading):], "\n## "); j >= 0 {
			end = i + len(heading) + j + 1
		}
		text = text[:i] + text[end:]
	}
	text = strings.TrimRight(text, "\n") + "\n\n" + b.String()
	return os.WriteFile(file, []byte(strings.TrimRight(text, "\n")+"\n"), 0o644)
}

// machine describes the host: CPU, cores, memory, kernel, Go.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := exec.Command("uname", "-r").Output()
	ctd, _ := exec.Command("containerd", "--version").Output()
	return fmt.Sprintf("%s, %d cores, kernel %s, %s, %s", cpu, goruntime.NumCPU(), strings.TrimSpace(string(kernel)),
		goruntime.Version(), strings.TrimSpace(string(ctd)))
}

// command is the go test command line of this run, without go test's own
// -test.* flags.
func command() string {
	args := []string{"go test ./chaos"}
	for _, a := range os.Args[1:] {
		if !strings.HasPrefix(a, "-test.") {
			args = append(args, a)
		}
	}
	return strings.Join(args, " ")
}
