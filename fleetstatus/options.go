package fleetstatus

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/source"
)

// Defaults for Options.
const (
	DefaultBranch       = "main"
	DefaultHeartbeat    = time.Hour
	DefaultOfflineAfter = 24 * time.Hour
	DefaultHistoryDepth = 100
	DefaultGroupBy      = "site"
)

// Options configures Collect. The zero value of every field but Repo has
// a documented default.
type Options struct {
	// Repo is the fleet repo (source.ParseLocation: a URL or a local
	// path). Its credentials are used and never printed.
	Repo source.Location
	// StatusRepo holds the status refs when they live in a repository of
	// their own (fleetd's --status-repo). Default (zero): Repo.
	StatusRepo source.Location
	// Branch is the tracked branch. Default "main".
	Branch string

	// Heartbeat is how often fleetd commits a report when nothing changed.
	// Default: fleet.yaml's spec.status.heartbeat at the branch head, else 1h.
	Heartbeat time.Duration
	// StaleAfter: a node whose last report is older is stale. Default 2×Heartbeat.
	StaleAfter time.Duration
	// OfflineAfter: a node whose last report is older is offline. Default
	// 24h, and never less than StaleAfter.
	OfflineAfter time.Duration
	// HistoryDepth is how many commits of the branch are fetched to count
	// how far behind each node is. An older applied revision shows as
	// "at least HistoryDepth behind". Default 100.
	HistoryDepth int
	// GroupBy is the node label that groups the HTML page and sorts the
	// tables (its value is Node.Site). Default "site".
	GroupBy string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// CommitURL is the web page of a commit, with "{commit}" for its hash
	// (https://git.example.com/plant/fleet/commit/{commit}), for the
	// links of the outputs. Default: derived from Repo (and StatusRepo)
	// on GitHub, GitLab, Gitea and Forgejo hosts; none elsewhere.
	CommitURL string
}

// withDefaults returns a copy of o with defaults filled in (Heartbeat,
// StaleAfter and OfflineAfter only when the fleet's heartbeat is known:
// see thresholds) and the rest checked.
func (o Options) withDefaults() (Options, error) {
	if o.Branch == "" {
		o.Branch = DefaultBranch
	}
	if o.HistoryDepth <= 0 {
		o.HistoryDepth = DefaultHistoryDepth
	}
	if o.GroupBy == "" {
		o.GroupBy = DefaultGroupBy
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var errs []error
	if o.Repo.IsZero() {
		errs = append(errs, errors.New("fleetstatus: no fleet repo given"))
	}
	if strings.HasPrefix(o.Branch, "refs/") || strings.ContainsAny(o.Branch, " ~^:?*[\\") {
		errs = append(errs, fmt.Errorf("fleetstatus: invalid branch %q (give a name such as main)", o.Branch))
	}
	if o.CommitURL != "" && !strings.Contains(o.CommitURL, CommitPlaceholder) {
		errs = append(errs, fmt.Errorf("fleetstatus: commit URL %q has no %s", o.CommitURL, CommitPlaceholder))
	}
	if o.Heartbeat < 0 || o.StaleAfter < 0 || o.OfflineAfter < 0 {
		errs = append(errs, errors.New("fleetstatus: heartbeat, stale and offline thresholds must not be negative"))
	}
	return o, errors.Join(errs...)
}

// thresholds fills in Heartbeat, StaleAfter and OfflineAfter; fleetBeat is
// fleet.yaml's heartbeat (0 if unknown).
func (o *Options) thresholds(fleetBeat time.Duration) {
	if o.Heartbeat == 0 {
		o.Heartbeat = fleetBeat
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.StaleAfter == 0 {
		o.StaleAfter = 2 * o.Heartbeat
	}
	if o.OfflineAfter == 0 {
		o.OfflineAfter = DefaultOfflineAfter
	}
	if o.OfflineAfter < o.StaleAfter {
		o.OfflineAfter = o.StaleAfter
	}
}
