package runtimetest

import (
	"os"
	"testing"

	containerd "github.com/containerd/containerd"
)

func TestStartRestartStop(t *testing.T) {
	d, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name string
		do   func() error
	}{{"serving", nil}, {"restart", d.Restart}} {
		if step.do != nil {
			if err := step.do(); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
		}
		c, err := containerd.New(d.Address)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if ok, err := c.IsServing(t.Context()); !ok || err != nil {
			t.Errorf("%s: IsServing = %v, %v", step.name, ok, err)
		}
		c.Close()
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{d.Root, d.State, d.Address} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s left after Stop (%v)", dir, err)
		}
	}
}

func TestStartFailsWithoutBinary(t *testing.T) {
	if _, err := Start(Options{Binary: "/nonexistent/containerd"}); err == nil {
		t.Error("Start with a missing binary succeeded")
	}
}
