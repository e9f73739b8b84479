package reconciler

import (
	"time"

	"github.com/gitfleet/gitfleet/status"
)

// HeadHinter is a Source that can learn of new revisions from a static
// head URL (fleet.yaml spec.poll) and still asks Git for every head it
// returns. Only an applied revision's settings reach it: a revision that is
// refused cannot redirect the node's polls.
type HeadHinter interface {
	// UseHeadURL sets the URL ("" for none) and how long a head read there
	// may go unconfirmed by a git poll.
	UseHeadURL(url string, maxStale time.Duration)
}

// PollReporter is a Source that says, for the status report, how its last
// poll learned the head.
type PollReporter interface {
	PollStatus() *status.Poll
}

// staleFactor: by default a head read from the head URL is confirmed by a
// git poll at least every staleFactor poll intervals.
const staleFactor = 10

// hintHead hands the applied revision's poll settings to a Source that
// can use them.
func (r *Reconciler) hintHead() {
	h, ok := r.deps.Source.(HeadHinter)
	if !ok || r.current == nil {
		return
	}
	url, maxStale := "", time.Duration(0)
	if p := r.current.fleet.Poll; p != nil {
		url, maxStale = p.URL, p.MaxStale.Duration
	}
	if maxStale == 0 {
		maxStale = staleFactor * r.interval()
	}
	h.UseHeadURL(url, maxStale)
}

// pollStatus is the Source's account of its last poll, if it gives one.
func (r *Reconciler) pollStatus() *status.Poll {
	if p, ok := r.deps.Source.(PollReporter); ok {
		return p.PollStatus()
	}
	return nil
}
