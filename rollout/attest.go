package rollout

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/status"
)

// Attestation. Opening a gate takes reading every report of the wave it
// awaits, so a wave whose every node did that would read the product of
// the two waves' sizes, most of it at once when the earlier wave turns
// healthy (712 × 238 reports in a 1,000-node rollout of three waves). In
// a wave of at least AttestMinWave nodes, AttestersPerWave of them, chosen
// anew for each revision, read the awaited wave in full as before and
// attest in their own signed report that the gate opened
// (status.GateOpened); every other node of the wave opens on
// AttestQuorum of those attestations. Trusting them is trusting the
// attesters' status keys as the gate already trusts the awaited wave's:
// a false opening takes AttestQuorum keys of the right nodes.
const (
	AttestMinWave    = 32
	AttestersPerWave = 3
	AttestQuorum     = 2
)

// Attesters returns the nodes of the assignment's wave that attest, for
// rev, that its gate opened (AttestersOf its nodes); nil when the wave has
// fewer than AttestMinWave nodes or awaits none.
func (a Assignment) Attesters(rev string) []string {
	if a.Wave <= 0 || Awaited(a.Waves, a.Wave) < 0 || len(a.Waves[a.Wave].Nodes) < AttestMinWave {
		return nil
	}
	return AttestersOf(rev, a.Waves[a.Wave].Nodes)
}

// AttestersOf returns the first AttestersPerWave of nodes in the order of
// the SHA-256 of "<rev>/<node>": a new few for each revision, so that no
// node reads the awaited wave on every rollout.
func AttestersOf(rev string, nodes []string) []string {
	type keyed struct {
		key  [sha256.Size]byte
		node string
	}
	order := make([]keyed, len(nodes))
	for i, n := range nodes {
		order[i] = keyed{sha256.Sum256([]byte(rev + "/" + n)), n}
	}
	slices.SortFunc(order, func(x, y keyed) int {
		return cmp.Or(slices.Compare(x.key[:], y.key[:]), cmp.Compare(x.node, y.node))
	})
	out := make([]string, min(AttestersPerWave, len(order)))
	for i := range out {
		out[i] = order[i].node
	}
	return out
}

// Attested decides the gate from the attesters' reports (by node name):
// attesters are Attesters(rev), which a caller asking on every poll keeps
// for the revision. Allowed when at least AttestQuorum of them have a
// report that is trusted, fresh (now − lastSeen at most staleAfter,
// DefaultStaleAfter when ≤ 0) and holds a GateOpened for the group, the
// awaited wave and rev. false: not attested (yet); the node reads the
// awaited wave itself, or waits for the attesters.
func (a Assignment) Attested(rev string, attesters []string, reports map[string]*status.NodeStatus, now time.Time, staleAfter time.Duration) (Decision, bool) {
	if attesters == nil {
		return Decision{}, false
	}
	if staleAfter <= 0 {
		staleAfter = DefaultStaleAfter
	}
	awaited := a.Waves[Awaited(a.Waves, a.Wave)].Name
	var by []string
	for _, n := range attesters {
		r := reports[n]
		if r == nil || !r.Trust.Trusted || now.Sub(r.Status.LastSeen) > staleAfter {
			continue
		}
		if slices.ContainsFunc(r.Status.Gates, func(g status.GateOpened) bool {
			return g.Group == a.Group.Metadata.Name && g.Wave == awaited && g.Revision == rev
		}) {
			by = append(by, n)
		}
	}
	if len(by) < AttestQuorum {
		return Decision{}, false
	}
	return Decision{Allowed: true, Wave: a.Wave, WaveName: a.Waves[a.Wave].Name,
		Reason: fmt.Sprintf("wave %s healthy on %s, attested by %s", awaited, short(rev), strings.Join(by, ", "))}, true
}
