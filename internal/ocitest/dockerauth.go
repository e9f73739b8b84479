package ocitest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// StartDockerRegistryWithLogin is StartDockerRegistry with htpasswd auth:
// every request needs the login user:password (basic auth, which clients
// learn from the 401 challenge). The htpasswd file is written with bcrypt,
// the only hash distribution accepts.
func StartDockerRegistryWithLogin(t testing.TB, user, password string) (host string) {
	t.Helper()
	if _, err := os.Stat(DockerRegistryBinary); err != nil {
		t.Fatalf("docker-registry not installed (apt-get install docker-registry): %v", err)
	}
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, fmt.Appendf(nil, "%s:%s\n", user, hash), 0o600); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		var stop func()
		host, stop, err = startDockerRegistry(dir, htpasswd)
		if err == nil {
			t.Cleanup(stop)
			return host
		}
		if attempt == 2 || !errors.Is(err, errAddrInUse) {
			t.Fatalf("start docker-registry with htpasswd auth: %v", err)
		}
	}
}
