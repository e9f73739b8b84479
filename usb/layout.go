package usb

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/spec"
)

// Names on a stick, relative to its top folder (Dir).
const (
	// Dir is the stick's top folder.
	Dir = "gitfleet"
	// ManifestFile says what the stick carries.
	ManifestFile = "manifest.json"
	// RepoDir is the bare fleet repository.
	RepoDir = "fleet.git"
	// ImagesDir is the OCI image layout.
	ImagesDir = "images"
)

// Manifest values.
const (
	APIVersion   = "gitfleet.dev/v1alpha1"
	ManifestKind = "StickManifest"
)

// maxManifestBytes caps manifest.json.
const maxManifestBytes = 16 << 20

// Manifest is gitfleet/manifest.json.
type Manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Created is when the export finished.
	Created time.Time `json:"created"`
	// Repo is the fleet repo the stick was made from, without credentials.
	Repo string `json:"repo"`
	// Branch is the branch the stick carries, and Revision its head.
	Branch   string `json:"branch"`
	Revision string `json:"revision"`
	// Selectors and Nodes are what the export was asked for (k=v, names);
	// Targets the nodes they resolved to.
	Selectors []string `json:"selectors,omitempty"`
	Nodes     []string `json:"nodes,omitempty"`
	Targets   []string `json:"targets"`
	// Delta is set on a delta stick: it carries only what its targets did
	// not have, judged from their last status reports.
	Delta *Delta `json:"delta,omitempty"`
	// Images are the images the targets run, with their signatures.
	Images []Image `json:"images"`
	// Files lists every file the export wrote, with its size and sha256;
	// files nodes add later (status objects and refs) are not listed.
	Files []File `json:"files"`
}

// Delta describes what a delta stick leaves out.
type Delta struct {
	// Have is each target's applied revision, from its last report: the
	// Git objects reachable from these are not on the stick.
	Have map[string]string `json:"have"`
	// OmittedBlobs are image blobs every target already holds (their
	// reports name images containing them); they are not on the stick.
	OmittedBlobs []string `json:"omittedBlobs,omitempty"`
}

// Image is one image on the stick.
type Image struct {
	// Ref is the reference the fleet's workloads name (pinned by digest).
	Ref string `json:"ref"`
	// Digest is the image's manifest (or index) digest.
	Digest string `json:"digest"`
	// Signatures are the digests of its signature manifests on the stick
	// (legacy .sig manifests and bundle referrers).
	Signatures []string `json:"signatures,omitempty"`
	// Nodes are the targets that run it.
	Nodes []string `json:"nodes,omitempty"`
}

// File is one exported file and its checksum.
type File struct {
	// Path is slash-separated, relative to gitfleet/.
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Digest string `json:"digest"`
}

var revisionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{40}$`) })

// Validate checks a manifest read from a stick; errors name the field.
func (m *Manifest) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", ManifestFile, field, fmt.Sprintf(format, args...)))
	}
	if m.APIVersion != APIVersion || m.Kind != ManifestKind {
		bad("apiVersion/kind", "%s/%s, want %s/%s", m.APIVersion, m.Kind, APIVersion, ManifestKind)
	}
	if m.Branch == "" {
		bad("branch", "missing")
	}
	if !revisionRE().MatchString(m.Revision) {
		bad("revision", "%q is not a 40-digit commit hash", m.Revision)
	}
	for i, img := range m.Images {
		if !spec.IsSHA256Digest(img.Digest) {
			bad(fmt.Sprintf("images[%d].digest", i), "%q is not sha256:<64 hex>", img.Digest)
		}
		for j, s := range img.Signatures {
			if !spec.IsSHA256Digest(s) {
				bad(fmt.Sprintf("images[%d].signatures[%d]", i, j), "%q is not sha256:<64 hex>", s)
			}
		}
	}
	for i, f := range m.Files {
		field := fmt.Sprintf("files[%d]", i)
		if err := checkRelPath(f.Path); err != nil {
			bad(field+".path", "%v", err)
		}
		if f.Size < 0 {
			bad(field+".size", "%d is negative", f.Size)
		}
		if !spec.IsSHA256Digest(f.Digest) {
			bad(field+".digest", "%q is not sha256:<64 hex>", f.Digest)
		}
	}
	if m.Delta != nil {
		for node, rev := range m.Delta.Have {
			if !revisionRE().MatchString(rev) {
				bad("delta.have."+node, "%q is not a 40-digit commit hash", rev)
			}
		}
		for i, d := range m.Delta.OmittedBlobs {
			if !spec.IsSHA256Digest(d) {
				bad(fmt.Sprintf("delta.omittedBlobs[%d]", i), "%q is not sha256:<64 hex>", d)
			}
		}
	}
	return errors.Join(errs...)
}

// checkRelPath accepts a clean, relative, slash-separated path that stays
// inside gitfleet/.
func checkRelPath(p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "\\") {
		return fmt.Errorf("%q is not a clean relative path inside %s/", p, Dir)
	}
	return nil
}

// ParseManifest decodes and validates manifest.json; unknown fields are
// errors, as in the fleet repo.
func ParseManifest(b []byte) (*Manifest, error) {
	if len(b) > maxManifestBytes {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", ManifestFile, len(b), maxManifestBytes)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Marshal encodes the manifest with its lists in a stable order.
func (m *Manifest) Marshal() ([]byte, error) {
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	sort.Slice(m.Images, func(i, j int) bool { return m.Images[i].Ref < m.Images[j].Ref })
	sort.Strings(m.Targets)
	return json.MarshalIndent(m, "", "  ")
}

// FoldCollisions returns the names of names that differ from another only
// by case: a vfat stick cannot hold both (status refs are files).
func FoldCollisions(names []string) []string {
	seen := map[string]string{}
	var out []string
	for _, n := range names {
		k := strings.ToLower(n)
		if prev, ok := seen[k]; ok && prev != n {
			out = append(out, prev+" / "+n)
			continue
		}
		seen[k] = n
	}
	sort.Strings(out)
	return out
}
