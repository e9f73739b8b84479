package reconciler

import "time"

// PassResult is what one pass did, as an Observer sees it.
type PassResult struct {
	Start    time.Time
	Duration time.Duration
	// Revision is the revision applied in full after the pass ("" before
	// the first).
	Revision string
	// Actions is how many container actions the pass took.
	Actions int
	// NoOp is true when the branch had not moved and nothing was done.
	NoOp bool
	// Err is the pass's error; fault.ClassOf says its class.
	Err error
}

// Observer is told about every pass, for metrics or a local API. It runs
// on the reconciler's goroutine and must not block. The reconciler knows
// nothing of how it is exported.
type Observer interface {
	ObservePass(PassResult)
}
