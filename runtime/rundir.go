package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// RunDir is shared: by default every agent on a host (and every test)
// keeps its host state in /run/gitfleet. Each keeps it in
// RunDir/<instance>, named after its containerd and namespace, with the
// containerd address in RunDir/<instance>/address, and knows its
// containers to the CNI plugins as <instance>-<container ID>:
//
//	<RunDir>/<instance>/address
//	<RunDir>/<instance>/mounts/<container>/<n>   staged mount sources
//	<RunDir>/<instance>/netns/<container>        network namespace
//	<RunDir>/<instance>/netns/<container>.json   what the CNI plugins set up
//
// When it starts, an agent undoes what its containers no longer need
// (containers deleted by hand or while it was down), and all that another
// instance left behind whose containerd socket is gone (a test's private
// containerd, a reconfigured agent): networks, addresses, port rules and
// mounts would otherwise outlive their containers.

// instanceOf names a containerd and namespace.
func instanceOf(address, namespace string) string {
	sum := sha256.Sum256([]byte(address + "\x00" + namespace))
	return hex.EncodeToString(sum[:4])
}

func (c *Containerd) instanceDir() string { return filepath.Join(c.cfg.RunDir, c.inst) }
func (c *Containerd) mountDir() string    { return filepath.Join(c.instanceDir(), "mounts") }
func (c *Containerd) netnsDir() string    { return filepath.Join(c.instanceDir(), "netns") }

// claimRunDir records this instance's address and sweeps: its own
// leftovers, then other instances whose containerd is gone.
func (c *Containerd) claimRunDir(ctx context.Context) error {
	if err := os.MkdirAll(c.instanceDir(), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.instanceDir(), "address"), []byte(c.cfg.Address), 0o600); err != nil {
		return err
	}
	errs := []error{c.sweepMounts(ctx), c.sweepNetworks(ctx)}
	entries, err := os.ReadDir(c.cfg.RunDir)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, e := range entries {
		if e.Name() == c.inst || !e.IsDir() {
			continue
		}
		errs = append(errs, c.sweepInstance(ctx, e.Name()))
	}
	return errors.Join(errs...)
}

// socketGone reports whether nothing can serve on the unix socket at
// address: the file is missing, or nobody listens on it.
func socketGone(address string) bool {
	if _, err := os.Stat(address); errors.Is(err, os.ErrNotExist) {
		return true
	}
	conn, err := net.DialTimeout("unix", address, time.Second)
	if err == nil {
		conn.Close()
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// sweepInstance undoes everything instance left behind, if its containerd
// socket is gone.
func (c *Containerd) sweepInstance(ctx context.Context, instance string) error {
	dir := filepath.Join(c.cfg.RunDir, instance)
	b, err := os.ReadFile(filepath.Join(dir, "address"))
	if err != nil {
		return nil // not an instance directory
	}
	if !socketGone(strings.TrimSpace(string(b))) {
		return nil // its containerd may still run
	}
	o := &Containerd{cfg: c.cfg, client: c.client, log: c.log, stopping: map[string]bool{}, inst: instance}
	all := func(string) bool { return true }
	if err := errors.Join(o.sweepNetworksIf(ctx, all), o.sweepMountsIf(all)); err != nil {
		return fmt.Errorf("sweep %s: %w", dir, err)
	}
	for _, p := range []string{o.netnsDir(), o.mountDir(), filepath.Join(dir, "address"), dir} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sweep %s: %w", dir, err)
		}
	}
	c.log.InfoContext(ctx, "runtime: swept host state of a containerd that is gone", "dir", dir)
	return nil
}
