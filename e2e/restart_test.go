package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/status"
)

// TestRestartCommitsNothingAndFailingLogsShow: an agent that restarts and
// finds what it left (a healthy workload with a health check) commits no
// status report, whether it runs one pass or its loop; the real status
// writer pushes to a real git server. A workload that keeps crashing has
// the end of its log in the report, so its reason is readable from Git.
func TestRestartCommitsNothingAndFailingLogsShow(t *testing.T) {
	ctd := runtimetest.StartT(t)
	reg := ocitest.StartDockerRegistry(t)
	v1 := ocitest.ModelServerImage(t, reg, "models/defect", "defect-v1.json")
	f, url := servedFleet(t, reg)
	repo := f.repo
	port := porttest.Port(t)
	f.group("defect")
	f.checkedWorkload("defect", v1, port)
	repo.Commit("defect v1")
	a := newAgent(t, repo, url, ctd.Address, "press-01", "line=a", "--insecure-skip-verify")
	a.mustOnce()
	ref := "refs/heads/status/press-01"
	first := repo.RemoteRef(ref)
	if st := a.report().Status; st.Conditions[0].Reason != status.ReasonApplied || st.Workloads[0].Health != "healthy" {
		t.Fatalf("first report: %+v", st)
	}

	// Restarted for one pass: the same state, no commit.
	a.mustOnce()
	if got := repo.RemoteRef(ref); got != first {
		t.Errorf("a restart alone committed a report:\n%s", repo.BareGit("log", "--format=%s", first+".."+got))
	}
	// Restarted for good: its passes, the health monitor's first probes
	// among them, commit nothing either.
	d := a.start("1s")
	d.waitPasses(t, 4)
	if got := repo.RemoteRef(ref); got != first {
		t.Errorf("a restarted agent committed reports without a change:\n%s\nfleetd:\n%s", repo.BareGit("log", "--format=%s", first+".."+got), d.output())
	}
	d.cmd.Process.Kill()
	d.done <- <-d.done // the test's cleanup waits for it too

	// A model that crashes 1s after it starts: its log's end is in the
	// report.
	crashPort := porttest.Port(t)
	repo.Write("workloads/crasher.yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Workload
metadata: {name: crasher}
spec:
  image: %s
  args: ["--listen", ":%d", "--crash-after", "1s"]
  ports: [%d]
`, v1, crashPort, crashPort))
	f.group("defect", "crasher")
	repo.Commit("crasher")
	d = a.start("1s")
	deadline := time.Now().Add(2 * time.Minute)
	var tail string
	for time.Now().Before(deadline) && !strings.Contains(tail, "crashing after --crash-after 1s") {
		time.Sleep(200 * time.Millisecond)
		if repo.RemoteRef(ref) == "" {
			continue
		}
		for _, w := range a.report().Status.Workloads {
			if w.Name == "crasher" {
				tail = w.LogTail
			}
		}
	}
	if !strings.Contains(tail, "crashing after --crash-after 1s") {
		t.Fatalf("the crashing workload's report has no log tail with its reason: %q\nfleetd:\n%s", tail, d.output())
	}
	for _, w := range a.report().Status.Workloads {
		if w.Name == "defect" && w.LogTail != "" {
			t.Errorf("the healthy workload carries a log tail: %q", w.LogTail)
		}
	}
}
