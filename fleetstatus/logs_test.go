package fleetstatus_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fleetstatus"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/status"
)

// TestFailingWorkloadLogs: the end of a failing workload's log, as its
// node reported it, is in every output: the last lines in text and
// Markdown, the whole tail in JSON and on the page (escaped, rendered by
// Chromium).
func TestFailingWorkloadLogs(t *testing.T) {
	r, head := newRolloutFleet(t)
	code := 3
	var tail strings.Builder
	for i := range 15 {
		tail.WriteString("step " + string(rune('a'+i)) + "\n")
	}
	tail.WriteString("model-server: load model: <weights.json> not found")
	w := status.Workload{Name: "trainer", Image: "127.0.0.1:5000/models/trainer:v1@" + digestV1, State: status.StateFailed,
		Restarts: 4, ExitCode: &code, Message: "crash loop (exit codes [3 3 3 3])", LogTail: tail.String()}
	writeStatusRefs(t, r.BareDir, []statusReport{{"press-09", time.Minute,
		report("press-09", head, head, status.Condition{Type: "Ready", Status: "False", Reason: "Progressing"}, w), nil}})
	f := collect(t, fleetstatus.Options{Repo: loc(t, gittest.FileURL(r.BareDir))})

	var text, md, js, page bytes.Buffer
	if err := f.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"press-09 trainer (failed, exit 3, 4 restarts):\n",
		"    | step g\n",
		"    | model-server: load model: <weights.json> not found\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "| step f\n") {
		t.Errorf("text shows more than the last lines:\n%s", text.String())
	}
	if err := f.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "Log of <b>trainer</b> on <b>press-09</b>") || !strings.Contains(md.String(), "<weights.json> not found\n```") {
		t.Errorf("markdown lacks the log:\n%s", md.String())
	}
	if err := f.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"logTail": "step a\nstep b`) {
		t.Errorf("JSON lacks the whole log tail:\n%s", js.String())
	}
	if err := f.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fleet.html")
	if err := os.WriteFile(path, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := string(chromium(t, path, "--dump-dom"))
	want := `<details class="log" data-workload="trainer"><summary>log of trainer</summary><pre>step a`
	if !strings.Contains(dom, want) || !strings.Contains(dom, "&lt;weights.json&gt; not found</pre>") || strings.Contains(dom, "<weights.json>") {
		t.Errorf("rendered DOM lacks the escaped log %s…", want)
	}
}
