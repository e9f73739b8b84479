package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

func TestZProfPlan(t *testing.T) {
	repo := os.Getenv("ZREPO")
	if repo == "" {
		t.Skip()
	}
	for range 40 {
		var stderr strings.Builder
		if code := run(context.Background(), []string{"plan", "--offline", "--output", "json", "--repo", repo, "--base", os.Getenv("ZBASE"), "--head", os.Getenv("ZHEAD")}, io.Discard, &stderr); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	}
}
