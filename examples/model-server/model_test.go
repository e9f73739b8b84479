package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestShippedWeightsLoad(t *testing.T) {
	files, err := filepath.Glob("weights/*.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("weights files: %v, %v", files, err)
	}
	for _, f := range files {
		if _, err := LoadModel(f); err != nil {
			t.Errorf("LoadModel(%s): %v", f, err)
		}
	}
}

func TestParseModelErrors(t *testing.T) {
	tests := []struct{ name, json, wantErr string }{
		{"no version", `{"features":["a"],"weights":[1]}`, "version: required"},
		{"no features", `{"version":"v1","features":[],"weights":[]}`, "features: at least one"},
		{"weights mismatch", `{"version":"v1","features":["a","b"],"weights":[1]}`, "1 weights for 2 features"},
		{"duplicate feature", `{"version":"v1","features":["a","a"],"weights":[1,2]}`, `duplicate "a"`},
		{"threshold", `{"version":"v1","features":["a"],"weights":[1],"threshold":1.5}`, "threshold: 1.5"},
		{"unknown field", `{"version":"v1","features":["a"],"weights":[1],"bais":1}`, "unknown field"},
		{"not JSON", `weights`, "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseModel([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseModel error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadModelNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(path, []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadModel(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadModel error = %v, want it to name %s", err, path)
	}
}

func TestPredictMath(t *testing.T) {
	th := 0.5
	m := &Model{Version: "v1", Features: []string{"a", "b"}, Weights: []float64{2, -1}, Bias: 0.5, Threshold: &th}
	p, label := m.Predict([]float64{1, 1}) // z = 1.5
	if want := 1 / (1 + math.Exp(-1.5)); math.Abs(p-want) > 1e-12 || label != 1 {
		t.Errorf("Predict = %v, %d; want %v, 1", p, label, want)
	}
	p, label = m.Predict([]float64{0, 2}) // z = -1.5
	if label != 0 || p >= 0.5 {
		t.Errorf("Predict = %v, %d; want < 0.5, 0", p, label)
	}
	m.Threshold = nil
	if _, label := m.Predict([]float64{0, 0.5}); label != 1 { // p = 0.5 exactly: default threshold 0.5 → 1
		t.Errorf("default threshold: label = %d, want 1", label)
	}
}
