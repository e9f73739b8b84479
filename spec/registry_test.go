package spec_test

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/distribution/reference"

	"github.com/gitfleet/gitfleet/spec"
)

const dgst = "sha256:cdbf25ce24ed4527fed4bfc09f1a23c684b3f55c38f2f6493ec19f8907177e95"

// TestParseImageRefAgreesWithDistribution checks the split into host and
// repository against distribution/reference, which containerd uses to name
// what it pulls.
func TestParseImageRefAgreesWithDistribution(t *testing.T) {
	for _, ref := range []string{
		"registry.example.com/models/detector@" + dgst,
		"registry.example.com/models/detector:v2@" + dgst,
		"127.0.0.1:5000/models/defect-classifier:v1",
		"localhost/a",
		"localhost:5000/a:v1.2@" + dgst,
		"detector@" + dgst,
		"nginx:1.27",
		"bitnami/redis",
		"docker.io/library/busybox:1.36@" + dgst,
		"index.docker.io/library/busybox",
		"[::1]:5000/a@" + dgst,
		"a/b__c/d.e/f---g",
	} {
		got, err := spec.ParseImageRef(ref)
		if err != nil {
			t.Errorf("ParseImageRef(%q): %v", ref, err)
			continue
		}
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			t.Fatalf("distribution cannot parse %q: %v", ref, err)
		}
		if want := reference.Domain(named); got.Host != want {
			t.Errorf("ParseImageRef(%q).Host = %q, distribution says %q", ref, got.Host, want)
		}
		if want := reference.Path(named); got.Repository != want {
			t.Errorf("ParseImageRef(%q).Repository = %q, distribution says %q", ref, got.Repository, want)
		}
		wantTag, wantDigest := "", ""
		if tagged, ok := named.(reference.Tagged); ok {
			wantTag = tagged.Tag()
		}
		if c, ok := named.(reference.Canonical); ok {
			wantDigest = c.Digest().String()
		}
		if got.Tag != wantTag || got.Digest != wantDigest {
			t.Errorf("ParseImageRef(%q) tag, digest = %q, %q; want %q, %q", ref, got.Tag, got.Digest, wantTag, wantDigest)
		}
		if want := named.String(); got.String() != want {
			t.Errorf("ParseImageRef(%q).String() = %q, want %q", ref, got.String(), want)
		}
	}
	for _, bad := range []string{"", "Detector", "a@sha256:abc", "a@latest", "https://r.example/a", "a//b"} {
		if _, err := spec.ParseImageRef(bad); err == nil {
			t.Errorf("ParseImageRef(%q) accepted", bad)
		}
	}
}

func TestParseMirror(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    spec.Mirror
		wantErr string
	}{
		{in: "mirror.local:5000", want: spec.Mirror{Host: "mirror.local:5000"}},
		{in: "10.0.0.1:5000/cache", want: spec.Mirror{Host: "10.0.0.1:5000", Prefix: "cache"}},
		{in: "harbor.example.com/proxy/hub", want: spec.Mirror{Host: "harbor.example.com", Prefix: "proxy/hub"}},
		{in: "", wantErr: "must not be empty"},
		{in: "http://m.example", wantErr: "without a scheme"},
		{in: "m.example/Cache", wantErr: "repository path prefix"},
		{in: "m.example/a//b", wantErr: "repository path prefix"},
		{in: "m.example/", wantErr: "repository path prefix"},
		{in: "m.example/v2", wantErr: "/v2 API path is implied"},
		{in: "m@example", wantErr: "want host[:port][/path]"},
	} {
		got, err := spec.ParseMirror(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseMirror(%q): %v", tt.in, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseMirror(%q) = %v, want an error with %q", tt.in, err, tt.wantErr)
		case got != tt.want:
			t.Errorf("ParseMirror(%q) = %+v, want %+v", tt.in, got, tt.want)
		case err == nil && got.String() != tt.in:
			t.Errorf("ParseMirror(%q).String() = %q", tt.in, got.String())
		}
	}
}

// TestMirrorsFromFleetYAML reads mirrors through Parse: typed once, and a
// bad one is reported with its file and field.
func TestMirrorsFromFleetYAML(t *testing.T) {
	fleet := func(mirrors string) fstest.MapFS {
		return fstest.MapFS{"fleet.yaml": {Data: []byte(`apiVersion: gitfleet.dev/v1alpha1
kind: Fleet
metadata: {name: f}
spec:
  registries:
    - {host: registry.example.com, mirrors: ` + mirrors + `}
    - {host: "127.0.0.1:5001", plainHTTP: true}
`)}}
	}
	repo, err := spec.Parse(fleet(`["127.0.0.1:5001/cache", mirror.local]`))
	if err != nil {
		t.Fatal(err)
	}
	got := repo.Fleet.Spec.Registries[0].Mirrors
	want := []spec.Mirror{{Host: "127.0.0.1:5001", Prefix: "cache"}, {Host: "mirror.local"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("mirrors = %+v, want %+v", got, want)
	}
	b, err := json.Marshal(repo.Fleet.Spec.Registries[0])
	if err != nil || !strings.Contains(string(b), `"mirrors":["127.0.0.1:5001/cache","mirror.local"]`) {
		t.Errorf("JSON form %s, %v: want the mirrors as fleet.yaml writes them", b, err)
	}

	_, err = spec.Parse(fleet(`["127.0.0.1:5001/Cache", {host: x}]`))
	for _, want := range []string{
		"fleet.yaml:6: spec.registries[0].mirrors[0]: invalid mirror \"127.0.0.1:5001/Cache\"",
		"fleet.yaml:6: spec.registries[0].mirrors[1]: want a mirror",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse = %v, want an error with %q", err, want)
		}
	}
}

func TestSources(t *testing.T) {
	regs := []spec.Registry{
		{Host: "registry.example.com", Mirrors: []spec.Mirror{{Host: "127.0.0.1:5001", Prefix: "cache"}, {Host: "mirror.local"}}},
		{Host: "127.0.0.1:5001", PlainHTTP: true},
		{Host: "docker.io", Mirrors: []spec.Mirror{{Host: "hub.local", Prefix: "hub"}}},
		{Host: "lab:5000", PlainHTTP: true},
	}
	for _, tt := range []struct {
		ref  string
		want []string // String() of each source
	}{
		{"registry.example.com/models/detector@" + dgst, []string{
			"http://127.0.0.1:5001/cache/models/detector@" + dgst,
			"https://mirror.local/models/detector@" + dgst,
			"https://registry.example.com/models/detector@" + dgst,
		}},
		{"nginx:1.27", []string{"https://hub.local/hub/library/nginx:1.27", "https://registry-1.docker.io/library/nginx:1.27"}},
		{"lab:5000/a/b:v1", []string{"http://lab:5000/a/b:v1"}},
		{"other.example.com/a", []string{"https://other.example.com/a"}},
	} {
		ref, err := spec.ParseImageRef(tt.ref)
		if err != nil {
			t.Fatal(err)
		}
		srcs := spec.Sources(regs, ref)
		var got []string
		for _, s := range srcs {
			got = append(got, s.String())
			if s.Image != ref {
				t.Errorf("%s: source %s carries image %v", tt.ref, s, s.Image)
			}
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("Sources(%s) =\n  %s\nwant\n  %s", tt.ref, strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
		}
		if last := srcs[len(srcs)-1]; last.IsMirror() || last != spec.Origin(regs, ref) {
			t.Errorf("%s: last source %s is not the origin", tt.ref, last)
		}
		for _, s := range srcs[:len(srcs)-1] {
			if !s.IsMirror() {
				t.Errorf("%s: %s not a mirror", tt.ref, s)
			}
		}
	}
}
