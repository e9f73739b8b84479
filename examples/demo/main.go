// Command demo is what `make demo` runs: on one machine it starts a private
// containerd, an embedded OCI registry and a local fleet repo made from
// examples/fleet-repo, builds the model-server image, runs fleetd, shows the
// model answering, then commits a new model version, shows the update and
// prints the node's status history from Git. It cleans up after itself.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	fleetd := flag.String("fleetd", "bin/fleetd", "path of the fleetd binary")
	keep := flag.Bool("keep", false, "leave the temp dir in place for inspection")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	d := &demo{fleetd: *fleetd, keep: *keep}
	err := d.run(ctx)
	d.cleanup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		if d.logFile != "" {
			if b, rerr := os.ReadFile(d.logFile); rerr == nil {
				fmt.Fprintf(os.Stderr, "--- fleetd log ---\n%s", b)
			}
		}
		os.Exit(1)
	}
}
