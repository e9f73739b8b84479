package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/identifiers"
	"github.com/containerd/containerd/namespaces"
	gocni "github.com/containerd/go-cni"

	"github.com/gitfleet/gitfleet/status"
)

// Labels on every container the agent owns. List rebuilds the agent's view
// from them alone.
const (
	LabelManaged  = "gitfleet.dev/managed"
	LabelWorkload = "gitfleet.dev/workload"
	LabelSpecHash = "gitfleet.dev/spec-hash"
	LabelRevision = "gitfleet.dev/revision"
	// LabelPorts lists the host ports the container declared, comma
	// separated; Run stops an old container before starting a new one only
	// when their ports overlap.
	LabelPorts = "gitfleet.dev/ports"
	// LabelStartedAt is when the container's task was started (RFC 3339).
	LabelStartedAt = "gitfleet.dev/started-at"
	// LabelRestart is the workload's restart policy (spec.Restart*); the
	// Supervisor reads it. Absent means always.
	LabelRestart = "gitfleet.dev/restart"
	// LabelRestarts counts the restarts the Supervisor made of the
	// container's task.
	LabelRestarts = "gitfleet.dev/restarts"
	// LabelExits holds the task's recent exits, oldest first, as
	// "<code>@<unix ms>" separated by commas.
	LabelExits = "gitfleet.dev/exits"
	// LabelOCISpecHash is the sha256 of the OCI spec the agent created the
	// container with; a container whose spec was edited by hand no longer
	// matches it (see Drift).
	LabelOCISpecHash = "gitfleet.dev/oci-spec-hash"
	// LabelNetwork is the workload's network mode (spec.Network*).
	LabelNetwork = "gitfleet.dev/network"
	// LabelMounts records each mount's allowed root and source (JSON), so
	// that every start opens the sources again beneath their roots.
	LabelMounts = "gitfleet.dev/mounts"
)

// managedFilter selects the containers the agent owns.
const managedFilter = `labels."` + LabelManaged + `"==true`

// Log attribute keys.
const (
	logKeyWorkload  = "workload"
	logKeyContainer = "container"
	logKeyRef       = "ref"
	logKeySource    = "source"
	logKeyDuration  = "duration"
	logKeyPID       = "pid"
	logKeyError     = "err"
	logKeyDrift     = "drift"
	logKeyExitCode  = "exit_code"
	logKeyDelay     = "delay"
	logKeyRestarts  = "restarts"
)

// Containerd runs workloads in containerd. Its methods are safe for
// concurrent use on different workloads.
type Containerd struct {
	cfg    Config
	client *containerd.Client
	log    *slog.Logger

	// mu guards stopping.
	mu sync.Mutex
	// stopping holds the containers whose task the agent itself is
	// stopping (update, removal), so the Supervisor does not restart them.
	stopping map[string]bool
	// sup is the Supervisor watching this runtime, if any.
	sup atomic.Pointer[Supervisor]
	// ctrLocks serialize, per container, the Supervisor's restart with
	// remove: a restart that found the container must not set up its
	// network once remove has undone it and deleted the container.
	ctrLocks idLocks
	// netLocks serialize, per container, the setup and teardown of its
	// network (network.go).
	netLocks idLocks
	// restartLoaded, when set (tests), is called by the Supervisor's
	// restart once it found the container, before it starts its task.
	restartLoaded func(id string)

	// inst names this containerd and namespace in RunDir (rundir.go).
	inst string
	// The CNI handle of isolated networks, made at first use.
	cniOnce sync.Once
	cniNet  gocni.CNI
	cniErr  error
}

// New connects to containerd. cfg's unset fields get their defaults.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Containerd, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("runtime: log dir: %w", err)
	}
	client, err := containerd.New(cfg.Address,
		containerd.WithDefaultNamespace(cfg.Namespace),
		containerd.WithDefaultRuntime(cfg.Runtime),
		containerd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("runtime: connect to containerd at %s: %w", cfg.Address, err)
	}
	if _, err := client.Version(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("runtime: containerd at %s: %w", cfg.Address, err)
	}
	c := &Containerd{cfg: cfg, client: client, log: log, stopping: map[string]bool{}, inst: instanceOf(cfg.Address, cfg.Namespace)}
	if err := c.claimRunDir(ctx); err != nil {
		log.WarnContext(ctx, "runtime: stale host state left", logKeyError, err)
	}
	return c, nil
}

// Close closes the connection to containerd. Containers keep running.
func (c *Containerd) Close() error { return c.client.Close() }

// Logs returns the path of the workload's log file.
func (c *Containerd) Logs(workload string) string {
	return filepath.Join(c.cfg.LogDir, workload+".log")
}

// ns puts the agent's namespace on ctx.
func (c *Containerd) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, c.cfg.Namespace)
}

// List returns every container the agent owns, by label, with the state of
// its task. It changes nothing.
func (c *Containerd) List(ctx context.Context) ([]status.Instance, error) {
	ctx = c.ns(ctx)
	c.reconnect(ctx)
	ctrs, err := c.client.Containers(ctx, managedFilter)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]status.Instance, 0, len(ctrs))
	for _, ctr := range ctrs {
		in, err := c.instance(ctx, ctr)
		if errdefs.IsNotFound(err) {
			continue // deleted while we listed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Workload != out[j].Workload {
			return out[i].Workload < out[j].Workload
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// instance describes one container and its task.
func (c *Containerd) instance(ctx context.Context, ctr containerd.Container) (status.Instance, error) {
	info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return status.Instance{}, fmt.Errorf("container %s: %w", ctr.ID(), err)
	}
	in := status.Instance{
		Workload: info.Labels[LabelWorkload],
		ID:       info.ID,
		SpecHash: info.Labels[LabelSpecHash],
		Revision: info.Labels[LabelRevision],
		Image:    info.Image,
		State:    status.StateCreated,
	}
	if t, err := time.Parse(time.RFC3339Nano, info.Labels[LabelStartedAt]); err == nil {
		in.StartedAt = t
	}
	if drift := specDrift(info); drift != "" {
		// No longer the spec the hash names: the plan must replace it.
		in.SpecHash = ""
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return in, nil // created, never started (or its task was deleted)
	}
	if err != nil {
		return status.Instance{}, fmt.Errorf("container %s: task: %w", ctr.ID(), err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return status.Instance{}, fmt.Errorf("container %s: task status: %w", ctr.ID(), err)
	}
	in.PID = task.Pid()
	switch st.Status {
	case containerd.Running, containerd.Paused, containerd.Pausing:
		in.State = status.StateRunning
	case containerd.Created:
		in.State = status.StateCreated
	default:
		in.State = status.StateStopped
		in.ExitCode = int(st.ExitStatus)
	}
	return in, nil
}

// containersOf returns the workload's containers.
func (c *Containerd) containersOf(ctx context.Context, workload string) ([]containerd.Container, error) {
	ctrs, err := c.client.Containers(ctx, managedFilter)
	if err != nil {
		return nil, fmt.Errorf("list containers of %s: %w", workload, err)
	}
	var out []containerd.Container
	for _, ctr := range ctrs {
		labels, err := ctr.Labels(ctx)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", ctr.ID(), err)
		}
		if labels[LabelWorkload] == workload {
			out = append(out, ctr)
		}
	}
	return out, nil
}

// containerID is <workload>-<first 12 hex of the spec hash>.
func containerID(workload, hash string) (string, error) {
	if err := checkWorkload(workload); err != nil {
		return "", err
	}
	_, hex, _ := strings.Cut(hash, ":")
	if len(hex) < 12 {
		return "", fmt.Errorf("workload %s: spec hash %q too short", workload, hash)
	}
	return workload + "-" + hex[:12], nil
}

// checkWorkload refuses names that are not valid containerd identifiers
// (and so could not name a log file safely either).
func checkWorkload(workload string) error {
	if err := identifiers.Validate(workload); err != nil {
		return fmt.Errorf("workload name %q: %w", workload, err)
	}
	return nil
}

// portsLabel writes ports as LabelPorts.
func portsLabel(ports []int) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

// portsOverlap reports whether a container labelled with labels may hold
// one of ports. A container without LabelPorts may hold any.
func portsOverlap(labels map[string]string, ports []int) bool {
	if len(ports) == 0 {
		return false
	}
	v, ok := labels[LabelPorts]
	if !ok {
		return true
	}
	for _, s := range strings.Split(v, ",") {
		for _, p := range ports {
			if s == strconv.Itoa(p) {
				return true
			}
		}
	}
	return false
}

// ignoreNotFound drops errdefs.ErrNotFound.
func ignoreNotFound(err error) error {
	if errors.Is(err, errdefs.ErrNotFound) || errdefs.IsNotFound(err) {
		return nil
	}
	return err
}
