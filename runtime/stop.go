package runtime

import (
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gitfleet/gitfleet/spec"
)

// Labels of a container's stop settings, set when it is created from its
// workload's spec.StopSignal and spec.StopTimeout: the container is stopped
// the way the spec it was created from says, whatever replaces it.
const (
	LabelStopSignal = "gitfleet.dev/stop-signal"
	// LabelStopTimeout is in milliseconds.
	LabelStopTimeout = "gitfleet.dev/stop-timeout-ms"
)

// stopLabels returns the labels of ws's stop settings (none for defaults).
func stopLabels(ws spec.WorkloadSpec) map[string]string {
	l := map[string]string{}
	if ws.StopSignal != "" {
		l[LabelStopSignal] = ws.StopSignal
	}
	if ws.StopTimeout != nil && ws.StopTimeout.Duration > 0 {
		l[LabelStopTimeout] = strconv.FormatInt(ws.StopTimeout.Milliseconds(), 10)
	}
	return l
}

// stopPolicy reads a container's stop settings from its labels: its signal
// (SIGTERM unless set) and how long it has to exit before SIGKILL
// (Config.StopTimeout unless set). Unreadable labels mean the defaults.
func (c *Containerd) stopPolicy(labels map[string]string) (syscall.Signal, time.Duration) {
	sig, timeout := syscall.SIGTERM, c.cfg.StopTimeout
	if s := unix.SignalNum(labels[LabelStopSignal]); s != 0 {
		sig = s
	}
	if ms, err := strconv.ParseInt(labels[LabelStopTimeout], 10, 64); err == nil && ms > 0 {
		timeout = time.Duration(ms) * time.Millisecond
	}
	return sig, timeout
}
