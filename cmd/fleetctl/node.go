package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gitfleet/gitfleet/status"
)

// defaultAgentAddr is fleetd's default --listen.
const defaultAgentAddr = "127.0.0.1:9472"

func newNodeCmd() *cobra.Command {
	var addr string
	node := &cobra.Command{
		Use:   "node",
		Short: "Talk to the fleetd on this machine through its local API",
		Long: `node talks to the fleetd running on this machine, through the local API it
serves at --listen (default ` + defaultAgentAddr + `; unix:PATH or an absolute path
for a unix socket). It exits 3 when fleetd cannot be reached.`,
	}
	node.PersistentFlags().StringVar(&addr, "addr", defaultAgentAddr, "fleetd's --listen address: host:port, unix:PATH or an absolute socket path")
	var out *outputFlag
	st := &cobra.Command{
		Use:   "status",
		Short: "Show this node's current report: revision, readiness, workloads",
		Args:  cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			body, err := agentCall(cmd.Context(), addr, http.MethodGet, "/status")
			if err != nil {
				return err
			}
			if out.value == outJSON {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			var ns status.NodeStatus
			if err := json.Unmarshal(body, &ns); err != nil {
				return fmt.Errorf("fleetd at %s: /status: %w", addr, err)
			}
			printNodeStatus(cmd.OutOrStdout(), &ns)
			return nil
		}),
	}
	out = addOutputFlag(st, outText, outJSON)
	sync := &cobra.Command{
		Use:   "sync",
		Short: "Make fleetd poll and apply now instead of at its next interval",
		Args:  cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if _, err := agentCall(cmd.Context(), addr, http.MethodPost, "/sync"); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "sync requested")
			return nil
		}),
	}
	node.AddCommand(st, sync)
	return node
}

// agentCall makes one request to fleetd's local API.
func agentCall(ctx context.Context, addr, method, path string) ([]byte, error) {
	tr := &http.Transport{}
	if p, ok := strings.CutPrefix(addr, "unix:"); ok || strings.HasPrefix(addr, "/") {
		if !ok {
			p = addr
		}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", p)
		}
		addr = "fleetd"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, nil)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, &exitError{code: exitUnreachable, err: fmt.Errorf("fleetd unreachable: %w", err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, &exitError{code: exitUnreachable, err: err}
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("fleetd %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

func printNodeStatus(w io.Writer, ns *status.NodeStatus) {
	st := ns.Status
	fmt.Fprintf(w, "node      %s\n", ns.Metadata.Name)
	fmt.Fprintf(w, "applied   %s\n", orNone(st.AppliedRevision))
	fmt.Fprintf(w, "observed  %s\n", orNone(st.ObservedRevision))
	if c := st.Condition(status.ConditionReady); c != nil {
		fmt.Fprintf(w, "ready     %s %s %s\n", c.Status, c.Reason, c.Message)
	}
	for _, wl := range st.Workloads {
		fmt.Fprintf(w, "workload  %s  %s %s restarts=%d  %s\n", wl.Name, wl.State, wl.Health, wl.Restarts, wl.Image)
		if wl.Message != "" {
			fmt.Fprintf(w, "          %s\n", wl.Message)
		}
		if wl.LogTail != "" {
			fmt.Fprintf(w, "          log (end):\n")
			for _, line := range strings.Split(wl.LogTail, "\n") {
				fmt.Fprintf(w, "          | %s\n", line)
			}
		}
	}
	for _, e := range st.Errors {
		fmt.Fprintf(w, "error     %s\n", e.Reason)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
