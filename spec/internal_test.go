package spec

import (
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"
)

func TestCheckImage(t *testing.T) {
	const d = "@sha256:cdbf25ce24ed4527fed4bfc09f1a23c684b3f55c38f2f6493ec19f8907177e95"
	for _, tt := range []struct {
		ref     string
		wantErr string // a substring; "" for valid
	}{
		{"registry.example.com/models/detector" + d, ""},
		{"127.0.0.1:5000/models/defect-classifier" + d, ""},
		{"localhost:5000/a:v1.2" + d, ""},
		{"detector" + d, ""},
		{"docker.io/library/busybox:1.36" + d, ""},
		{"[::1]:5000/a" + d, ""},
		{"a/b__c/d.e/f---g" + d, ""},
		{"detector", "must be pinned by digest"},
		{"detector:v1", "must be pinned by digest"},
		{"detector@latest", "must be pinned by digest"},
		{"detector@sha256:abc", "invalid digest"},
		{"detector@sha256:" + strings.Repeat("A", 64), "invalid digest"},
		{"detector@sha256:" + strings.Repeat("a", 65), "invalid digest"},
		{"detector@sha512:" + strings.Repeat("a", 128), "must be pinned by digest"},
		{"Detector" + d, "invalid image name"},
		{"https://r.example/a" + d, "invalid image name"},
		{"r.example/a b" + d, "invalid image name"},
		{"" + d, "invalid image name"},
		{"r.example/a/" + d, "invalid image name"},
		{"r.example/a@x" + d, "invalid image name"},
	} {
		err := checkImage(tt.ref)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("checkImage(%q) = %v, want nil", tt.ref, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("checkImage(%q) = %v, want an error with %q", tt.ref, err, tt.wantErr)
		}
	}
}

func TestHostPolicyAllows(t *testing.T) {
	h := fleetPolicy{paths: []string{"/var/lib/models", "/srv"}, known: true}
	for src, want := range map[string]bool{
		"/var/lib/models":     true,
		"/var/lib/models/a":   true,
		"/var/lib/models/a/b": true,
		"/var/lib/models2":    false,
		"/var/lib/model":      false,
		"/var/lib":            false,
		"/srv/x":              true,
		"/srvx":               false,
		"/etc":                false,
	} {
		if got := h.allows(src); got != want {
			t.Errorf("allows(%q) = %t, want %t", src, got, want)
		}
	}
}

func TestFieldPathString(t *testing.T) {
	for _, tt := range []struct {
		p    fieldPath
		want string
	}{
		{fieldPath{}, ""},
		{fieldPath{}.key("spec").key("image"), "spec.image"},
		{fieldPath{}.key("spec").key("mounts").index(0).key("source"), "spec.mounts[0].source"},
		{fieldPath{}.key("spec").key("env").key("A B"), `spec.env["A B"]`},
		{fieldPath{}.key("metadata").key("labels").key("example.com/rack"), `metadata.labels["example.com/rack"]`},
		{fieldPath{}.key("spec").key("overrides").key("defect-classifier").key("env"), "spec.overrides.defect-classifier.env"},
	} {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestLocate(t *testing.T) {
	const src = `apiVersion: v
spec:
  image: x
  mounts:
    - source: /a
      target: /b
    - {source: /c,
       target: /d}
  env: {A: "1"}
`
	var n yamlv3.Node
	if err := yamlv3.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	root := n.Content[0]
	for _, tt := range []struct {
		p    fieldPath
		want int
	}{
		{fieldPath{}, 1},
		{fieldPath{}.key("spec"), 2},
		{fieldPath{}.key("spec").key("image"), 3},
		{fieldPath{}.key("spec").key("mounts").index(0).key("target"), 6},
		{fieldPath{}.key("spec").key("mounts").index(1).key("target"), 8},
		{fieldPath{}.key("spec").key("mounts").index(1).key("readOnly"), 7}, // absent: the mount
		{fieldPath{}.key("spec").key("mounts").index(5), 4},                 // absent: the list
		{fieldPath{}.key("spec").key("env").key("A"), 9},
		{fieldPath{}.key("spec").key("health").key("period"), 2},
		{fieldPath{}.key("metadata").key("name"), 1},
	} {
		if got := locate(root, tt.p); got != tt.want {
			t.Errorf("locate(%s) = %d, want %d", tt.p, got, tt.want)
		}
	}
	if got := locate(nil, fieldPath{}.key("spec")); got != 0 {
		t.Errorf("locate(nil) = %d, want 0", got)
	}
}
