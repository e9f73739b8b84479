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
	simInterval = flag.Duration("sim-interval", 0, "fleet simulation: every node's poll interval (default 30ms per node, at least 6s)")
	simWeight   = flag.Int("sim-server-weight", 0, "fleet simulation: the server's CPU priority over the agents, in processes' shares (default 10; 1 shares the cores evenly)")
	simFrom     = flag.String("fleetsim-results", "", "fleet simulation: write the section from the raw results an earlier run logged to stderr (lines \"fleetsim result: {…}\") instead of running")
)

// resultPrefix starts the line with one run's raw figures on stderr.
const resultPrefix = "fleetsim result: "

// projectInterval is the poll interval of the projection: fleetd's default.
const projectInterval = 30 * time.Second

// fleetSim runs bench/fleetsim for each fleet size and projects the
// largest run's per-node costs to 10,000 and 100,000 nodes.
func fleetSim(ctx context.Context, _ *env) (string, error) {
	if *simFrom != "" {
		return simFromLog(*simFrom)
	}
	var results []*fleetsim.Result
	for _, f := range strings.Split(*simAgents, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return "", fmt.Errorf("-agents %q: %w", *simAgents, err)
		}
		res, err := fleetsim.Run(ctx, fleetsim.Config{Agents: n, Interval: *simInterval, ServerWeight: *simWeight, Progress: os.Stderr})
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
			fmt.Fprintf(os.Stderr, "%s%s\n", resultPrefix, raw)
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
	}
	return simMarkdown(results), nil
}

// simFromLog writes the section from the results logged in file.
func simFromLog(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	var results []*fleetsim.Result
	for line := range strings.SplitSeq(string(data), "\n") {
		raw, ok := strings.CutPrefix(line, resultPrefix)
		if !ok {
			continue
		}
		var r fleetsim.Result
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return "", fmt.Errorf("%s: %w", file, err)
		}
		results = append(results, &r)
	}
	if len(results) == 0 {
		return "", fmt.Errorf("%s: no line starting %q", file, resultPrefix)
	}
	info, err := os.Stat(file)
	if err != nil {
		return "", err
	}
	md := simMarkdown(results)
	heading, body, _ := strings.Cut(md, "\n")
	return heading + "\n\n" + fmt.Sprintf("_Figures of the run that logged them, finished %s; written from its log._\n", info.ModTime().UTC().Format(time.RFC3339)) + body, nil
}
