package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/agentapi"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/status"
)

// camelKey is a JSON field name as fleetctl writes them.
var camelKey = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// dataKeys are fields whose object holds data keyed by the user's names
// (labels, env) or by a state name, not field names.
var dataKeys = map[string]bool{"labels": true, "counts": true, "env": true}

// checkCamelCase reports every object key in doc that is not camelCase,
// with its path.
func checkCamelCase(t *testing.T, what, doc string) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, doc)
	}
	var bad []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if !camelKey.MatchString(k) {
					bad = append(bad, path+"."+k)
				}
				if !dataKeys[k] {
					walk(path+"."+k, e)
				}
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("", v)
	if len(bad) > 0 {
		t.Errorf("%s: keys not camelCase: %s\n%s", what, strings.Join(bad, ", "), doc)
	}
}

// TestJSONCamelCase runs every command that writes JSON, on success and on
// refusal, and checks that every field name is camelCase.
func TestJSONCamelCase(t *testing.T) {
	run := func(wantCode int, args ...string) {
		t.Helper()
		r := fleetctl(t, args...)
		what := "fleetctl " + strings.Join(args, " ")
		if r.code != wantCode {
			t.Errorf("%s: exit %d, want %d\n%s%s", what, r.code, wantCode, r.stdout, r.stderr)
			return
		}
		checkCamelCase(t, what, r.stdout)
	}

	// validate: clean, and with errors.
	run(0, "validate", exampleRepo, "-o", "json")
	broken := t.TempDir()
	os.WriteFile(filepath.Join(broken, "fleet.yaml"), []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: x}\nspec: {pollInterval: 30}\n"), 0o644)
	run(1, "validate", broken, "-o", "json")

	// plan: a change, and a head that does not parse.
	f := newFixture(t)
	run(0, "plan", "--repo", f.repo.Dir, "--base", f.base, "--head", f.head, "-o", "json", "--offline")
	f.repo.Write("workloads/defect-classifier.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: defect-classifier}\nspec: {image: x:latest}\n")
	bad := f.repo.Commit("unpinned")
	run(1, "plan", "--repo", f.repo.Dir, "--base", f.base, "--head", bad, "-o", "json", "--offline")

	// status.
	sf := newStatusFixture(t)
	run(0, "status", "--repo", gittest.FileURL(sf.repo.BareDir), nowFlag, "-o", "json")

	// verify image: verified and refused.
	host := ocitest.NewRegistry(t)
	key, pub := keyPair(t, nil)
	_, otherPub := keyPair(t, nil)
	img := ocitest.RandomImage(t, host, "models/json")
	if r := fleetctl(t, "sign", "image", img, "--key", key, "--plain-http"); r.code != 0 {
		t.Fatalf("sign: exit %d\n%s", r.code, r.stderr)
	}
	run(0, "verify", "image", img, "--key", pub, "--plain-http", "-o", "json")
	run(1, "verify", "image", img, "--key", otherPub, "--plain-http", "-o", "json")

	// verify commit: signed and refused.
	sshPriv, sshPub := sshKey(t)
	g := gittest.NewRepo(t)
	g.Write("fleet.yaml", "x\n")
	gittest.Git(t, g.Dir, "add", "-A")
	gittest.Git(t, g.Dir, "-c", "gpg.format=ssh", "-c", "user.signingkey="+sshPriv, "commit", "-q", "-S", "-m", "signed")
	g.Write("fleet.yaml", "y\n")
	unsigned := g.Commit("unsigned")
	trustDir := t.TempDir()
	os.WriteFile(filepath.Join(trustDir, "allowed_signers"), []byte("ops@example.com "+sshPub+"\n"), 0o644)
	run(0, "verify", "commit", "HEAD~1", "--repo", g.Dir, "--trust", trustDir, "-o", "json")
	run(1, "verify", "commit", unsigned, "--repo", g.Dir, "--trust", trustDir, "-o", "json")

	// node status: fleetd's /status, through the local API's own handler
	// and reporter (e2e's TestFleetdLocalAPI reads a real fleetd's).
	api := agentapi.New(make(chan struct{}, 1))
	code := 0
	rep := &status.NodeStatus{APIVersion: status.APIVersion, Kind: status.Kind, Metadata: status.Meta{Name: "press-01"},
		Status: status.Status{AppliedRevision: f.base, Poll: &status.Poll{Via: status.PollViaGit, Protocol: "v2"},
			Conditions: []status.Condition{{Type: status.ConditionReady, Status: status.ConditionTrue, Reason: status.ReasonApplied}},
			Workloads:  []status.Workload{{Name: "detector", Image: img, State: status.StateStopped, ExitCode: &code, Message: "exited", LogTail: "model loaded\npanic: out of memory"}},
			Errors:     []status.Error{{File: "workloads/x.yaml", Line: 3, Field: "spec.image", Reason: "refused"}},
			Outage:     &status.Outage{Class: "retrying", Failures: 1}}}
	if err := api.Reporter(nopReporter{}).Report(t.Context(), rep); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	run(0, "node", "status", "--addr", strings.TrimPrefix(srv.URL, "http://"), "-o", "json")
	// The text shows a failing workload's log end.
	if r := fleetctl(t, "node", "status", "--addr", strings.TrimPrefix(srv.URL, "http://")); r.code != 0 || !strings.Contains(r.stdout, "          | panic: out of memory\n") {
		t.Errorf("node status: exit %d, no log tail:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// nopReporter accepts every report.
type nopReporter struct{}

func (nopReporter) Report(context.Context, *status.NodeStatus) error { return nil }
