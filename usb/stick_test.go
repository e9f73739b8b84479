package usb

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fault"
)

// layerData is the stick's one blob, layerBlob its path.
var (
	layerData = strings.Repeat("x", 1000)
	layerBlob = "images/blobs/sha256/" + hex64(layerData)
)

// makeStick writes a small valid stick into a temp dir and returns its
// gitfleet/ folder.
func makeStick(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), Dir)
	files := map[string]string{
		"images/oci-layout": `{"imageLayoutVersion":"1.0.0"}`,
		"images/index.json": `{"schemaVersion":2,"manifests":[]}`,
		layerBlob:           layerData,
	}
	m := Manifest{APIVersion: APIVersion, Kind: ManifestKind, Created: time.Unix(1700000000, 0).UTC(),
		Repo: "https://git.example.com/fleet.git", Branch: "main", Revision: strings.Repeat("a", 40), Targets: []string{"n1"}}
	for p, data := range files {
		writeFile(t, filepath.Join(dir, p), data)
		sum := sha256.Sum256([]byte(data))
		m.Files = append(m.Files, File{Path: p, Size: int64(len(data)), Digest: "sha256:" + hex.EncodeToString(sum[:])})
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, ManifestFile), string(b))
	return dir
}

func hex64(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestOpenAcceptsAWholeStick(t *testing.T) {
	dir := makeStick(t)
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Manifest.Revision != strings.Repeat("a", 40) || s.RepoPath() != filepath.Join(dir, RepoDir) {
		t.Errorf("stick %+v", s)
	}
}

func TestOpenRefusesBadSticks(t *testing.T) {
	blob := layerBlob
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, dir string)
		path  string // the file the error must name
		want  string
	}{
		{"no manifest (unfinished export)", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, ManifestFile))
		}, ManifestFile, "did not finish"},
		{"manifest with an unknown field", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, ManifestFile), `{"apiVersion":"gitfleet.dev/v1alpha1","kind":"StickManifest","bogus":1}`)
		}, "", "bogus"},
		{"missing blob", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, blob))
		}, blob, "missing"},
		{"truncated blob", func(t *testing.T, dir string) {
			os.Truncate(filepath.Join(dir, blob), 10)
		}, blob, "truncated"},
		{"damaged index", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "images/index.json"), `{"schemaVersion":2,"manifests":{}}`)
		}, "images/index.json", "sha256"},
		{"symlink out of the stick", func(t *testing.T, dir string) {
			if err := os.Symlink("/etc/shadow", filepath.Join(dir, "images", "blobs", "sha256", hex64("evil"))); err != nil {
				t.Fatal(err)
			}
		}, "images/blobs/sha256/" + hex64("evil"), "/etc/shadow"},
		{"gitfleet itself a link", func(t *testing.T, dir string) {
			real := dir + ".real"
			os.Rename(dir, real)
			os.Symlink(real, dir)
		}, "", "symbolic link"},
		{"blob listed under another digest", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
			other := "sha256:" + hex64("other")
			var m Manifest
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for i := range m.Files {
				if m.Files[i].Path == blob {
					m.Files[i].Digest = other
				}
			}
			out, _ := m.Marshal()
			writeFile(t, filepath.Join(dir, ManifestFile), string(out))
		}, blob, "its name says"},
		{"manifest path escaping", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
			writeFile(t, filepath.Join(dir, ManifestFile), strings.Replace(string(b), `"images/oci-layout"`, `"../../etc/passwd"`, 1))
		}, "", "not a clean relative path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := makeStick(t)
			tc.spoil(t, dir)
			_, err := Open(dir)
			var se *StickError
			if !errors.As(err, &se) || !errors.Is(err, ErrBadStick) || fault.ClassOf(err) != fault.Refused {
				t.Fatalf("Open = %v, want a refused *StickError", err)
			}
			if se.Path != tc.path || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open = %v (path %q), want it to name %q and say %q", err, se.Path, tc.path, tc.want)
			}
		})
	}
}

func TestFoldCollisions(t *testing.T) {
	got := FoldCollisions([]string{"press-01", "Press-01", "press-02"})
	if len(got) != 1 || got[0] != "press-01 / Press-01" {
		t.Errorf("FoldCollisions = %v, want [press-01 / Press-01]", got)
	}
}
