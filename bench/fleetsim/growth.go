package fleetsim

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
	"github.com/gitfleet/gitfleet/trust"
)

// Growth is what status reports add to the repository that holds them.
type Growth struct {
	Nodes, Heartbeats int
	// Loose is the bytes the heartbeats added as the server stored them
	// (loose objects, zlib-compressed); Packed the same after git gc.
	// Both are totals over Nodes × Heartbeats commits.
	Loose, Packed int64
	// Report is the size of one report (status/<node>.yaml).
	Report int
	// PushP50 and PushP99 are the heartbeats' push latency: one writer at
	// a time, the server otherwise idle.
	PushP50, PushP99 time.Duration
}

// PerNodeDay scales bytes for Heartbeats commits to one node's day at
// the default heartbeat (one an hour, when nothing changes).
func (g Growth) PerNodeDay(bytes int64) float64 {
	perCommit := float64(bytes) / float64(g.Nodes*g.Heartbeats)
	return perCommit * float64(time.Hour*24/source.DefaultHeartbeat)
}

// growth has GrowthNodes status writers (signing as fleetd does), each with a clock that moves an
// hour ahead per report, commit Heartbeats heartbeats of a report like
// the sim's nodes wrote, through the same server, into a repository of
// their own, and measures its objects before and after.
func (s *sim) growth(ctx context.Context, gitRoot string) (Growth, error) {
	g := Growth{Nodes: s.cfg.GrowthNodes, Heartbeats: s.cfg.Heartbeats}
	bare := filepath.Join(gitRoot, "growth.git")
	if err := run("", "init", "-q", "--bare", "-b", "main", bare); err != nil {
		return g, err
	}
	node := s.agents[0].name
	yaml, err := git(s.repo.bare, "show", "refs/heads/status/"+node+":status/"+node+".yaml")
	if err != nil {
		return g, err
	}
	template, err := status.Unmarshal([]byte(yaml))
	if err != nil {
		return g, err
	}
	g.Report = len(yaml)
	loc, err := source.ParseLocation(s.base+"/git/growth.git", source.Auth{})
	if err != nil {
		return g, err
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var writers []*source.StatusWriter
	for i := range g.Nodes {
		// Signed as fleetd signs every status commit.
		dir := filepath.Join(s.cfg.Dir, "growth", fmt.Sprint(i))
		key, _, err := trust.LoadOrCreateStatusKey(filepath.Join(dir, "status.key"), fmt.Sprintf("fleetd@growth-%03d", i))
		if err != nil {
			return g, err
		}
		w, err := source.NewStatusWriter(source.StatusConfig{Location: loc, Node: fmt.Sprintf("growth-%03d", i),
			Dir: filepath.Join(dir, "status"), Now: clock, Signer: key}, nil)
		if err != nil {
			return g, err
		}
		writers = append(writers, w)
	}
	report := func(i int) error {
		st := *template
		st.Metadata.Name = fmt.Sprintf("growth-%03d", i)
		st.Status.LastSeen = now
		return writers[i].Report(ctx, &st)
	}
	for i := range writers { // each node's first report
		if err := report(i); err != nil {
			return g, err
		}
	}
	if err := run(bare, "gc", "-q", "--prune=now"); err != nil {
		return g, err
	}
	base, err := objectBytes(bare)
	if err != nil {
		return g, err
	}
	var lat []time.Duration
	for range g.Heartbeats {
		now = now.Add(source.DefaultHeartbeat + time.Second)
		for i := range writers {
			start := time.Now()
			if err := report(i); err != nil {
				return g, err
			}
			lat = append(lat, time.Since(start))
		}
	}
	g.PushP50, g.PushP99 = percentile(lat, 50), percentile(lat, 99)
	loose, err := objectBytes(bare)
	if err != nil {
		return g, err
	}
	if err := run(bare, "gc", "-q", "--prune=now"); err != nil {
		return g, err
	}
	packed, err := objectBytes(bare)
	if err != nil {
		return g, err
	}
	refs, err := git(bare, "rev-list", "--count", "--all")
	if err != nil {
		return g, err
	}
	var commits int
	fmt.Sscan(refs, &commits)
	if want := g.Nodes * (g.Heartbeats + 1); commits != want {
		return g, fmt.Errorf("growth.git holds %d commits, want %d (a report and %d heartbeats per node)", commits, want, g.Heartbeats)
	}
	g.Loose, g.Packed = loose-base, packed-base
	return g, nil
}

// objectBytes is the size of the files under a bare repository's objects/.
func objectBytes(bare string) (int64, error) {
	var n int64
	err := filepath.WalkDir(filepath.Join(bare, "objects"), func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	return n, err
}
