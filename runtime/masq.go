package runtime

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	gocni "github.com/containerd/go-cni"
)

// cniRemove is the plugins' DEL of container cniID's network from the
// node's network namespace, with its port mappings; ns is the container's
// namespace, "" when it is gone, and then DEL leaves the masquerade rule
// behind (dropMasquerade).
func (c *Containerd) cniRemove(ctx context.Context, n gocni.CNI, cniID, ns string, ports []gocni.PortMapping) error {
	return c.inNodeNetwork(func() error {
		if err := n.Remove(ctx, cniID, ns, gocni.WithCapabilityPortMap(ports)); err != nil || ns != "" {
			return err
		}
		return dropMasquerade(cniID)
	})
}

// dropMasquerade removes the "bridge" plugin's masquerade rule and chain
// of container cniID from the nat table of the current network
// namespace. The plugin undoes them on DEL only from inside the
// container's namespace, where it reads the addresses they were made
// for: when that namespace is gone (a run directory removed, a reboot
// that left rules behind) DEL releases the address and the port rules
// but leaves the masquerade rule and its chain for good, one more per
// such container. They are found by the comment the plugin gives them
// (`name: "<network>" id: "<container>"`), not by its chain-name hash.
func dropMasquerade(cniID string) error {
	comment := fmt.Sprintf("name: %q id: %q", cniNetwork, cniID)
	quoted := strconv.Quote(comment) // as iptables -S prints it
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S", "POSTROUTING").Output()
	if err != nil {
		return fmt.Errorf("masquerade rules of container %s: iptables -S: %w", cniID, exitText(err))
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		before, after, ok := strings.Cut(line, " -m comment --comment "+quoted+" -j ")
		f := strings.Fields(before)
		if !ok || len(f) != 4 || f[0] != "-A" || f[1] != "POSTROUTING" || f[2] != "-s" {
			continue
		}
		chain := strings.TrimSpace(after)
		if !strings.HasPrefix(chain, "CNI-") || strings.ContainsAny(chain, " \"") {
			continue
		}
		for _, args := range [][]string{
			{"-D", "POSTROUTING", "-s", f[3], "-m", "comment", "--comment", comment, "-j", chain},
			{"-F", chain},
			{"-X", chain},
		} {
			if out, err := exec.Command("iptables", append([]string{"-w", "-t", "nat"}, args...)...).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("masquerade rules of container %s: iptables %s: %w: %s", cniID, strings.Join(args, " "), err, strings.TrimSpace(string(out))))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// exitText adds a failed command's standard error to its error.
func exitText(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}
