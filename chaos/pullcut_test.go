package chaos

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

var layerMiB = flag.Int("layer-mib", 8, "size of the layer a cut pull fetches, MiB")

// maxCutDown bounds how long the registry stays away after a cut.
const maxCutDown = 3 * time.Second

// TestPullCut: for each point, a change to an image with a large new
// layer is committed; the connection is cut at a random offset of the
// layer, the registry stays away for a random while (fleetd passes fail
// meanwhile, zero to two of them) and comes back. The first pass after
// must converge, having fetched the layer's bytes about once: what was
// fetched again is under 1 % of the layer.
func TestPullCut(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 6))
	n := newNode(t, "")
	n.startSteady()
	fig := figure(fmt.Sprintf("pull of a %d MiB layer cut at a random offset, registry away for a random while", *layerMiB), "points")
	size := int64(*layerMiB) << 20
	for i := range *faultPoints {
		img, blob := n.freshImage(size)
		ws := workloads{"defect": {img, "info"}}
		head := n.statusHead()
		rev := n.commit(fmt.Sprintf("point %d: new image", i), ws)
		at := size/10 + rng.Int64N(size*8/10)
		cut := n.regProxy.Cut(blob, at)
		if out, err := n.pass(); err == nil {
			t.Fatalf("point %d: the pass whose pull was cut at %d exited 0\n%s", i, at, out)
		}
		select {
		case <-cut:
		case <-time.After(time.Minute):
			t.Fatalf("point %d: the pass did not reach offset %d of the layer", i, at)
		}
		during := rng.IntN(3)
		for range during {
			if out, err := n.pass(); err == nil {
				t.Errorf("point %d: a pass while the registry is away exited 0\n%s", i, out)
			}
		}
		pause(rng, maxCutDown)
		n.regProxy.Up()
		passes, c, out := n.settle(rev, ws)
		restarted := n.steadyRestarted()
		commits := perClass(n.statusCommits(head))
		refetch := 100 * float64(n.regProxy.Sent(blob)-size) / float64(size)
		fig.point("new image", c, passes, restarted, commits, refetch)
		if passes != 1 || restarted || commits["retrying"] > 2 || refetch >= 1 {
			t.Errorf("point %d (cut at %d of %d, %d passes while away): converged after %d passes (want 1), steady restarted %v, status commits %v, fetched again %.2f %% of the layer (want < 1 %%): %s\n%s",
				i, at, size, during, passes, restarted, commits, refetch, c, out)
		}
	}
}
