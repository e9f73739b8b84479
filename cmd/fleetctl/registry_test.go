package main

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gitfleet/gitfleet/internal/imagebuild"
	"github.com/gitfleet/gitfleet/internal/ocitest"
)

// TestPinPrivateRegistry: pin resolves a tag in Debian's docker-registry
// with htpasswd auth using the login in --registry-config (the format
// fleetd reads); without it, pin exits 1 saying the registry answered
// unauthorized, and the file is left alone.
func TestPinPrivateRegistry(t *testing.T) {
	const user, password = "ci", "pw-3f0e-fleetctl"
	host := ocitest.StartDockerRegistryWithLogin(t, user, password)
	ref, err := imagebuild.Push(context.Background(), modelImage(t, `{"v":1}`), host+"/models/detector:v1",
		remote.WithAuth(&authn.Basic{Username: user, Password: password}))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"fleet.yaml":              "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: plant}\nspec:\n  registries:\n    - {host: \"" + host + "\", plainHTTP: true}\n",
		"workloads/detector.yaml": "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: detector}\nspec:\n  image: " + host + "/models/detector:v1\n",
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no login from the user's own Docker config
	r := fleetctl(t, "pin", dir)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "401 Unauthorized") {
		t.Errorf("pin without a login: exit %d, want 1 with unauthorized\n%s%s", r.code, r.stdout, r.stderr)
	}
	regFile := filepath.Join(t.TempDir(), "registries.json")
	login := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	if err := os.WriteFile(regFile, []byte(`{"auths": {"`+host+`": {"auth": "`+login+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r = fleetctl(t, "pin", dir, "--registry-config", regFile)
	if r.code != 0 {
		t.Fatalf("pin with the login: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "workloads/detector.yaml"))
	if want := ref[strings.LastIndexByte(ref, '@'):]; !strings.Contains(string(got), ":v1"+want) {
		t.Errorf("workload after pin:\n%s\nwant the tag pinned to %s", got, want)
	}
	if strings.Contains(r.stdout+r.stderr, password) {
		t.Error("pin printed the password")
	}
}
