package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/status"
)

// TestFleetdLocalAPI: fleetd with --listen on a unix socket and an
// interval of an hour. /healthz answers, /readyz once a pass finished,
// /status is the node's report as JSON, /metrics has the pass and
// revision series; a new commit is applied at once after POST /sync and
// after SIGHUP (which no longer ends fleetd), never by waiting an hour.
func TestFleetdLocalAPI(t *testing.T) {
	ctd := runtimetest.StartT(t)
	reg := ocitest.NewRegistry(t)
	repo := gittest.NewRepo(t)
	// The agent reaches the server through a byte-counting proxy: its
	// git bytes metric must add up to what the proxy carried.
	server, wire := gittest.ProxyURL(t, gittest.ServeHTTP(t, repo.BareParent, "", ""))
	url := server + "/" + repo.Name
	f := &fleet{repo: repo, registry: reg}
	f.writeFleet()
	f.group()
	rev1 := repo.Commit("empty fleet")

	sock := filepath.Join(t.TempDir(), "fleetd.sock")
	a := newAgent(t, repo, url, ctd.Address, "press-01", "line=a", "--insecure-skip-verify", "--listen", "unix:"+sock)
	d := a.start("1h")
	client := &http.Client{Transport: &http.Transport{DialContext: unixDialer(sock)}, Timeout: 10 * time.Second}
	get := func(path string) (int, string) {
		resp, err := client.Get("http://fleetd" + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	applied := func() string {
		code, body := get("/status")
		if code != http.StatusOK {
			return ""
		}
		var st status.NodeStatus
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("/status is not a report: %v\n%s", err, body)
		}
		return st.Status.AppliedRevision
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("%s did not happen; fleetd output:\n%s", what, d.output())
	}
	waitFor("readyz", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %s", code, body)
	}
	if got := applied(); got != rev1 {
		t.Errorf("/status applied %q, want %s", got, rev1)
	}
	postSync := func() {
		resp, err := client.Post("http://fleetd/sync", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	scrape := func() string {
		code, body := get("/metrics")
		if code != http.StatusOK {
			t.Fatalf("/metrics = %d", code)
		}
		return body
	}
	// settled waits until the git bytes fleetd counted are the bytes the
	// proxy carried (the proxy counts a byte before passing it on, fleetd
	// once it has it) and returns them by op.
	settled := func(what string) (total float64, byOp map[string]float64) {
		t.Helper()
		waitFor(what+": gitfleet_git_bytes_total adds up to the proxy's bytes", func() bool {
			total, byOp = gitBytes(t, scrape())
			return total == float64(wire.Bytes())
		})
		return total, byOp
	}
	first, firstOps := settled("first sync")
	for _, op := range []string{"poll", "fetch", "push"} {
		if firstOps[op] <= 0 {
			t.Errorf("first sync: no git bytes for op %q: %v", op, firstOps)
		}
	}
	// Nothing new: one no-op poll, a fraction of the first sync's bytes.
	noops := metricValue(t, scrape(), "gitfleet_noop_polls_total")
	postSync()
	waitFor("a no-op poll", func() bool { return metricValue(t, scrape(), "gitfleet_noop_polls_total") > noops })
	second, secondOps := settled("no-op poll")
	t.Logf("git bytes: first sync %v %v; no-op poll %v more", first, firstOps, second-first)
	if grew := second - first; grew <= 0 || grew >= first || secondOps["poll"]-firstOps["poll"] != grew {
		t.Errorf("no-op poll: git bytes grew by %v (poll %v) after a first sync of %v; want poll bytes only, fewer than the sync's",
			grew, secondOps["poll"]-firstOps["poll"], first)
	}

	repo.Write("nodes/press-02.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: press-02}\n")
	rev2 := repo.Commit("second node")
	fleetctl := buildFleetctl(t)
	if out := mustRun(t, "", fleetctl, "node", "sync", "--addr", "unix:"+sock); !strings.Contains(out, "sync requested") {
		t.Errorf("fleetctl node sync printed %q", out)
	}
	waitFor("apply after POST /sync", func() bool { return applied() == rev2 })
	if out := mustRun(t, "", fleetctl, "node", "status", "--addr", sock); !strings.Contains(out, "applied   "+rev2) {
		t.Errorf("fleetctl node status:\n%s\nwant applied %s", out, rev2)
	}
	err := exec.Command(fleetctl, "node", "status", "--addr", "unix:"+sock+".none").Run()
	if code := exitCode(err); code != 3 {
		t.Errorf("fleetctl node status without fleetd: exit %d, want 3 (unreachable)", code)
	}

	repo.Write("nodes/press-03.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: press-03}\n")
	rev3 := repo.Commit("third node")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("apply after SIGHUP", func() bool { return applied() == rev3 })
	select {
	case err := <-d.done:
		t.Fatalf("fleetd exited after SIGHUP: %v", err)
	default:
	}

	// A model: one pull from the registry.
	f.workload("defect", ocitest.ModelServerImage(t, reg, "models/defect", "defect-v1.json"), porttest.Port(t), "info")
	f.group("defect")
	rev4 := repo.Commit("defect v1")
	postSync()
	waitFor("apply of the model", func() bool { return applied() == rev4 })
	// A refused revision: a spec error.
	repo.Write("workloads/defect.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: defect}\nspec: {image: models/defect:latest}\n")
	repo.Commit("unpinned")
	postSync()
	waitFor("the refusal in /status", func() bool { _, body := get("/status"); return strings.Contains(body, "must be pinned by digest") })

	code, metrics := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`gitfleet_passes_total{result="ok"}`,
		`gitfleet_passes_total{result="refused"}`,
		fmt.Sprintf(`gitfleet_applied_revision_info{revision=%q} 1`, rev4),
		"gitfleet_pass_duration_seconds_count",
		"gitfleet_status_push_duration_seconds_count",
		"gitfleet_noop_polls_total",
		`gitfleet_refusals_total{reason="spec"}`,
		`gitfleet_image_pulls_total{result="ok"} 1`,
		"gitfleet_image_pull_duration_seconds_count 1",
		`gitfleet_workload_healthy{workload="defect"} 1`,
		`gitfleet_workload_restarts{workload="defect"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s:\n%s", want, metrics)
		}
	}
	if v := metricValue(t, metrics, "gitfleet_image_pull_bytes_total"); v < 1024 {
		t.Errorf("gitfleet_image_pull_bytes_total = %v, want the model image's bytes", v)
	}
	if strings.Contains(metrics, rev1) {
		t.Error("/metrics still shows the first revision as applied")
	}
	// /status is camelCase JSON, as every JSON output.
	_, body := get("/status")
	checkCamelCase(t, body)
}

// metricValue is the value of an unlabelled series in a scrape.
func metricValue(t *testing.T, scrape, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no series %s in the scrape", name)
	return 0
}

// gitBytes sums gitfleet_git_bytes_total in a scrape, in all and by op.
func gitBytes(t *testing.T, scrape string) (float64, map[string]float64) {
	t.Helper()
	total, byOp := 0.0, map[string]float64{}
	series := regexp.MustCompile(`^gitfleet_git_bytes_total\{direction="(sent|received)",op="([a-z]+)"\} (\S+)$`)
	for _, line := range strings.Split(scrape, "\n") {
		m := series.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		total += v
		byOp[m[2]] += v
	}
	return total, byOp
}

// checkCamelCase fails for every key of the JSON document doc that is not
// camelCase (labels and env hold the user's keys and are not checked).
func checkCamelCase(t *testing.T, doc string) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	camel := regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if !camel.MatchString(k) {
					t.Errorf("key %q is not camelCase in %s", k, doc)
				}
				if k != "labels" && k != "env" {
					walk(e)
				}
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
}

func unixDialer(path string) func(ctx context.Context, _, _ string) (net.Conn, error) {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
}
