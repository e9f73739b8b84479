package source

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitfleet/gitfleet/status"

	"github.com/gitfleet/gitfleet/durable"
)

// lastReportFile, beside the writer's store, remembers the report this
// node last committed (or found on its ref) and that commit, so that a
// restarted agent, or each fleetd --once, knows without asking the remote
// whether its report changed. Should someone else move the node's ref, the
// next push is refused by the server (it checks the ref is still at the
// remembered commit), and the writer reads the ref again.
const lastReportFile = "last-report.json"

type lastReport struct {
	Ref    string    `json:"ref"`
	Commit string    `json:"commit"`
	When   time.Time `json:"when"`
	// Report is the YAML as committed; empty when the remote's report
	// could not be read (the next report replaces it).
	Report string `json:"report,omitempty"`
}

// loadLocal takes the writer's state from lastReportFile. It reports
// whether there was a usable one.
func (w *StatusWriter) loadLocal() bool {
	b, err := os.ReadFile(filepath.Join(w.cfg.Dir, lastReportFile))
	if err != nil {
		return false
	}
	var lr lastReport
	if err := json.Unmarshal(b, &lr); err != nil || lr.Ref != w.ref.String() || !plumbing.IsHash(lr.Commit) {
		return false
	}
	var last *status.NodeStatus
	if lr.Report != "" {
		if last, err = status.Unmarshal([]byte(lr.Report)); err != nil {
			return false
		}
	}
	w.last, w.head, w.when, w.loaded = last, plumbing.NewHash(lr.Commit), lr.When, true
	return true
}

// saveLocal writes the writer's state to lastReportFile: report is the
// YAML of w.last (nil when there is none). A failure costs only a read of
// the remote after the next restart: the file it could not replace (a
// full disk) is removed, since it names an older commit and report.
func (w *StatusWriter) saveLocal(report []byte) {
	b, err := json.Marshal(lastReport{Ref: w.ref.String(), Commit: w.head.String(), When: w.when, Report: string(report)})
	if err == nil {
		err = writeFileAtomic(filepath.Join(w.cfg.Dir, lastReportFile), b)
	}
	if err != nil {
		w.log.Warn("cannot remember the last status report", logErr, err)
		w.forgetLocal()
	}
}

// forgetLocal drops lastReportFile, before the remote's ref is read again.
func (w *StatusWriter) forgetLocal() {
	if err := os.Remove(filepath.Join(w.cfg.Dir, lastReportFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		w.log.Warn("cannot forget the last status report", logErr, err)
	}
}

// ownReport is Reports for the writer's own node: the report it last
// committed, which it knows without asking the remote (a restarted agent
// reads it from lastReportFile, or the remote once when that is missing).
// w.mu is held.
func (w *StatusWriter) ownReport(ctx context.Context) (map[string]*status.NodeStatus, error) {
	if !w.loaded {
		if err := w.load(ctx, false); err != nil {
			return nil, err
		}
	}
	out := map[string]*status.NodeStatus{}
	if w.last != nil {
		data, err := status.Marshal(w.last)
		if err != nil {
			return nil, err
		}
		cp, err := status.Unmarshal(data) // the caller may change it
		if err != nil {
			return nil, err
		}
		cp.Trust = status.Trust{Trusted: true, Reason: "this node's own last report"}
		out[w.cfg.Node] = cp
	}
	return out, nil
}

// writeFileAtomic replaces name with data: a crash leaves the old file or
// the new one.
func writeFileAtomic(name string, data []byte) error {
	return durable.WriteFile(name, data, 0o600)
}
