package chaos

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitfleet/gitfleet/internal/ocitest"
)

// freshImage pushes the model server with one more random layer of size
// bytes (a new image each call, so a pull must fetch it) and returns its
// reference through the proxy and the layer's blob path suffix.
func (n *node) freshImage(size int64) (ref, blob string) {
	n.t.Helper()
	if n.model == nil {
		n.model = ocitest.ModelServerImageLocal(n.t, "defect-v1.json")
	}
	layer, err := random.Layer(size, types.OCILayer)
	if err != nil {
		n.t.Fatal(err)
	}
	img, err := mutate.AppendLayers(n.model, layer)
	if err != nil {
		n.t.Fatal(err)
	}
	d, err := layer.Digest()
	if err != nil {
		n.t.Fatal(err)
	}
	return n.viaProxy(ocitest.Push(n.t, img, n.registry+"/models/fresh")), "/blobs/" + d.String()
}

// outage is a fault a test switches on and off.
type outage struct {
	title string
	on    func()
	off   func()
	// again, when set, renews the fault before each pass during it (a
	// disk that a failed pass's cleanup freed some space on).
	again func()
	// change returns the change committed at point i: its name and the
	// workloads of the new revision.
	change func(i int) (string, workloads)
}

// runOutage: for each point, a change is committed, the fault starts, one
// to three fleetd --once passes run during it (a fleetd restarted during
// an outage too), the fault clears, and the first pass after must
// converge, with one or two status commits of the outage's class (its
// start if it could be pushed, its end), steady untouched.
func runOutage(t *testing.T, n *node, rng *rand.Rand, o outage) {
	n.startSteady()
	fig := figure(o.title, "points")
	for i := range *faultPoints {
		name, ws := o.change(i)
		head := n.statusHead()
		rev := n.commit(fmt.Sprintf("point %d: %s", i, name), ws)
		o.on()
		during := 1 + rng.IntN(3)
		for range during {
			if o.again != nil {
				o.again()
			}
			if out, err := n.pass(); err == nil {
				t.Errorf("point %d (%s): a pass during the fault exited 0\n%s", i, name, out)
			}
		}
		o.off()
		passes, c, out := n.settle(rev, ws)
		restarted := n.steadyRestarted()
		subjects := n.statusCommits(head)
		commits := perClass(subjects)
		fig.point(name, c, passes, restarted, commits, -1)
		// The outage leaves a trace (the git server's too, although
		// nothing could be pushed while it lasted), and at most two
		// commits: its start and its end.
		if passes != 1 || restarted || commits["retrying"] < 1 || commits["retrying"] > 2 {
			t.Errorf("point %d (%s, %d passes during the fault): converged after %d passes (want 1), steady restarted %v, status commits %v %q: %s\n%s",
				i, name, during, passes, restarted, commits, subjects, c, out)
		}
	}
}

// TestGitServerDown: the git server goes down (its port refuses) while a
// change waits, and comes back.
func TestGitServerDown(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 4))
	n := newNode(t, "")
	v1 := n.modelImage("models/defect", "defect-v1.json")
	levels := []string{"debug", "info"}
	runOutage(t, n, rng, outage{title: "git server down, then back", on: n.git.Down, off: n.git.Up,
		change: func(i int) (string, workloads) {
			return "change env", workloads{"defect": {v1, levels[i%2]}}
		}})
}

// TestRegistryDown: the registry goes down while a change to a new image
// waits, and comes back.
func TestRegistryDown(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 5))
	n := newNode(t, "")
	runOutage(t, n, rng, outage{title: "registry down, then back", on: n.regProxy.Down, off: n.regProxy.Up,
		change: func(i int) (string, workloads) {
			img, _ := n.freshImage(4 << 10)
			return "change image", workloads{"defect": {img, "info"}}
		}})
}

// pause sleeps for a random time below d: how long a fault lasts.
func pause(rng *rand.Rand, d time.Duration) { time.Sleep(time.Duration(rng.Int64N(int64(d)))) }
