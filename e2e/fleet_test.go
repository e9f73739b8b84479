package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
)

// fleet writes a small fleet repo: one group on line a running the given
// workloads (name -> YAML of its spec body).
type fleet struct {
	repo     *gittest.Repo
	registry string
}

// servedFleet creates a fleet repo that names registry and node press-01
// (writeFleet), served by git http-backend, and returns it with its URL.
func servedFleet(t *testing.T, registry string) (*fleet, string) {
	t.Helper()
	repo := gittest.NewRepo(t)
	url := gittest.ServeHTTP(t, repo.BareParent, "", "") + "/" + repo.Name
	f := &fleet{repo: repo, registry: registry}
	f.writeFleet()
	return f, url
}

func (f *fleet) writeFleet() {
	f.repo.Write("fleet.yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Fleet
metadata: {name: e2e}
spec:
  pollInterval: 1s
  registries: [{host: %q, plainHTTP: true}]
`, f.registry))
	f.repo.Write("nodes/press-01.yaml", `apiVersion: gitfleet.dev/v1alpha1
kind: Node
metadata:
  name: press-01
  labels: {site: plant-1}
`)
}

func (f *fleet) group(workloads ...string) {
	f.repo.Write("groups/line-a.yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Group
metadata: {name: line-a}
spec:
  selector: {matchLabels: {line: a}}
  workloads: [%s]
`, strings.Join(workloads, ", ")))
}

func (f *fleet) workload(name, image string, port int, logLevel string) {
	f.repo.Write("workloads/"+name+".yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Workload
metadata: {name: %s}
spec:
  image: %s
  args: ["--listen", ":%d"]
  env: {MODEL_LOG_LEVEL: %s}
  ports: [%d]
  resources: {memory: 64Mi, cpu: "0.5"}
`, name, image, port, logLevel, port))
}

func modelVersion(t *testing.T, port int) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute) // a bound for a hang only
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/version", port))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(b)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("model on port %d does not answer: %v", port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFleetd walks one node through a fleet's life on the real stack. The
// steps share state and run in order.
func TestFleetd(t *testing.T) {
	ctd := runtimetest.StartT(t)
	regHost, stopRegistry, err := ocitest.StartDockerRegistryProcess(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopRegistry)
	defectV1 := ocitest.ModelServerImage(t, regHost, "models/defect", "defect-v1.json")
	defectV2 := ocitest.ModelServerImage(t, regHost, "models/defect", "defect-v2.json")
	vibration := ocitest.ModelServerImage(t, regHost, "models/vibration", "vibration-v1.json")

	f, url := servedFleet(t, regHost)
	repo := f.repo
	defectPort, vibrationPort := porttest.Port(t), porttest.Port(t)
	f.workload("defect", defectV1, defectPort, "info")
	f.workload("vibration", vibration, vibrationPort, "info")
	f.group("defect", "vibration")
	rev := repo.Commit("plant-1: line a runs defect and vibration")

	a := newAgent(t, repo, url, ctd.Address, "press-01", "line=a")

	t.Run("first deploy", func(t *testing.T) {
		a.mustOnce()
		for _, w := range []string{"defect", "vibration"} {
			if in := a.running(w); in.Revision != rev {
				t.Errorf("%s runs revision %s, want %s", w, in.Revision, rev)
			}
		}
		if v := modelVersion(t, defectPort); !strings.Contains(v, `"v1"`) {
			t.Errorf("defect model version = %s, want v1", v)
		}
		st := a.report().Status
		if st.AppliedRevision != rev || len(st.Workloads) != 2 || len(st.Errors) != 0 {
			t.Errorf("status = %+v", st)
		}
	})

	t.Run("env change replaces only that container", func(t *testing.T) {
		oldDefect, oldVib := a.running("defect"), a.running("vibration")
		f.workload("defect", defectV1, defectPort, "debug")
		rev = repo.Commit("defect: debug logging")
		a.mustOnce()
		newDefect := a.running("defect")
		if newDefect.ID == oldDefect.ID || newDefect.PID == oldDefect.PID || newDefect.Revision != rev {
			t.Errorf("defect not replaced: before %+v, after %+v", oldDefect, newDefect)
		}
		if v := a.running("vibration"); v.PID != oldVib.PID {
			t.Errorf("vibration restarted (pid %d -> %d) though its spec did not change", oldVib.PID, v.PID)
		}
		modelVersion(t, defectPort)
	})

	t.Run("removed workload goes away", func(t *testing.T) {
		f.group("defect")
		repo.Remove("workloads/vibration.yaml")
		rev = repo.Commit("line a: retire vibration")
		a.mustOnce()
		if in, ok := a.instances()["vibration"]; ok {
			t.Errorf("vibration still has a container: %+v", in)
		}
		if st := a.report().Status; st.AppliedRevision != rev || len(st.Workloads) != 1 {
			t.Errorf("status = %+v", st)
		}
	})

	t.Run("bad YAML is refused and the old container keeps running", func(t *testing.T) {
		before := a.running("defect")
		good := rev
		repo.Write("workloads/defect.yaml", strings.Replace(readFile(t, repo, "workloads/defect.yaml"), "  ports:", "  portz:", 1))
		bad := repo.Commit("defect: typo")
		out, err := a.once()
		if exitCode(err) != 1 {
			t.Fatalf("fleetd --once over a bad spec exited %v, want 1\n%s", err, out)
		}
		if after := a.running("defect"); after.PID != before.PID {
			t.Errorf("defect restarted after a refused revision")
		}
		st := a.report().Status
		if st.AppliedRevision != good || st.ObservedRevision != bad {
			t.Errorf("applied %s observed %s, want %s and %s", st.AppliedRevision, st.ObservedRevision, good, bad)
		}
		if len(st.Errors) == 0 || st.Errors[0].File != "workloads/defect.yaml" || st.Errors[0].Line != 8 ||
			!strings.Contains(st.Errors[0].Field+st.Errors[0].Reason, "portz") {
			t.Errorf("errors = %+v; want workloads/defect.yaml:8 naming portz", st.Errors)
		}
		f.workload("defect", defectV1, defectPort, "debug")
		rev = repo.Commit("defect: fix typo")
		a.mustOnce()
		if after := a.running("defect"); after.PID != before.PID {
			t.Errorf("fixing the typo (same spec as running) restarted defect")
		}
	})

	t.Run("SIGKILL and restart adopt the running container", func(t *testing.T) {
		before := a.running("defect")
		d := a.start("1s")
		d.waitPasses(t, 2)
		signal(t, d, syscall.SIGKILL)
		d2 := a.start("1s")
		d2.waitPasses(t, 2)
		if after := a.running("defect"); after.PID != before.PID || after.ID != before.ID {
			t.Errorf("restarted agent restarted the workload: before %+v after %+v", before, after)
		}
		if err := signal(t, d2, syscall.SIGTERM); err != nil {
			t.Errorf("fleetd after SIGTERM exited with %v, want 0", err)
		}
		if after := a.running("defect"); after.PID != before.PID {
			t.Error("SIGTERM to fleetd stopped the workload")
		}
	})

	t.Run("registry down keeps the old version and says why", func(t *testing.T) {
		before := a.running("defect")
		stopRegistry()
		f.workload("defect", defectV2, defectPort, "debug")
		rev = repo.Commit("defect: model v2")
		out, err := a.once()
		if exitCode(err) != 1 {
			t.Fatalf("fleetd --once with the registry down exited %v, want 1\n%s", err, out)
		}
		if after := a.running("defect"); after.PID != before.PID {
			t.Error("defect was touched while its new image could not be pulled")
		}
		if v := modelVersion(t, defectPort); !strings.Contains(v, `"v1"`) {
			t.Errorf("model version = %s, want v1 still serving", v)
		}
		st := a.report().Status
		if len(st.Errors) == 0 || !strings.Contains(st.Errors[0].Reason, regHost) {
			t.Errorf("errors = %+v; want the unreachable registry named", st.Errors)
		}
		if st.Conditions[0].Status != "False" {
			t.Errorf("Ready = %+v, want False", st.Conditions[0])
		}
	})
}

func readFile(t *testing.T, repo *gittest.Repo, path string) string {
	t.Helper()
	return gittest.Git(t, repo.Dir, "show", "HEAD:"+path)
}
