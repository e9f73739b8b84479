package packaging_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/spec"
)

// exampleRepo is examples/fleet-repo, whose CI files are under test.
var exampleRepo = filepath.Join(repoRoot, "examples", "fleet-repo")

// pullRequest is the example fleet repo in git with a pull request: from
// base, branch pr moves line A to defect-classifier v2; after it branched,
// main moved on (vibration-anomaly v2 on line B). A plan from main's tip
// to the PR's head would show line B going back to v1.
type pullRequest struct {
	dir                   string // work tree, checked out at the PR's head
	base, mainTip, prHead string
}

var exampleImage = regexp.MustCompile(`127\.0\.0\.1:5000/models/([a-z-]+)@sha256:[0-9a-f]{64}`)

func newPullRequest(t *testing.T) *pullRequest {
	t.Helper()
	host := ocitest.NewRegistry(t)
	// The fleet's image key signs every image (plan checks signatures).
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	img := func(repo string) string {
		ref := ocitest.RandomImage(t, host, "models/"+repo)
		opts := image.Options{Registries: []spec.Registry{{Host: host, PlainHTTP: true}}}
		if err := image.SignLegacy(t.Context(), ref, key, opts); err != nil {
			t.Fatal(err)
		}
		return ref
	}
	v1 := map[string]string{"defect-classifier": img("defect-classifier"), "vibration-anomaly": img("vibration-anomaly")}
	repo := gittest.NewRepo(t)
	err = filepath.WalkDir(exampleRepo, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(exampleRepo, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s := exampleImage.ReplaceAllStringFunc(string(b), func(m string) string {
			return v1[exampleImage.FindStringSubmatch(m)[1]]
		})
		repo.Write(filepath.ToSlash(rel), strings.ReplaceAll(s, "127.0.0.1:5000", host))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	repo.Write("trust/cosign.pub", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})))
	pr := &pullRequest{dir: repo.Dir, base: repo.Commit("example fleet")}

	git := func(args ...string) string { return strings.TrimSpace(gittest.Git(t, repo.Dir, args...)) }
	git("checkout", "-q", "-b", "pr")
	repo.Write("groups/line-a.yaml", readFile(t, filepath.Join(repo.Dir, "groups/line-a.yaml"))+
		"  overrides:\n    defect-classifier: {image: "+img("defect-classifier")+"}\n")
	git("commit", "-q", "-am", "line-a: defect-classifier v2")
	pr.prHead = git("rev-parse", "HEAD")

	git("checkout", "-q", "main")
	vib := filepath.Join(repo.Dir, "workloads/vibration-anomaly.yaml")
	repo.Write("workloads/vibration-anomaly.yaml", strings.Replace(readFile(t, vib), v1["vibration-anomaly"], img("vibration-anomaly"), 1))
	pr.mainTip = repo.Commit("vibration-anomaly v2")
	git("checkout", "-q", "--detach", pr.prHead)
	return pr
}

// serveRelease serves the test release as a release server would:
// <url>/<version>/<file>.
func serveRelease(t *testing.T, version string) string {
	t.Helper()
	srv := httptest.NewServer(http.StripPrefix("/"+version, http.FileServer(http.Dir(dist))))
	t.Cleanup(srv.Close)
	return srv.URL
}

// checkPlan checks what the CI wrote to plan.md: the PR's change on line
// A's nodes and nothing of what main did since the PR branched.
func checkPlan(t *testing.T, pr *pullRequest) {
	t.Helper()
	planMD := readFile(t, filepath.Join(pr.dir, "plan.md"))
	if !strings.HasPrefix(planMD, plan.MarkdownMarker) || !strings.Contains(planMD, "press-01") || !strings.Contains(planMD, "| 2 of 4 |") {
		t.Errorf("plan.md does not show line A's two nodes changing:\n%s", planMD)
	}
	if strings.Contains(planMD, "oven-01") || strings.Contains(planMD, "vibration-anomaly") {
		t.Errorf("plan.md shows main's later change (vibration-anomaly on line B) as part of the pull request:\n%s", planMD)
	}
	// The fixture does tell the two apart: from main's tip, line B reverts.
	out, _ := exec.Command(filepath.Join(dist, "fleetctl-linux-amd64"), "plan", "--repo", pr.dir, "--base", pr.mainTip, "--head", pr.prHead).CombinedOutput()
	if !strings.Contains(string(out), "oven-01") {
		t.Errorf("a plan from main's tip does not show line B reverting, so this test proves nothing:\n%s", out)
	}
}

// TestGitHubWorkflow runs the run: steps of the example repo's GitHub
// workflow with bash as a runner would (RUNNER_TEMP, GITHUB_PATH,
// GITHUB_STEP_SUMMARY), the release served locally at the workflow's
// version; only FLEETCTL_RELEASES, the server's address, is replaced.
func TestGitHubWorkflow(t *testing.T) {
	var wf struct {
		Env  map[string]string `json:"env"`
		Jobs map[string]struct {
			Steps []struct {
				Name string            `json:"name"`
				Run  string            `json:"run"`
				Uses string            `json:"uses"`
				Env  map[string]string `json:"env"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(exampleRepo, ".github/workflows/fleet.yml"))), &wf); err != nil {
		t.Fatal(err)
	}
	pr := newPullRequest(t)
	runner := t.TempDir()
	pathFile, summary := filepath.Join(runner, "github_path"), filepath.Join(runner, "step_summary")
	env := map[string]string{
		"RUNNER_TEMP": filepath.Join(runner, "temp"), "GITHUB_PATH": pathFile, "GITHUB_STEP_SUMMARY": summary,
		"GITHUB_WORKSPACE": pr.dir, "CI": "true", "PATH": os.Getenv("PATH"),
	}
	for k, v := range wf.Env {
		env[k] = v
	}
	env["FLEETCTL_RELEASES"] = serveRelease(t, wf.Env["FLEETCTL_VERSION"])
	os.MkdirAll(env["RUNNER_TEMP"], 0o755)
	expr := strings.NewReplacer(
		"${{ github.event.pull_request.base.sha }}", pr.mainTip,
		"${{ github.event.pull_request.head.sha }}", pr.prHead)

	var ran []string
	for _, job := range wf.Jobs {
		for _, step := range job.Steps {
			if step.Run == "" {
				continue // actions/checkout is pr.dir; github-script posts plan.md
			}
			stepEnv := map[string]string{}
			for k, v := range env {
				stepEnv[k] = v
			}
			for k, v := range step.Env {
				stepEnv[k] = expr.Replace(v)
			}
			if p, err := os.ReadFile(pathFile); err == nil {
				for _, dir := range strings.Fields(string(p)) {
					stepEnv["PATH"] = dir + ":" + stepEnv["PATH"]
				}
			}
			out := runScript(t, pr.dir, stepEnv, expr.Replace(step.Run))
			ran = append(ran, step.Name)
			if step.Name == "Install fleetctl" && !strings.Contains(out, "fleetctl "+releaseVersion+" ") {
				t.Errorf("the installed fleetctl is not the release's:\n%s", out)
			}
		}
	}
	if len(ran) < 3 {
		t.Fatalf("ran steps %q, want install, validate and plan", ran)
	}
	checkPlan(t, pr)
	if s := readFile(t, summary); !strings.HasPrefix(s, plan.MarkdownMarker) {
		t.Errorf("the step summary does not hold the plan:\n%s", s)
	}
}

// TestGitLabCI runs the example repo's .gitlab-ci.yml job as a GitLab
// runner would (before_script and script in one shell) for a merge
// request, without its apt-get line; only FLEETCTL_RELEASES is replaced.
func TestGitLabCI(t *testing.T) {
	var ci map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(exampleRepo, ".gitlab-ci.yml"))), &ci); err != nil {
		t.Fatal(err)
	}
	job, ok := ci["fleet"].(map[string]any)
	if !ok {
		t.Fatal("no job fleet in .gitlab-ci.yml")
	}
	pr := newPullRequest(t)
	env := map[string]string{
		"CI": "true", "CI_PROJECT_DIR": pr.dir, "CI_PIPELINE_SOURCE": "merge_request_event",
		"CI_COMMIT_SHA": pr.prHead, "CI_MERGE_REQUEST_TARGET_BRANCH_SHA": pr.mainTip,
		"CI_MERGE_REQUEST_DIFF_BASE_SHA": pr.base, "TMPDIR": t.TempDir(),
	}
	for _, vars := range []any{ci["variables"], job["variables"]} {
		m, _ := vars.(map[string]any)
		for k, v := range m {
			env[k] = os.Expand(fmt.Sprint(v), func(k string) string { return env[k] })
		}
	}
	env["FLEETCTL_RELEASES"] = serveRelease(t, env["FLEETCTL_VERSION"])
	var lines []string
	for _, key := range []string{"before_script", "script"} {
		list, _ := job[key].([]any)
		for _, l := range list {
			if s := l.(string); !strings.HasPrefix(s, "apt-get ") {
				lines = append(lines, s)
			}
		}
	}
	// The job runs on this machine, not in a throwaway container: it must
	// write nothing outside its temporary folder and the project (an
	// earlier version installed the test release into /usr/local/bin).
	before := dirNames(t, "/usr/local/bin")
	lines = append(lines, `echo "fleetctl is $(command -v fleetctl)"`)
	out := runScript(t, pr.dir, env, strings.Join(lines, "\n"))
	if !strings.Contains(out, "fleetctl "+releaseVersion+" ") {
		t.Errorf("the job's fleetctl is not the release's:\n%s", out)
	}
	if !strings.Contains(out, "fleetctl is "+env["TMPDIR"]+"/") {
		t.Errorf("the job did not run fleetctl from its temporary folder %s:\n%s", env["TMPDIR"], out)
	}
	if after := dirNames(t, "/usr/local/bin"); !slices.Equal(before, after) {
		t.Errorf("the job changed /usr/local/bin: %q before, %q after", before, after)
	}
	checkPlan(t, pr)
}

// runScript runs script with bash -eo pipefail in dir, with the machine's
// PATH and HOME plus env, and returns its output; a failure fails t.
func runScript(t *testing.T, dir string, env map[string]string, script string) string {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH"), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script failed: %v\n--- script\n%s\n--- output\n%s", err, script, out)
	}
	return string(out)
}

// dirNames lists the names in dir (none if it does not exist).
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
