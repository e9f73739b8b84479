package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
)

// Model is a logistic-regression model as stored in a weights file:
//
//	{"version":"v1","features":["temp","vibration"],"weights":[0.8,1.3],"bias":-2.1,"threshold":0.5}
type Model struct {
	Name      string    `json:"name,omitempty"`
	Version   string    `json:"version"`
	Features  []string  `json:"features"`
	Weights   []float64 `json:"weights"`
	Bias      float64   `json:"bias"`
	Threshold *float64  `json:"threshold,omitempty"` // default 0.5
}

// LoadModel reads and validates a weights file.
func LoadModel(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := ParseModel(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ParseModel decodes a weights file strictly and validates it.
func ParseModel(data []byte) (*Model, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Model
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func (m *Model) validate() error {
	var errs []error
	if m.Version == "" {
		errs = append(errs, errors.New("version: required"))
	}
	if len(m.Features) == 0 {
		errs = append(errs, errors.New("features: at least one required"))
	}
	seen := map[string]bool{}
	for i, f := range m.Features {
		if f == "" {
			errs = append(errs, fmt.Errorf("features[%d]: empty name", i))
		} else if seen[f] {
			errs = append(errs, fmt.Errorf("features[%d]: duplicate %q", i, f))
		}
		seen[f] = true
	}
	if len(m.Weights) != len(m.Features) {
		errs = append(errs, fmt.Errorf("weights: %d weights for %d features", len(m.Weights), len(m.Features)))
	}
	if t := m.threshold(); !(t > 0 && t < 1) {
		errs = append(errs, fmt.Errorf("threshold: %v not between 0 and 1", t))
	}
	return errors.Join(errs...)
}

func (m *Model) threshold() float64 {
	if m.Threshold == nil {
		return 0.5
	}
	return *m.Threshold
}

// Predict returns the probability of the positive class and the label
// (1 when the probability reaches the threshold) for x, which must have
// one value per feature.
func (m *Model) Predict(x []float64) (probability float64, label int) {
	z := m.Bias
	for i, w := range m.Weights {
		z += w * x[i]
	}
	p := 1 / (1 + math.Exp(-z))
	if p >= m.threshold() {
		return p, 1
	}
	return p, 0
}

// Vector orders named feature values as the model expects them. Every
// feature must be present and no unknown name may appear.
func (m *Model) Vector(named map[string]float64) ([]float64, error) {
	x := make([]float64, len(m.Features))
	var errs []error
	for i, f := range m.Features {
		v, ok := named[f]
		if !ok {
			errs = append(errs, fmt.Errorf("feature %q missing", f))
		}
		x[i] = v
	}
	for name := range named {
		if !contains(m.Features, name) {
			errs = append(errs, fmt.Errorf("unknown feature %q (model has %q)", name, m.Features))
		}
	}
	return x, errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
