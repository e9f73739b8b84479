package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// report builds the node's status from the runtime and the pass's error and
// hands it to the Reporter. Its own error is returned, never logged.
//
// A runtime that cannot list its containers (containerd died after the
// pass's actions) leaves the report unable to say what runs: that failure
// joins the pass's error, in the report as in what report returns, so
// the pass is transient (`fleetd --once` exits 1, the loop retries soon)
// instead of a success whose report shows an error and no workload.
func (r *Reconciler) report(ctx context.Context, passErr error) error {
	if r.readySince.IsZero() {
		r.resumeReady(ctx)
	}
	actual, err := r.deps.Runtime.List(ctx)
	var listErr error
	if le := (*ListError)(nil); err != nil && !errors.As(passErr, &le) {
		listErr = &ListError{When: "for the report", Err: err}
		passErr = errors.Join(passErr, listErr)
	}
	st := &status.NodeStatus{
		APIVersion: status.APIVersion,
		Kind:       status.Kind,
		Metadata:   status.Meta{Name: r.cfg.Node},
		Status: status.Status{
			ObservedRevision:     r.observed,
			AppliedRevision:      r.applied,
			LastSeen:             r.deps.Now().UTC(),
			VerificationDisabled: r.deps.Commits == nil && r.cfg.InsecureSkipVerify,
			Poll:                 r.pollStatus(),
			Errors:               StatusErrors(passErr),
			Gates:                r.attestations(),
		},
	}
	ready, rolledBack := 0, 0
	if r.current != nil {
		st.Status.Workloads, ready = r.workloads(r.effective(r.current), actual)
		for _, d := range r.current.desired {
			if f, ok := r.failed[d.Name]; ok && f.Hash == d.Hash {
				rolledBack++
				st.Status.Errors = append(st.Status.Errors, status.Error{Ref: f.Image, Reason: f.String(d.Name)})
			}
		}
	} else if err == nil {
		st.Status.Workloads, ready = r.workloads(runningDesired(actual), actual)
	}
	c := r.ready(passErr, ready, len(st.Status.Workloads), rolledBack)
	var saveErr error
	before := r.outage
	if before != nil {
		b := *before
		before = &b
	}
	st.Status.Outage = r.trackOutage(passErr, st.Status.LastSeen)
	if outageMoved(before, r.outage) {
		// Kept in the state file too: the git server may be what is down.
		saveErr = r.save()
	}
	if c.Status != r.readyStatus || r.changed || r.readySince.IsZero() {
		r.readyStatus, r.readySince = c.Status, st.Status.LastSeen
	}
	c.LastTransitionTime = r.readySince
	st.Status.Conditions = []status.Condition{c}
	if err := r.deps.Reporter.Report(ctx, st); err != nil {
		return errors.Join(listErr, fmt.Errorf("report status: %w", err), saveErr)
	}
	return errors.Join(listErr, saveErr)
}

// resumeReady takes the Ready condition of the node's own last report, so
// that an agent restart does not look like a transition to the nodes of
// the next rollout wave.
func (r *Reconciler) resumeReady(ctx context.Context) {
	if r.deps.Reports == nil {
		return
	}
	reports, err := r.deps.Reports.Reports(ctx, []string{r.cfg.Node}, nil)
	if err != nil || reports[r.cfg.Node] == nil {
		return
	}
	r.resumeOutage(reports[r.cfg.Node])
	r.resumed = map[string]status.Workload{}
	for _, w := range reports[r.cfg.Node].Status.Workloads {
		r.resumed[w.Name] = w
	}
	if c := reports[r.cfg.Node].Status.Condition(status.ConditionReady); c != nil {
		r.readyStatus, r.readySince = c.Status, c.LastTransitionTime
	}
}

// workloads describes each desired workload from the runtime's view.
func (r *Reconciler) workloads(desired []spec.Desired, actual []status.Instance) ([]status.Workload, int) {
	byName := instancesByWorkload(actual)
	out := make([]status.Workload, 0, len(desired))
	ready := 0
	for _, d := range desired {
		w := status.Workload{Name: d.Name, Image: d.Spec.Image, State: status.StateMissing, Restarts: r.restarts[d.Name],
			Message: r.acted[d.Name]}
		if r.deps.Supervisor != nil {
			var exits []int
			w.Restarts, exits = r.deps.Supervisor.Restarts(d.Name)
			if r.deps.Supervisor.CrashLoop(d.Name) && w.Message == "" {
				w.Message = fmt.Sprintf("crash loop (exit codes %v)", exits)
			}
		}
		if r.deps.Health != nil {
			var msg string
			if w.Health, msg = r.deps.Health.Health(d.Name); w.Health == "unhealthy" && w.Message == "" {
				w.Message = msg
			}
		}
		if f, ok := r.failed[d.Name]; ok && f.To == d.Spec.Image {
			w.Message = f.String(d.Name)
		}
		if in, ok := byName[d.Name]; ok {
			w.State = in.State
			if in.SpecHash != d.Hash {
				w.State = status.StatePending
				w.Message = "running an older spec"
			}
			if in.State != status.StateRunning {
				code := in.ExitCode
				w.ExitCode = &code
			}
		}
		r.carryOver(&w)
		if w.State == status.StateRunning && (w.Health == "" || w.Health == "healthy") {
			ready++
		}
		if r.deps.Logs != nil && failing(w) {
			w.LogTail = r.deps.Logs.LogTail(d)
		}
		out = append(out, w)
	}
	return out, ready
}

// carryOver keeps what the node's last report said of a workload that
// still runs the same image when the agent's own view restarted with it:
// a health verdict not yet made again ("starting" after the monitor
// started anew) stays the last one, and restarts counted since the agent
// started add to those reported before. Once the monitor has a verdict,
// it is reported as is.
func (r *Reconciler) carryOver(w *status.Workload) {
	prev, ok := r.resumed[w.Name]
	if !ok {
		return
	}
	if prev.Image != w.Image || w.State != status.StateRunning {
		delete(r.resumed, w.Name)
		return
	}
	w.Restarts += prev.Restarts
	switch {
	case w.Health == "starting" && prev.Health != "":
		w.Health = prev.Health
	case w.Health != "starting":
		// A verdict of this run: from now on it speaks.
		prev.Health = ""
		r.resumed[w.Name] = prev
	}
}

// failing reports whether w is a workload whose log tail belongs in the
// report: exited (stopped, failed), unhealthy or crash looping.
func failing(w status.Workload) bool {
	switch w.State {
	case status.StateRunning:
		return w.Health == "unhealthy" || strings.HasPrefix(w.Message, "crash loop")
	case status.StateStopped, status.StateFailed:
		return true
	}
	return false
}

func (r *Reconciler) ready(passErr error, ready, total, rolledBack int) status.Condition {
	c := status.Condition{Type: status.ConditionReady, Status: status.ConditionTrue, Reason: status.ReasonApplied,
		Message: fmt.Sprintf("%d/%d workloads running and healthy", ready, total)}
	class := fault.ClassOf(passErr)
	switch {
	case passErr != nil && class == fault.Held:
		c.Status, c.Reason = status.ConditionFalse, status.ReasonWaiting
		if h := find(passErr, fault.Held); h != nil {
			c.Message = h.Err.Error() + "; " + c.Message
		}
	case rolledBack > 0 && (passErr == nil || onlyRollbacks(passErr)):
		c.Status, c.Reason = status.ConditionFalse, status.ReasonRolledBack
		c.Message = fmt.Sprintf("%d workload(s) rolled back to their last known good version; %s", rolledBack, c.Message)
	case passErr != nil && class == fault.Refused:
		c.Status, c.Reason = status.ConditionFalse, status.ReasonRefused
		if r.refused != "" {
			c.Message = fmt.Sprintf("revision %s refused; %s", short(r.refused), c.Message)
		}
	case passErr != nil:
		c.Status, c.Reason = status.ConditionFalse, status.ReasonRetrying
	case ready < total:
		c.Status, c.Reason = status.ConditionFalse, status.ReasonProgressing
	}
	return c
}

// StatusErrors flattens err into report entries: a spec error keeps its
// file, line and field; a refused revision names its commit as the ref.
// Held revisions (in the Ready condition) and rollbacks (reported from the
// failure record, which outlives the pass) are left out.
func StatusErrors(err error) []status.Error {
	out := []status.Error{}
	var walk func(err error, ref string)
	walk = func(err error, ref string) {
		var rb *RollbackError
		var se *spec.Error
		switch e := err.(type) {
		case nil, *RollbackError:
			return
		case *fault.Error:
			if e.Class == fault.Held {
				return
			}
			if ref == "" {
				ref = e.Ref
			}
			walk(e.Err, ref)
			return
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner, ref)
			}
			return
		}
		switch {
		case errors.As(err, &rb), fault.ClassOf(err) == fault.Held:
		case errors.As(err, &se):
			out = append(out, status.Error{File: se.File, Line: se.Line, Field: se.Field, Ref: ref, Reason: se.Err.Error()})
		default:
			out = append(out, status.Error{Ref: ref, Reason: err.Error()})
		}
	}
	walk(err, "")
	return out
}
