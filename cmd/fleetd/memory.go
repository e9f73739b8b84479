package main

import (
	"os"
	"runtime/debug"
)

// gcPercent is the agent's GOGC unless the environment sets one. An idle
// agent's live heap is a few MiB: collecting when it grew by half instead
// of Go's default doubling keeps about 2 MiB less anonymous memory resident
// (bench/RESULTS.md, idle memory), for a collection a little more often.
const gcPercent = 50

// tuneGC applies gcPercent unless GOGC is set.
func tuneGC() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(gcPercent)
	}
}
