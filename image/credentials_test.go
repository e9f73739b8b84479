package image

import (
	"crypto"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/internal/imagebuild"
	"github.com/gitfleet/gitfleet/internal/ocitest"
)

// writeDockerConfig writes a config.json with one basic login for host.
func writeDockerConfig(t *testing.T, host, user, password string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "registries.json")
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	if err := os.WriteFile(file, []byte(`{"auths": {"`+host+`": {"auth": "`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestCredentialsAgainstHtpasswdRegistry: Debian's docker-registry with
// htpasswd auth serves a signed image only to a client that signs in with
// the login from a config.json; anonymous and a wrong password are refused
// as unauthorized (class refused: retrying cannot help), and no error
// shows the password.
func TestCredentialsAgainstHtpasswdRegistry(t *testing.T) {
	const user, password = "fleet", "s3cret-pw-4711"
	host := ocitest.StartDockerRegistryWithLogin(t, user, password)
	ctx := ctxT(t)
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := imagebuild.Push(ctx, img, host+"/models/detector:v1",
		remote.WithAuth(&authn.Basic{Username: user, Password: password}))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := LoadCredentials(writeDockerConfig(t, host, user, password), "", false)
	if err != nil {
		t.Fatal(err)
	}
	key := newECDSA(t)
	opts := optsFor(host)
	opts.Credentials = creds
	if err := SignLegacy(ctx, ref, key, opts); err != nil {
		t.Fatalf("sign with login: %v", err)
	}
	keys := keySet(t, map[string]crypto.Signer{"fleet.pub": key})

	res, err := Verify(ctx, ref, keys, opts)
	if err != nil {
		t.Fatalf("verify with login: %v", err)
	}
	if !strings.HasSuffix(ref, res.Digest) {
		t.Errorf("verified %s, want %s", res.Digest, ref)
	}

	wrong, err := LoadCredentials(writeDockerConfig(t, host, user, "not-it"), "", false)
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]Options{
		"anonymous":      optsFor(host),
		"wrong password": {Registries: opts.Registries, Credentials: wrong},
	} {
		_, err := Verify(ctx, ref, keys, o)
		if err == nil {
			t.Fatalf("%s: verified without a valid login", name)
		}
		if !strings.Contains(strings.ToLower(err.Error()), "unauthorized") || fault.ClassOf(err) != fault.Refused {
			t.Errorf("%s: err = %v (class %v), want an unauthorized refusal", name, err, fault.ClassOf(err))
		}
		t.Logf("%s: %v", name, err)
		if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "not-it") {
			t.Errorf("%s: error shows a password: %v", name, err)
		}
	}
}

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.json")
	if err := os.WriteFile(file, []byte(`{"auths": {
		"https://index.docker.io/v1/": {"auth": "`+base64.StdEncoding.EncodeToString([]byte("hub:pw1"))+`"},
		"registry.example.com:5000": {"username": "u", "password": "pw2"},
		"ghcr.io": {"registrytoken": "tok3"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCredentials(file, "", false)
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]Login{
		"index.docker.io":           {Username: "hub", Password: "pw1"},
		"registry.example.com:5000": {Username: "u", Password: "pw2"},
		"ghcr.io":                   {RegistryToken: "tok3"},
	} {
		if got, ok := c.Login(host); !ok || got != want {
			t.Errorf("Login(%s) = %+v, %v; want %+v", host, got, ok, want)
		}
		if got, _ := c.Login(host); got.String() == "" || strings.ContainsAny(got.String(), "123") {
			t.Errorf("Login(%s).String() = %q shows a secret", host, got)
		}
	}
	if _, ok := c.Login("other.example.com"); ok {
		t.Error("a host without a login has one")
	}
	if _, err := LoadCredentials(filepath.Join(dir, "missing.json"), "", true); err != nil {
		t.Errorf("missing default file: %v, want anonymous", err)
	}
	if _, err := LoadCredentials(filepath.Join(dir, "missing.json"), "", false); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing named file: %v, want not exist", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"auths": {"h": {"auth": "not base64 s3cret"}}}`), 0o600)
	if _, err := LoadCredentials(bad, "", false); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad auth: %v, want an error without the secret", err)
	}
}
