package runtime

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"tags.cncf.io/container-device-interface/pkg/cdi"
)

// gpuDevices names the CDI devices of a workload with gpus GPUs.
func (c *Containerd) gpuDevices(gpus int) []string {
	if gpus <= 0 {
		return nil
	}
	if c.cfg.CDIAllGPUs {
		return []string{c.cfg.CDIDevicePrefix + "=all"}
	}
	out := make([]string, gpus)
	for i := range out {
		out[i] = c.cfg.CDIDevicePrefix + "=" + strconv.Itoa(i)
	}
	return out
}

// gpuOpts returns the spec option that injects the workload's GPUs as CDI
// devices: device nodes, environment, mounts and hooks from the CDI spec
// files. It reads the spec directories afresh on every call (a driver
// installed since the last workload is seen) and fails naming the workload
// and the device when a device is not described there.
func (c *Containerd) gpuOpts(workload string, gpus int) (oci.SpecOpts, error) {
	devices := c.gpuDevices(gpus)
	if len(devices) == 0 {
		return nil, nil
	}
	cache, _ := cdi.NewCache(cdi.WithSpecDirs(c.cfg.CDISpecDirs...), cdi.WithAutoRefresh(false))
	refreshErr := cache.Refresh()
	var missing []string
	for _, d := range devices {
		if cache.GetDevice(d) == nil {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("workload %s: resources.gpus %d: CDI device %s not found in %s",
			workload, gpus, strings.Join(missing, ", "), strings.Join(c.cfg.CDISpecDirs, ", "))
		if known := cache.ListDevices(); len(known) > 0 {
			sort.Strings(known)
			msg += " (known: " + strings.Join(known, ", ") + ")"
		}
		if refreshErr != nil {
			return nil, fmt.Errorf("%s: %w", msg, refreshErr)
		}
		return nil, fmt.Errorf("%s", msg)
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		if _, err := cache.InjectDevices(s, devices...); err != nil {
			return fmt.Errorf("workload %s: inject CDI devices %s: %w", workload, strings.Join(devices, ", "), err)
		}
		return nil
	}, nil
}
