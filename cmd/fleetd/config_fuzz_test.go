package main

import (
	"errors"
	"testing"

	"github.com/gitfleet/gitfleet/spec"
)

// FuzzConfigFile: any bytes as a config file either decode or fail with
// errors that each name the file; the result never panics, and a decoded
// config completes or fails without panicking either.
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{
		"repo: file:///srv/fleet.git\nnode: press-01\nlabels: {site: a}\ninterval: 45s\n",
		"repo: x\nauth: {username: u, passwordFile: /p}\ncdiSpecDirs: [/etc/cdi]\n",
		"logLevl: debug\n",
		"interval: soon\n",
		"- a\n- b\n",
		"a: &x [*x]\n",
		"repo: x\n---\nrepo: y\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseConfigFile("fleetd.yaml", data)
		if err != nil {
			var se *spec.Error
			if !errors.As(err, &se) || se.File != "fleetd.yaml" {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		cfg.StateDir = "/var/lib/gitfleet-fuzz"
		cfg.Node = "n"
		_ = cfg.complete(true)
	})
}
