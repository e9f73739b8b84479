package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gitfleet/gitfleet/review"
)

// fleetctlLines returns the fleetctl command lines of shell scripts.
func fleetctlLines(scripts []string) []string {
	var out []string
	for _, s := range scripts {
		for _, line := range strings.Split(s, "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "fleetctl ") {
				out = append(out, line)
			}
		}
	}
	return out
}

// shellArgs splits a command line as sh would for these simple lines:
// words, double-quoted words with $VAR expanded from env, and nothing
// after a redirection or an operator (>, |, ||, &&).
func shellArgs(line string, env map[string]string) []string {
	var args []string
	var cur strings.Builder
	inWord, quoted := false, false
	flush := func() {
		if inWord {
			args = append(args, os.Expand(cur.String(), func(k string) string { return env[k] }))
		}
		cur.Reset()
		inWord = false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"':
			quoted, inWord = !quoted, true
		case !quoted && (c == ' ' || c == '\t'):
			flush()
		case !quoted && !inWord && (c == '>' || c == '|' || c == '&'):
			flush()
			return args
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return args
}

// runCI runs the fleetctl commands of a CI file in the fixture's work
// tree with BASE and HEAD set to the pull request's commits.
func runCI(t *testing.T, f *fixture, lines []string) {
	t.Helper()
	if len(lines) < 2 {
		t.Fatalf("found %d fleetctl command lines, want validate and plan at least: %q", len(lines), lines)
	}
	env := map[string]string{"BASE": f.base, "HEAD": f.head}
	t.Chdir(f.repo.Dir)
	var sawPlan bool
	for _, line := range lines {
		args := shellArgs(line, env)[1:]
		r := fleetctl(t, args...)
		if r.code != 0 {
			t.Errorf("%s: exit %d\n%s%s", line, r.code, r.stdout, r.stderr)
			continue
		}
		if len(args) > 0 && args[0] == "plan" {
			sawPlan = true
			if !strings.HasPrefix(r.stdout, review.MarkdownMarker) || !strings.Contains(r.stdout, "| 2 of 4 |") {
				t.Errorf("%s wrote:\n%s", line, r.stdout)
			}
		}
	}
	if !sawPlan {
		t.Error("no fleetctl plan in the CI file")
	}
}

// TestGitHubWorkflow runs the fleetctl commands of the example repo's
// GitHub workflow against a pull request built from the example.
func TestGitHubWorkflow(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(exampleRepo, ".github", "workflows", "fleet.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]struct {
			Steps []struct {
				Run  string            `json:"run"`
				Env  map[string]string `json:"env"`
				Uses string            `json:"uses"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatal(err)
	}
	var scripts []string
	for _, job := range wf.Jobs {
		for _, s := range job.Steps {
			scripts = append(scripts, s.Run)
			for k, v := range s.Env {
				if (k == "BASE" || k == "HEAD") && !strings.Contains(v, "github.event.pull_request") {
					t.Errorf("env %s = %q, want the pull request's commit", k, v)
				}
			}
		}
	}
	lines := fleetctlLines(scripts)
	if !strings.Contains(strings.Join(lines, "\n"), "validate --output github") {
		t.Errorf("the workflow does not validate with annotations: %q", lines)
	}
	runCI(t, newFixture(t), lines)
}

// TestGitLabCI does the same for the example repo's .gitlab-ci.yml.
func TestGitLabCI(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(exampleRepo, ".gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var ci map[string]any
	if err := yaml.Unmarshal(data, &ci); err != nil {
		t.Fatal(err)
	}
	var scripts []string
	for _, job := range ci {
		m, ok := job.(map[string]any)
		if !ok {
			continue
		}
		for _, key := range []string{"before_script", "script"} {
			for _, s := range asSlice(m[key]) {
				scripts = append(scripts, s.(string))
			}
		}
	}
	runCI(t, newFixture(t), fleetctlLines(scripts))
}
