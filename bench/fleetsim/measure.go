package fleetsim

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitfleet/gitfleet/source"
)

// counters are the fleet's, summed over its agents.
type counters struct {
	passes, gitPolls atomic.Int64
	held, failed     atomic.Int64 // passes held by a rollout gate; failed otherwise (transient)
	conflicts        atomic.Int64 // status pushes refused because the ref moved
	reportErrs       atomic.Int64 // status reports that failed (timed out, refused)
	resent           atomic.Int64 // status pushes sent again: the kept-alive connection was closed under them
	gatesAttested    atomic.Int64 // rollout gates opened on the attesters' word
	gatesRead        atomic.Int64 // rollout gates opened by reading the awaited wave
	pushes           atomic.Int64
	opBytes          [len(ops)]atomic.Int64 // the agents' own count of their git bytes, by op
	mu               sync.Mutex
	pushLatency      []time.Duration
	firstErrs        []string
	failedAt         []time.Time // when each failed pass ended
	gateHeld         bool
	subjects         []subject // every status commit's subject, in order
}

// ops are the git exchanges the agents count their bytes by.
var ops = [...]source.Op{source.OpPoll, source.OpFetch, source.OpPush, source.OpReports, source.OpHeadURL, source.OpOther}

// traffic counts an agent's git bytes by op (source.Traffic).
func (c *counters) traffic(op source.Op, sent, received int64) {
	for i, o := range ops {
		if o == op {
			c.opBytes[i].Add(sent + received)
			return
		}
	}
	c.opBytes[len(ops)-1].Add(sent + received)
}

func (c *counters) opBytesNow() [len(ops)]int64 {
	var out [len(ops)]int64
	for i := range ops {
		out[i] = c.opBytes[i].Load()
	}
	return out
}

// subject is a status commit's subject line and when it was pushed.
type subject struct {
	at   time.Time
	line string
}

func (c *counters) subject(line string) {
	c.mu.Lock()
	c.subjects = append(c.subjects, subject{time.Now(), line})
	c.mu.Unlock()
}

// subjectsBetween returns what the status commits pushed between a and b
// reported (their subjects without the node's name), with counts.
func (c *counters) subjectsBetween(a, b time.Time) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, s := range c.subjects {
		if s.at.After(a) && s.at.Before(b) {
			_, what, _ := strings.Cut(s.line, ": ")
			out[what]++
		}
	}
	return out
}

// failedBy counts the failed passes after from, by interval since it, up
// to the last that had any.
func (c *counters) failedBy(from time.Time, interval time.Duration) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for _, t := range c.failedAt {
		if t.Before(from) {
			continue
		}
		i := int(t.Sub(from) / interval)
		for len(out) <= i {
			out = append(out, 0)
		}
		out[i]++
	}
	return out
}

func (c *counters) pushed(d time.Duration) {
	c.pushes.Add(1)
	c.mu.Lock()
	c.pushLatency = append(c.pushLatency, d)
	c.mu.Unlock()
}

// noteErr keeps the first few failures for the report.
func (c *counters) noteErr(node string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failedAt = append(c.failedAt, time.Now())
	if len(c.firstErrs) < 5 {
		c.firstErrs = append(c.firstErrs, node+": "+err.Error())
	}
}

// snapshot is the counters at one moment, with the server's CPU time and
// the bytes on the wire.
type snapshot struct {
	at                                  time.Time
	passes, gitPolls, pushes, conflicts int64
	failed, held                        int64
	cpu, self                           time.Duration // the server's, this process's
	bytes                               int64
	opBytes                             [len(ops)]int64
}

func (s snapshot) sub(o snapshot) snapshot {
	d := snapshot{at: s.at, passes: s.passes - o.passes, gitPolls: s.gitPolls - o.gitPolls, pushes: s.pushes - o.pushes,
		conflicts: s.conflicts - o.conflicts, failed: s.failed - o.failed, held: s.held - o.held, cpu: s.cpu - o.cpu, self: s.self - o.self, bytes: s.bytes - o.bytes,
		opBytes: s.opBytes}
	for i := range ops {
		d.opBytes[i] -= o.opBytes[i]
	}
	return d
}

// percentile of xs (p in [0, 100]), nearest rank.
func percentile(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
