package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/sticktest"
)

// startConnectedNode runs fleetd for press-01 with the fleet repo and a
// usb root both: a node that reaches the network and takes sticks too.
func (a *airgap) startConnectedNode() *daemon {
	a.t.Helper()
	return startDaemon(a.t, exec.Command(fleetdBin, "--repo", a.central, "--node", "press-01", "--labels", "line=a", "--interval", "1h",
		"--containerd-address", a.ctd.Address, "--state-dir", a.stateDir, "--trust-dir", a.fleet.TrustDir,
		"--usb-root", a.usbRoot, "--log-level", "debug"), true)
}

func (d *daemon) stop() {
	d.cmd.Process.Kill()
	<-d.done
	d.done <- nil // for the cleanup
}

// TestUSBStickAndNetworkNeverGoBack: a node that reaches the fleet repo
// and takes sticks applies whichever is newer; neither takes it back.
func TestUSBStickAndNetworkNeverGoBack(t *testing.T) {
	a := newAirgap(t)
	v1 := a.model("defect-v1.json")
	rev1 := a.fleet.Commit("defect v1")
	old := a.stick(sticktest.Ext4)
	node := a.startConnectedNode()
	node.waitLog(t, "result=applied", 1)
	if got := a.running(); got != v1 {
		t.Fatalf("from the network defect runs %q, want %s", got, v1)
	}

	// A newer revision reaches the site on a stick first (the node polls
	// hourly): applied from the stick.
	v2 := a.model("defect-v2.json")
	a.fleet.Commit("defect v2")
	newer := a.stick(sticktest.Ext4)
	a.visit(node, newer, "NEW", "safe to remove", 1)
	if got := a.running(); got != v2 {
		t.Fatalf("after the newer stick defect runs %q, want %s", got, v2)
	}

	// The older stick is refused.
	a.visit(node, old, "OLD", "safe to remove", 2)
	if got := a.running(); got != v2 {
		t.Fatalf("after the older stick defect runs %q, want %s still", got, v2)
	}

	// The network's branch goes back to revision 1 (a force-push): the
	// restarted node refuses it and keeps v2.
	a.fleet.Repo.Reset(rev1)
	a.fleet.Repo.ForcePush()
	node.stop()
	node = a.startConnectedNode()
	out := node.waitLog(t, "msg=pass", 1)
	if line := lastLine(out, "msg=pass"); !strings.Contains(line, "refused") || !strings.Contains(line, "descend") {
		t.Errorf("pass on the older network head: %q, want a refusal to go back", line)
	}
	if got := a.running(); got != v2 {
		t.Fatalf("after the network went back defect runs %q, want %s still", got, v2)
	}
}
