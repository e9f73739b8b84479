package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/bench/fleetsim"
)

// The fleet simulation's own flags: fleet sizes, and the poll interval
// (default: fleetsim's, which grows with the fleet so that the shared
// 2-core machine keeps up).
var (
	simAgents   = flag.String("agents", "100,1000", "fleet simulation: comma-separated fleet sizes")
	simInterval = flag.Duration("sim-interval", 0, "fleet simulation: every node's poll interval (default 2s + 30ms per node)")
)

// projectInterval is the poll interval of the projection: fleetd's default.
const projectInterval = 30 * time.Second

// fleetSim runs bench/fleetsim for each fleet size and projects the
// largest run's per-node costs to 10,000 and 100,000 nodes.
func fleetSim(ctx context.Context, _ *env) (string, error) {
	var results []*fleetsim.Result
	for _, f := range strings.Split(*simAgents, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return "", fmt.Errorf("-agents %q: %w", *simAgents, err)
		}
		res, err := fleetsim.Run(ctx, fleetsim.Config{Agents: n, Interval: *simInterval, Progress: os.Stderr})
		if res == nil {
			return "", fmt.Errorf("%d agents: %w", n, err)
		}
		if err != nil {
			// A fleet that did not converge is a result too: the table
			// says how far it got and why.
			res.Err = err.Error()
			fmt.Fprintf(os.Stderr, "bench: fleetsim %d agents: %v\n", n, err)
		}
		results = append(results, res)
		// The raw figures, should the section be written anew.
		if raw, err := json.Marshal(res); err == nil {
			fmt.Fprintf(os.Stderr, "fleetsim result: %s\n", raw)
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
	}
	return simMarkdown(results), nil
}
