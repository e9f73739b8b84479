package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	gocni "github.com/containerd/go-cni"
	"github.com/containernetworking/cni/libcni"
	"golang.org/x/sys/unix"
)

// Networks of other agents. Each agent sweeps what its own containers
// left (network.go, rundir.go), but an agent that is gone with its run
// directory (a test's temporary directory removed, a reinstall, a second
// agent's leftovers) leaves its port rules behind for good: every local
// connection to such a port is sent to a dead address, whatever listens
// on it, and a bind test cannot see it. The CNI plugins' cache is the
// host's one record of them: libcni writes an entry per network and
// container on ADD (<cniCacheDir>/results/<network>-<container>-<ifname>,
// with the port mappings and the namespace path) and removes it on DEL.
//
// Before it sets up a network, the agent undoes, through the plugins, the
// entries of its CNI network (cniNetwork) that no owner can undo:
//
//   - the namespace path no longer exists: an owner removes it only after
//     the plugins undid their work (and a reboot empties the run
//     directory), so nobody will;
//   - the namespace still exists but lies in another instance's run
//     directory whose address file is gone (the directory was removed
//     around the mounted namespace) or whose containerd socket is gone,
//     and no process lives in it: it is undone and its namespace removed,
//     as that instance's own sweep would. If the owner comes back after
//     all, its next start of the container makes the network again.
//
// Any other entry is left alone, and a port it maps refuses a start
// (checkPorts) as a host listener does.
//
// Both rules read other agents' paths, so they hold only while the
// agents of a host share one mount namespace: packaging/fleetd.service
// gives fleetd none of its own for that reason (and runc's).

// cniCacheDir is libcni's cache; go-cni offers no way to move it.
func cniCacheDir() string { return libcni.CacheDir }

// cniCached is what this package reads of a libcni cache entry.
type cniCached struct {
	file           string
	ContainerID    string `json:"containerId"`
	NetworkName    string `json:"networkName"`
	CapabilityArgs struct {
		PortMappings []gocni.PortMapping `json:"portMappings"`
	} `json:"capabilityArgs"`
	Result struct {
		Interfaces []struct {
			Sandbox string `json:"sandbox"`
		} `json:"interfaces"`
	} `json:"result"`
}

// sandbox is the namespace path the entry's network was set up in.
func (e cniCached) sandbox() string {
	for _, i := range e.Result.Interfaces {
		if i.Sandbox != "" {
			return i.Sandbox
		}
	}
	return ""
}

// hostPorts are the host ports the entry maps.
func (e cniCached) hostPorts() []int {
	var ports []int
	for _, m := range e.CapabilityArgs.PortMappings {
		ports = append(ports, int(m.HostPort))
	}
	return ports
}

// cachedNetworks reads the cache entries of the agent's CNI network. An
// entry that cannot be read is skipped: it may be half written.
func cachedNetworks(dir string) ([]cniCached, error) {
	dir = filepath.Join(dir, "results")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("CNI cache: %w", err)
	}
	var out []cniCached
	for _, de := range entries {
		if !strings.HasPrefix(de.Name(), cniNetwork+"-") {
			continue
		}
		e := cniCached{file: filepath.Join(dir, de.Name())}
		b, err := os.ReadFile(e.file)
		if err != nil || json.Unmarshal(b, &e) != nil || e.NetworkName != cniNetwork || e.ContainerID == "" {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// sweepOrphanNetworks undoes the cached networks that no owner can undo.
// It returns what it could not undo; the caller goes on (checkPorts then
// refuses the ports those still map).
func (c *Containerd) sweepOrphanNetworks(ctx context.Context, n gocni.CNI) error {
	cached, err := cachedNetworks(cniCacheDir())
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range cached {
		sb := e.sandbox()
		if sb == "" {
			continue
		}
		_, err := os.Lstat(sb)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err == nil && instanceGone(e.ContainerID, sb) && !netnsInUse(sb):
		default:
			continue
		}
		if err := c.undoCached(ctx, n, e, sb); err != nil {
			errs = append(errs, err)
			continue
		}
		c.log.InfoContext(ctx, "runtime: undid the network of a container whose agent is gone",
			"container", e.ContainerID, "ports", e.hostPorts(), "netns", sb)
	}
	return errors.Join(errs...)
}

// undoCached asks the plugins to undo e's network (in its namespace if it
// still is one), then removes the namespace at sb and its state file.
func (c *Containerd) undoCached(ctx context.Context, n gocni.CNI, e cniCached, sb string) error {
	ns := ""
	if isNetns(sb) {
		ns = sb
	}
	err := c.cniRemove(ctx, n, e.ContainerID, ns, e.CapabilityArgs.PortMappings)
	if err != nil {
		return fmt.Errorf("network of container %s (%s): teardown: %w", e.ContainerID, e.file, err)
	}
	if err := removeNetns(sb); err != nil {
		return err
	}
	if err := os.Remove(sb + ".json"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// instanceGone reports whether sandbox, the namespace of the cached
// container containerID, lies in an agent's run directory
// (<RunDir>/<instance>/netns/<container>, containerID being
// <instance>-<container>) that says its agent is gone: its address file
// was removed, or the containerd socket it names is gone. An empty
// address file is being written: its agent is starting.
func instanceGone(containerID, sandbox string) bool {
	dir := filepath.Dir(sandbox)
	inst := filepath.Dir(dir)
	if filepath.Base(dir) != "netns" || containerID != filepath.Base(inst)+"-"+filepath.Base(sandbox) {
		return false // not laid out by an agent: nothing to judge by
	}
	b, err := os.ReadFile(filepath.Join(inst, "address"))
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	addr := strings.TrimSpace(string(b))
	return err == nil && addr != "" && socketGone(addr)
}

// netnsInUse reports whether a process lives in the network namespace
// bound at path, or whether that cannot be told.
func netnsInUse(path string) bool {
	var ns unix.Stat_t
	if err := unix.Stat(path, &ns); err != nil {
		return true
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join("/proc", p.Name(), "ns", "net"), &st) == nil && st.Dev == ns.Dev && st.Ino == ns.Ino {
			return true
		}
	}
	return false
}

// cachedPortUser names another agent's container whose cached network
// maps port, or returns "".
func (c *Containerd) cachedPortUser(cached []cniCached, port int) string {
	for _, e := range cached {
		if strings.HasPrefix(e.ContainerID, c.inst+"-") {
			continue // the agent's own: judged by their state files
		}
		for _, p := range e.hostPorts() {
			if p == port {
				return e.ContainerID
			}
		}
	}
	return ""
}

// cachedMappings returns the port mappings the plugins' cache records for
// the agent's container id, if any.
func (c *Containerd) cachedMappings(id string) []gocni.PortMapping {
	cached, _ := cachedNetworks(cniCacheDir()) // unreadable: the state file's ports
	for _, e := range cached {
		if e.ContainerID == c.cniID(id) {
			return e.CapabilityArgs.PortMappings
		}
	}
	return nil
}
