package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/runtime"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
)

// attackMarker is in the host files attacks try to read.
const attackMarker = "ATTACK-SECRET-7d3e"

// TestAttacks replays the attacks of issue 10 against the real stack
// (fleetd built from this tree, containerd with runc, docker-registry, git
// over HTTP, fleetctl), one row each, and asserts the security outcome:
// the attack is refused, the running workload is untouched, and nothing
// secret leaks. Rows run in order on one node; after a refused attack the
// operator's key commits the good tree again.
func TestAttacks(t *testing.T) {
	ctd := runtimetest.StartT(t)
	reg := ocitest.StartDockerRegistry(t)
	keys := t.TempDir()
	ops, opsLine := newSigner(t, keys, "ops@plant-1") // the node's own key
	dev, devLine := newSigner(t, keys, "dev@plant-1") // trusted only through the repo's trust/
	old, _ := newSigner(t, keys, "old@plant-1")       // a node key that expired in 2020, leaked
	nodeKey, attackerKey := newCosignKey(t), newCosignKey(t)
	trustDir := t.TempDir()
	writeAll(t, trustDir, map[string]string{
		"allowed_signers": opsLine + `old@plant-1 valid-before="20200101Z" ` + pubLine(t, old.key) + "\n",
		"cosign.pub":      string(nodeKey.pub),
	})
	v1 := ocitest.ModelServerImage(t, reg, "models/defect", "defect-v1.json")
	nodeKey.sign(t, v1, reg)
	evil := ocitest.ModelServerImage(t, reg, "models/evil", "defect-v2.json")
	attackerKey.sign(t, evil, reg)

	// The host: an allowed hostPath, a secret beside it.
	hostRoot, secretDir := t.TempDir(), t.TempDir()
	writeAll(t, secretDir, map[string]string{"shadow": attackMarker + "\n"})

	repo := gittest.NewRepo(t)
	g, url := newGate(t, gittest.ServeHTTP(t, repo.BareParent, "", "")+"/"+repo.Name)
	statusBare := filepath.Join(t.TempDir(), "status.git")
	gittest.Git(t, "", "init", "-q", "--bare", statusBare)
	port := porttest.Port(t)
	f := &fleet{repo: repo, registry: reg}
	good := func() {
		repo.Write("fleet.yaml", fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: e2e}\nspec:\n  pollInterval: 1s\n  registries: [{host: %q, plainHTTP: true}]\n  hostPaths: [%s]\n", reg, hostRoot))
		repo.Write("trust/allowed_signers", devLine)
		repo.Write("nodes/press-01.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: press-01\n  labels: {site: plant-1}\n")
		f.workload("defect", v1, port, "info")
		f.group("defect")
		for _, p := range []string{"models-keys", "workloads/escape.yaml"} {
			os.RemoveAll(filepath.Join(repo.Dir, p))
		}
	}
	good()
	applied := ops.commit(t, repo, "ops: defect v1, dev trusted through trust/")
	a := newAgent(t, repo, url, ctd.Address, "press-01", "line=a", "--trust-dir", trustDir, "--status-repo", gittest.FileURL(statusBare))
	a.mustOnce()
	baseline := a.running("defect")

	// refused runs one pass that must fail and checks that defect still
	// runs as before and the report says want.
	refused := func(t *testing.T, want string) {
		t.Helper()
		out, err := a.once()
		if exitCode(err) != 1 {
			t.Fatalf("fleetd --once exited %v, want 1\n%s", err, out)
		}
		if now := a.running("defect"); now.ID != baseline.ID || now.PID != baseline.PID {
			t.Errorf("defect changed: before %+v, after %+v", baseline, now)
		}
		st := statusIn(t, statusBare, "press-01").Status
		if st.AppliedRevision != applied {
			t.Errorf("applied revision = %s, want %s", st.AppliedRevision, applied)
		}
		var reasons []string
		for _, e := range st.Errors {
			reasons = append(reasons, e.File+" "+e.Field+" "+e.Ref+" "+e.Reason)
		}
		if all := strings.Join(reasons, "\n"); !strings.Contains(all, want) {
			t.Errorf("report errors:\n%s\nwant one saying %q", all, want)
		}
		if strings.Contains(out, attackMarker) {
			t.Errorf("fleetd's output quotes a host secret:\n%s", out)
		}
	}
	// restore commits the good tree with the node's key and applies it.
	restore := func(t *testing.T) {
		t.Helper()
		good()
		applied = ops.commit(t, repo, "ops: back to the good tree")
		a.mustOnce()
		if now := a.running("defect"); now.ID != baseline.ID {
			t.Fatalf("restoring the good tree replaced defect: %+v", now)
		}
	}

	rows := []struct {
		name   string
		attack func(t *testing.T)
	}{
		{"1 host escape through a symlinked mount source", func(t *testing.T) {
			if err := os.Symlink(secretDir, filepath.Join(hostRoot, "etc-link")); err != nil {
				t.Fatal(err)
			}
			repo.Write("workloads/escape.yaml", fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: escape}\nspec:\n  image: %s\n  args: [\"--listen\", \"127.0.0.1:%d\"]\n  mounts: [{source: %s, target: /data, readOnly: true}]\n", v1, porttest.Port(t), filepath.Join(hostRoot, "etc-link")))
			f.group("defect", "escape")
			ops.commit(t, repo, "a signed workload mounts a link to the host's secrets")
			out, err := a.once()
			if exitCode(err) != 1 {
				t.Errorf("fleetd --once exited %v, want 1\n%s", err, out)
			}
			if in, ok := a.instances()["escape"]; ok {
				t.Errorf("a container was created for the linked mount: %+v", in)
			}
			st := statusIn(t, statusBare, "press-01").Status
			if !strings.Contains(fmt.Sprint(st.Errors, st.Workloads), "etc-link") {
				t.Errorf("report does not name the link: %+v %+v", st.Errors, st.Workloads)
			}
			if now := a.running("defect"); now.ID != baseline.ID {
				t.Errorf("defect changed: %+v", now)
			}
		}},
		{"2 image key named outside trust/ by a repo-only signer", func(t *testing.T) {
			repo.Write("models-keys/k.pub", string(attackerKey.pub))
			repo.Write("fleet.yaml", strings.Replace(readFile(t, repo, "fleet.yaml"), "  hostPaths:", "  trust: {images: {keys: [models-keys/k.pub]}}\n  hostPaths:", 1))
			f.workload("defect", evil, port, "info")
			dev.commit(t, repo, "dev names an image key of their own")
			refused(t, "spec.trust.images.keys")
		}},
		{"2b image key added to trust/ by a repo-only signer", func(t *testing.T) {
			repo.Write("trust/k.pub", string(attackerKey.pub))
			repo.Write("fleet.yaml", strings.Replace(readFile(t, repo, "fleet.yaml"), "  hostPaths:", "  trust: {images: {keys: [trust/k.pub]}}\n  hostPaths:", 1))
			f.workload("defect", evil, port, "info")
			dev.commit(t, repo, "dev adds an image key to trust/")
			refused(t, "fleet.yaml spec.trust.images.keys was changed by commit")
		}},
		{"3 fleetctl validate follows a link to the runner's secrets", func(t *testing.T) {
			bin := buildFleetctl(t)
			dir := t.TempDir()
			gittest.Git(t, "", "clone", "-q", repo.BareDir, dir)
			os.Remove(filepath.Join(dir, "nodes", "press-01.yaml"))
			if err := os.Symlink(filepath.Join(secretDir, "shadow"), filepath.Join(dir, "nodes", "press-01.yaml")); err != nil {
				t.Fatal(err)
			}
			for _, format := range []string{"text", "json", "markdown", "github"} {
				cmd := exec.Command(bin, "validate", "--output", format, dir)
				out, err := cmd.CombinedOutput()
				if exitCode(err) != 1 || strings.Contains(string(out), attackMarker) || !strings.Contains(string(out), "nodes/press-01.yaml") {
					t.Errorf("-o %s: exit %v, want 1 naming nodes/press-01.yaml without its target's content:\n%s", format, err, out)
				}
			}
		}},
		{"5 backdated commit by an expired key", func(t *testing.T) {
			f.workload("defect", v1, port, "debug")
			backdatedCommit(t, repo, old.key, "2019-06-01T00:00:00Z", "the leaked 2020 key, dated 2019")
			refused(t, "is earlier than the last applied revision")
		}},
		{"6 status after a restart while the git server is down", func(t *testing.T) {
			g.close()
			defer g.open()
			out, err := a.once() // a new fleetd process: a restart
			if exitCode(err) != 1 {
				t.Fatalf("fleetd --once with the git server down exited %v, want 1\n%s", err, out)
			}
			st := statusIn(t, statusBare, "press-01").Status
			c := st.Conditions[0]
			if c.Status != "False" || len(st.Errors) == 0 {
				t.Fatalf("the report is not the restarted agent's (Ready %+v, errors %+v): want Ready False naming the unreachable server", c, st.Errors)
			}
			if st.AppliedRevision != applied || len(st.Workloads) != 1 || st.Workloads[0].Name != "defect" ||
				st.Workloads[0].State != "running" || !strings.HasPrefix(c.Message, "1/1 workloads running") {
				t.Errorf("status = applied %s, workloads %+v, Ready %+v; want %s with defect running, 1/1", st.AppliedRevision, st.Workloads, c, applied)
			}
		}},
		{"4 a container fleetd does not own is left alone", func(t *testing.T) {
			// Someone takes the defect container over: it loses the
			// ownership label. fleetd must neither stop nor delete it.
			ctr := exec.Command("ctr", "--address", ctd.Address, "--namespace", runtime.DefaultNamespace,
				"containers", "label", baseline.ID, runtime.LabelManaged+"=")
			if out, err := ctr.CombinedOutput(); err != nil {
				t.Fatalf("ctr containers label: %v\n%s", err, out)
			}
			// Handed back afterwards, so that the test's cleanup removes it
			// the agent's way (its network and mounts with it).
			t.Cleanup(func() {
				exec.Command("ctr", "--address", ctd.Address, "--namespace", runtime.DefaultNamespace,
					"containers", "label", baseline.ID, runtime.LabelManaged+"=true").Run()
			})
			a.once()
			out, err := exec.Command("ctr", "--address", ctd.Address, "--namespace", runtime.DefaultNamespace, "tasks", "ls").CombinedOutput()
			if err != nil {
				t.Fatalf("ctr tasks ls: %v\n%s", err, out)
			}
			line := ""
			for _, l := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(l, baseline.ID+" ") {
					line = l
				}
			}
			if !strings.Contains(line, fmt.Sprint(baseline.PID)) || !strings.Contains(line, "RUNNING") {
				t.Errorf("the foreign container's task after a pass: %q, want pid %d RUNNING\n%s", line, baseline.PID, out)
			}
		}},
		{"7 forged status reports on another node's ref", func(t *testing.T) {
			// press-01 waits for canary-01, a node of the first wave that
			// does not run here. Both keys are enrolled by the operator.
			canaryState := t.TempDir()
			canaryKey := printStatusKey(t, canaryState, "canary-01")
			node := func(name, labels, key string) string {
				return "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: " + name + "\n  labels: {" + labels + "}\nspec:\n  statusKey: " + key + "\n"
			}
			repo.Write("nodes/press-01.yaml", node("press-01", "site: plant-1", a.statusKey()))
			repo.Write("nodes/canary-01.yaml", node("canary-01", `site: plant-1, line: a, canary: "true"`, canaryKey))
			repo.Write("groups/line-a.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: line-a}\nspec:\n  selector: {matchLabels: {line: a}}\n  workloads: [defect]\n"+
				"  rollout:\n    waves:\n      - {name: canary, selector: {matchLabels: {canary: \"true\"}}}\n      - {name: rest}\n    gate: {healthyFor: 1m, minHealthy: 100%}\n")
			f.workload("defect", v1, port, "debug")
			rev := ops.commit(t, repo, "ops: status keys enrolled; defect debug, canary first")
			before := a.running("defect")
			stranger, _ := newSigner(t, t.TempDir(), "stranger")
			statusURL := gittest.FileURL(statusBare)
			for _, forged := range []struct{ name, key, want string }{
				{"signed by the pushing node's own status key", filepath.Join(a.stateDir, "status.key"), "not the enrolled ssh-ed25519 key"},
				{"unsigned", "", "commit not signed"},
				{"signed by a key not enrolled", stranger.key, "not the enrolled ssh-ed25519 key"},
			} {
				// press-01 (it may push status refs) writes canary-01's ref:
				// healthy on rev for an hour.
				forgeStatus(t, statusBare, "canary-01", healthyReport("canary-01", rev), forged.key)
				out, err := a.once()
				if exitCode(err) != 1 || !strings.Contains(out, "result=waiting") || !strings.Contains(out, "canary-01: untrusted report (") || !strings.Contains(out, forged.want) {
					t.Errorf("%s: fleetd --once exited %v; want held, naming canary-01's report untrusted (%s)\n%s", forged.name, err, forged.want, out)
				}
				if now := a.running("defect"); now.ID != before.ID || now.PID != before.PID || now.Revision == rev {
					t.Errorf("%s: defect changed on a forged report: before %+v, after %+v", forged.name, before, now)
				}
				nodes, text := fleetStatus(t, url, statusURL)
				if c := nodes["canary-01"]; c.State != "untrusted" || !strings.Contains(c.Untrusted, forged.want) || !strings.Contains(c.Reason, forged.want) {
					t.Errorf("%s: fleetctl status shows canary-01 %+v; want untrusted with %q", forged.name, c, forged.want)
				}
				if p := nodes["press-01"]; p.State == "untrusted" || p.SignedBy == "" {
					t.Errorf("%s: fleetctl status shows press-01 %+v; want its own signed report trusted", forged.name, p)
				}
				if !strings.Contains(text, "canary-01") || !strings.Contains(text, "untrusted report: ") {
					t.Errorf("%s: fleetctl status text does not show canary-01 untrusted:\n%s", forged.name, text)
				}
			}
			// The canary's own key (what fleetd on canary-01 signs with)
			// opens the gate: only the signature made the difference.
			forgeStatus(t, statusBare, "canary-01", healthyReport("canary-01", rev), filepath.Join(canaryState, "status.key"))
			if out, err := a.once(); err != nil {
				t.Fatalf("with canary-01's own signed report: fleetd --once: %v\n%s", err, out)
			}
			if now := a.running("defect"); now.Revision != rev {
				t.Errorf("defect runs %s, want %s once the canary's signed report is healthy", now.Revision, rev)
			}
			if nodes, _ := fleetStatus(t, url, statusURL); nodes["canary-01"].State == "untrusted" || nodes["canary-01"].SignedBy == "" {
				t.Errorf("fleetctl status shows canary-01 %+v; want trusted", nodes["canary-01"])
			}
		}},
	}
	for _, row := range rows {
		if !t.Run(row.name, row.attack) {
			continue
		}
		if strings.HasPrefix(row.name, "4 ") || strings.HasPrefix(row.name, "3 ") || strings.HasPrefix(row.name, "6 ") || strings.HasPrefix(row.name, "7 ") {
			continue
		}
		t.Run(row.name+": restore", restore)
	}
}
