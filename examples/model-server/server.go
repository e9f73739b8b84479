package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

const maxBody = 1 << 20

// server answers HTTP requests for one model. The model may arrive after
// the server starts (see --start-delay); until then it is not ready.
type server struct {
	log        *slog.Logger
	model      atomic.Pointer[Model]
	failHealth bool
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /predict", s.predict)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /version", s.version)
	return mux
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.failHealth:
		http.Error(w, "unhealthy (--fail-health)", http.StatusServiceUnavailable)
	case s.model.Load() == nil:
		http.Error(w, "loading model", http.StatusServiceUnavailable)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	}
}

type versionResponse struct {
	Name     string   `json:"name,omitempty"`
	Model    string   `json:"model"`
	Features []string `json:"features"`
}

func (s *server) version(w http.ResponseWriter, r *http.Request) {
	m := s.model.Load()
	if m == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("model not loaded yet"))
		return
	}
	writeJSON(w, http.StatusOK, versionResponse{Name: m.Name, Model: m.Version, Features: m.Features})
}

type predictRequest struct {
	// Features is a list with one number per model feature, in order, or
	// an object of feature name to number.
	Features json.RawMessage `json:"features"`
}

type predictResponse struct {
	Model       string  `json:"model"`
	Probability float64 `json:"probability"`
	Label       int     `json:"label"`
}

func (s *server) predict(w http.ResponseWriter, r *http.Request) {
	m := s.model.Load()
	if m == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("model not loaded yet"))
		return
	}
	x, err := decodeFeatures(m, http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	p, label := m.Predict(x)
	s.log.Debug("predict", "features", x, "probability", p, "label", label)
	writeJSON(w, http.StatusOK, predictResponse{Model: m.Version, Probability: p, Label: label})
}

func decodeFeatures(m *Model, body io.Reader) ([]float64, error) {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var req predictRequest
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("invalid JSON body: %w", err)
	}
	if dec.More() {
		return nil, errors.New("invalid JSON body: more than one value")
	}
	raw := bytes.TrimSpace(req.Features)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, fmt.Errorf(`"features" required: a list of %d numbers or an object of %q`, len(m.Features), m.Features)
	}
	switch raw[0] {
	case '[':
		var x []float64
		if err := json.Unmarshal(raw, &x); err != nil {
			return nil, fmt.Errorf(`"features": want a list of numbers: %w`, err)
		}
		if len(x) != len(m.Features) {
			return nil, fmt.Errorf(`"features": got %d values, model wants %d (%q)`, len(x), len(m.Features), m.Features)
		}
		return x, nil
	case '{':
		var named map[string]float64
		if err := json.Unmarshal(raw, &named); err != nil {
			return nil, fmt.Errorf(`"features": want an object of numbers: %w`, err)
		}
		x, err := m.Vector(named)
		if err != nil {
			return nil, fmt.Errorf(`"features": %w`, err)
		}
		return x, nil
	default:
		return nil, errors.New(`"features": want a list of numbers or an object of named numbers`)
	}
}

type errorResponse struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, errorResponse{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// logRequests logs each request at debug level.
func logRequests(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		log.Debug("request", "method", r.Method, "path", r.URL.Path, "duration", time.Since(start))
	})
}
