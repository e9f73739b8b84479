package fleetstatus

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/gitfleet/gitfleet/status"
)

// Model is the model version a workload runs on a node: its image's tag
// and digest, as the node reported them.
type Model struct {
	Workload string `json:"workload"`
	// Repository is the image without tag and digest ("host/models/detector").
	Repository string `json:"repository"`
	// Tag is the image's tag ("v2"), "" when the reference has none.
	Tag string `json:"tag,omitempty"`
	// Digest is the image digest ("sha256:…"), "" when unknown.
	Digest string `json:"digest,omitempty"`
	// State is the workload's state on the node (running, failed, …).
	State string `json:"state"`
}

// Version is "v2@1aeed1810288": the tag and the digest's first 12 hex
// digits; either alone when the other is unknown.
func (m Model) Version() string {
	d := shortDigest(m.Digest)
	switch {
	case m.Tag != "" && d != "":
		return m.Tag + "@" + d
	case m.Tag != "":
		return m.Tag
	case d != "":
		return "@" + d
	}
	return "?"
}

// String is "detector v2@1aeed1810288".
func (m Model) String() string { return m.Workload + " " + m.Version() }

// shortDigest is the first 12 hex digits of a digest.
func shortDigest(d string) string {
	_, hex, ok := strings.Cut(d, ":")
	if !ok {
		hex = d
	}
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

// parseImage splits a reference "host[:port]/repo[:tag][@sha256:…]".
func parseImage(ref string) (repo, tag, digest string) {
	repo, digest, _ = strings.Cut(ref, "@")
	slash := strings.LastIndexByte(repo, '/')
	if colon := strings.LastIndexByte(repo, ':'); colon > slash {
		repo, tag = repo[:colon], repo[colon+1:]
	}
	return repo, tag, digest
}

// modelsOf lists the model versions of a report's workloads, by name.
func modelsOf(ws []status.Workload) []Model {
	out := make([]Model, 0, len(ws))
	for _, w := range ws {
		repo, tag, digest := parseImage(w.Image)
		out = append(out, Model{Workload: w.Name, Repository: repo, Tag: tag, Digest: digest, State: w.State})
	}
	slices.SortFunc(out, func(a, b Model) int { return cmp.Compare(a.Workload, b.Workload) })
	return out
}

// ModelVersions is where each version of one workload's model runs.
type ModelVersions struct {
	Workload string         `json:"workload"`
	Versions []VersionNodes `json:"versions"`
}

// VersionNodes is one version of a workload's model and the nodes that
// report running it.
type VersionNodes struct {
	Repository string   `json:"repository"`
	Tag        string   `json:"tag,omitempty"`
	Digest     string   `json:"digest,omitempty"`
	Nodes      []string `json:"nodes"`
}

// Version is as Model.Version.
func (v VersionNodes) Version() string {
	return Model{Tag: v.Tag, Digest: v.Digest}.Version()
}

// modelVersions sums up which version of each workload runs where, from
// the nodes' reports: workloads by name, versions by most nodes first.
func modelVersions(nodes []Node) []ModelVersions {
	type key struct{ repo, tag, digest string }
	by := map[string]map[key][]string{}
	for _, n := range nodes {
		for _, m := range n.Models {
			if by[m.Workload] == nil {
				by[m.Workload] = map[key][]string{}
			}
			k := key{m.Repository, m.Tag, m.Digest}
			by[m.Workload][k] = append(by[m.Workload][k], n.Name)
		}
	}
	out := []ModelVersions{}
	for _, w := range slices.Sorted(maps.Keys(by)) {
		mv := ModelVersions{Workload: w}
		for k, ns := range by[w] {
			slices.Sort(ns)
			mv.Versions = append(mv.Versions, VersionNodes{Repository: k.repo, Tag: k.tag, Digest: k.digest, Nodes: ns})
		}
		slices.SortFunc(mv.Versions, func(a, b VersionNodes) int {
			return cmp.Or(cmp.Compare(len(b.Nodes), len(a.Nodes)), cmp.Compare(a.Tag, b.Tag), cmp.Compare(a.Digest, b.Digest))
		})
		out = append(out, mv)
	}
	return out
}
