package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/errdefs"
	gocni "github.com/containerd/go-cni"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/spec"
)

// Isolated networking (spec.NetworkIsolated), through the standard CNI
// plugins (Debian's containernetworking-plugins):
//
//   - the plugins run in containerd's network namespace (the node's), also
//     when the agent runs in one of its own;
//   - each container gets its own network namespace, bound at
//     <RunDir>/<instance>/netns/<container ID> before its first task is created, so it
//     outlives task restarts and the CNI plugins can be asked to undo their
//     work while it exists;
//   - "bridge" connects it to the host's bridge (Config.Bridge) with an
//     address from "host-local" in Config.Subnet, the bridge as gateway and
//     outgoing traffic masqueraded; "loopback" brings up lo;
//   - "portmap" maps each declared port to the same port on every host
//     interface, loopback included (DNAT, with SNAT for hairpin and local
//     traffic): clients and health probes reach it at the host's address
//     as they would with host networking, and nothing else of the
//     container is reachable from outside;
//   - a port that a host process listens on, or that another workload's
//     isolated container maps, refuses the start;
//   - when the agent stops the task (update, removal) the plugins are
//     asked to undo it (address released, port rules removed) and the
//     namespace is removed; the next start makes them again;
//   - a state file beside the namespace, <container ID>.json, records the
//     workload, the mapped ports and whether the plugins completed: a
//     namespace left half set up by a dying agent is made again, and the
//     network of a container deleted by hand is undone when the agent
//     starts or sets up another network (the plugins need the ports to
//     undo their rules);
//   - so is, from the CNI plugins' cache, the network of any agent on the
//     host that is gone with its run directory (cnicache.go): its port
//     rules would take its ports from every host listener for good.

// Defaults of the isolated network.
const (
	DefaultBridge = "gitfleet0"
	DefaultSubnet = "10.213.0.0/24"
	cniNetwork    = "gitfleet"
)

// DefaultCNIBinDirs are where the CNI plugins are looked for: Debian's
// containernetworking-plugins, then the upstream location.
var DefaultCNIBinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// netnsPath is where container id's network namespace is bound.
func (c *Containerd) netnsPath(id string) string {
	return filepath.Join(c.netnsDir(), id)
}

// cniID names container id to the CNI plugins: unique on the host even
// when several agents (each with its own containerd) share it.
func (c *Containerd) cniID(id string) string { return c.inst + "-" + id }

// cni returns the CNI handle, made at first use so that a node whose
// workloads never ask for an isolated network needs no plugins.
func (c *Containerd) cni() (gocni.CNI, error) {
	c.cniOnce.Do(func() {
		var dirs []string
		for _, d := range c.cfg.CNIBinDirs {
			if _, err := os.Stat(filepath.Join(d, "bridge")); err == nil {
				dirs = append(dirs, d)
			}
		}
		if len(dirs) == 0 {
			c.cniErr = fmt.Errorf("network %s needs the CNI plugins bridge, host-local, portmap and loopback in %s: install containernetworking-plugins",
				spec.NetworkIsolated, strings.Join(c.cfg.CNIBinDirs, " or "))
			return
		}
		n, err := gocni.New(gocni.WithPluginDir(dirs), gocni.WithInterfacePrefix("eth"), gocni.WithMinNetworkCount(2))
		if err == nil {
			err = n.Load(gocni.WithLoNetwork, gocni.WithConfListBytes(cniConfList(c.cfg.Bridge, c.cfg.Subnet)))
		}
		if err != nil {
			c.cniErr = fmt.Errorf("network %s: CNI: %w", spec.NetworkIsolated, err)
			return
		}
		c.cniNet = n
	})
	return c.cniNet, c.cniErr
}

// cniConfList is the network's CNI configuration.
func cniConfList(bridge, subnet string) []byte {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       cniNetwork,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type":   "host-local",
					"ranges": [][]map[string]string{{{"subnet": subnet}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "snat": true, "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	b, _ := json.Marshal(conf) // maps of strings, bools and slices: cannot fail
	return b
}

func portMappings(ports []int) []gocni.PortMapping {
	m := make([]gocni.PortMapping, len(ports))
	for i, p := range ports {
		m[i] = gocni.PortMapping{HostPort: int32(p), ContainerPort: int32(p), Protocol: "tcp"}
	}
	return m
}

// netState is what the agent set up for one container's network.
type netState struct {
	Workload string `json:"workload"`
	Ports    []int  `json:"ports,omitempty"`
	// Ready says the plugins completed.
	Ready bool `json:"ready"`
}

func (c *Containerd) statePath(id string) string { return c.netnsPath(id) + ".json" }

// readNetState reads container id's network state; ok is false when it
// has none.
func (c *Containerd) readNetState(id string) (st netState, ok bool) {
	b, err := os.ReadFile(c.statePath(id))
	if err != nil || json.Unmarshal(b, &st) != nil {
		return netState{}, false
	}
	return st, true
}

func (c *Containerd) writeNetState(id string, st netState) error {
	b, _ := json.Marshal(st) // a string, ints and a bool: cannot fail
	tmp := c.statePath(id) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, c.statePath(id))
}

// ensureNetwork gives container id of workload, an isolated one declaring
// ports, its network namespace with its ports mapped, unless it has it.
func (c *Containerd) ensureNetwork(ctx context.Context, workload, id string, ports []int) error {
	defer c.netLocks.lock(id)()
	path := c.netnsPath(id)
	if st, ok := c.readNetState(id); ok && st.Ready && isNetns(path) {
		return nil
	}
	if err := c.undoNetwork(ctx, id); err != nil {
		return err
	}
	n, err := c.cni()
	if err != nil {
		return fmt.Errorf("workload %s: %w", workload, err)
	}
	// A container deleted by hand leaves its network behind, its ports
	// still mapped to its address: undo it before mapping them again.
	if err := c.sweepNetworks(ctx); err != nil {
		return fmt.Errorf("workload %s: %w", workload, err)
	}
	// So does an agent gone with its run directory (cnicache.go). What
	// remains of those is refused by checkPorts.
	if err := c.sweepOrphanNetworks(ctx, n); err != nil {
		c.log.WarnContext(ctx, "runtime: networks of agents that are gone remain", "err", err)
	}
	if err := c.checkPorts(workload, ports); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("workload %s: %w", workload, err)
	}
	st := netState{Workload: workload, Ports: ports}
	if err := c.writeNetState(id, st); err != nil {
		return fmt.Errorf("workload %s: %w", workload, err)
	}
	// What was set up is undone also when ctx ended (the agent stopping):
	// a namespace left mounted would outlive the agent.
	if err := newNetns(path); err != nil {
		return errors.Join(fmt.Errorf("workload %s: %w", workload, err), c.undoNetwork(context.WithoutCancel(ctx), id))
	}
	err = c.inNodeNetwork(func() error {
		_, err := n.SetupSerially(ctx, c.cniID(id), path, gocni.WithCapabilityPortMap(portMappings(ports)))
		return err
	})
	if err != nil {
		err = fmt.Errorf("workload %s: network %s: %w", workload, spec.NetworkIsolated, err)
		return errors.Join(err, c.undoNetwork(context.WithoutCancel(ctx), id))
	}
	st.Ready = true
	if err := c.writeNetState(id, st); err != nil {
		return errors.Join(fmt.Errorf("workload %s: %w", workload, err), c.undoNetwork(context.WithoutCancel(ctx), id))
	}
	return nil
}

// teardownNetwork asks the CNI plugins to undo container id's network and
// removes its namespace and state. A container without one is done. It
// waits for a setup or teardown of the same container's network under way:
// the plugins' DEL racing their ADD would leave port rules that neither
// the state file nor the plugins' cache records.
func (c *Containerd) teardownNetwork(ctx context.Context, id string) error {
	defer c.netLocks.lock(id)()
	return c.undoNetwork(ctx, id)
}

// undoNetwork is teardownNetwork; netLocks' lock of id is held.
func (c *Containerd) undoNetwork(ctx context.Context, id string) error {
	path := c.netnsPath(id)
	st, ok := c.readNetState(id)
	_, err := os.Lstat(path)
	if !ok && errors.Is(err, os.ErrNotExist) {
		return nil
	}
	n, err := c.cni()
	if err != nil {
		return err
	}
	ns := path
	if !isNetns(path) {
		ns = "" // gone with a reboot: the plugins release what they can, dropMasquerade the rest
	}
	// The plugins' own record of the ports they mapped, when there is
	// one: without the ports their rules stay, and a state file may be
	// lost (a crash between writes, a teardown racing a setup).
	mappings := portMappings(st.Ports)
	if m := c.cachedMappings(id); len(m) > 0 {
		mappings = m
	}
	err = c.cniRemove(ctx, n, c.cniID(id), ns, mappings)
	if err != nil {
		return fmt.Errorf("container %s: network teardown: %w", id, err)
	}
	if err := removeNetns(path); err != nil {
		return err
	}
	if err := os.Remove(c.statePath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// sweepNetworks undoes the networks of containers that no longer exist.
func (c *Containerd) sweepNetworks(ctx context.Context) error {
	return c.sweepNetworksIf(ctx, func(id string) bool {
		_, err := c.client.LoadContainer(c.ns(ctx), id)
		return errdefs.IsNotFound(err)
	})
}

// sweepNetworksIf undoes the networks of the containers gone says. A
// network being set up or torn down meanwhile is left to that: its
// container is being started, or its teardown is under way already.
func (c *Containerd) sweepNetworksIf(ctx context.Context, gone func(id string) bool) error {
	entries, err := os.ReadDir(c.netnsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sweep networks: %w", err)
	}
	var errs []error
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		unlock, ok := c.netLocks.tryLock(id)
		if !ok {
			continue
		}
		if gone(id) {
			errs = append(errs, c.undoNetwork(ctx, id))
		}
		unlock()
	}
	return errors.Join(errs...)
}

// PortError refuses a start whose declared port is taken on the host.
type PortError struct {
	Workload string
	Port     int
	// By says who holds it.
	By string
}

// Fault is transient: the port may be freed by the same pass (another
// workload moving off it) or by the host process ending.
func (e *PortError) Fault() fault.Class { return fault.Transient }

func (e *PortError) Error() string {
	return fmt.Sprintf("workload %s: port %d is %s", e.Workload, e.Port, e.By)
}

// checkPorts refuses ports that another workload's isolated container maps
// (this agent's, or another's on the same host as its CNI cache entry
// says), or that something on the host listens on. The workload's own
// containers are being replaced and may hold them.
func (c *Containerd) checkPorts(workload string, ports []int) error {
	if len(ports) == 0 {
		return nil
	}
	entries, _ := os.ReadDir(c.netnsDir())
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		st, ok := c.readNetState(id)
		if !ok || st.Workload == workload {
			continue
		}
		for _, p := range ports {
			if slices.Contains(st.Ports, p) {
				return &PortError{Workload: workload, Port: p, By: "mapped to container " + id + " of workload " + st.Workload}
			}
		}
	}
	cached, err := cachedNetworks(cniCacheDir())
	if err != nil {
		return fmt.Errorf("workload %s: %w", workload, err)
	}
	for _, p := range ports {
		if id := c.cachedPortUser(cached, p); id != "" {
			return &PortError{Workload: workload, Port: p, By: "mapped to container " + id + " of another agent on the host"}
		}
	}
	return c.inNodeNetwork(func() error {
		for _, p := range ports {
			l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
			if err != nil {
				return &PortError{Workload: workload, Port: p, By: "in use on the host"}
			}
			l.Close()
		}
		return nil
	})
}

// inNodeNetwork runs fn in the node's network namespace, containerd's:
// the bridge, the port rules and the host side of each container's link
// belong there, even when the agent itself runs in a namespace of its own
// (an air-gapped node that keeps fleetd off every network).
func (c *Containerd) inNodeNetwork(fn func() error) error {
	ns, err := nodeNetns(c.cfg.Address)
	if err != nil {
		return err
	}
	return inNetns(ns, fn)
}

// parsePorts reads LabelPorts.
func parsePorts(v string) []int {
	var ports []int
	for _, s := range strings.Split(v, ",") {
		if p, err := strconv.Atoi(s); err == nil {
			ports = append(ports, p)
		}
	}
	return ports
}
