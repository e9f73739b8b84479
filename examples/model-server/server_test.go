package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func loadTestModel(t *testing.T, file string) *Model {
	t.Helper()
	m, err := LoadModel(filepath.Join("weights", file))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newTestServer(t *testing.T, m *Model, failHealth bool) *httptest.Server {
	t.Helper()
	s := &server{log: slog.New(slog.DiscardHandler), failHealth: failHealth}
	if m != nil {
		s.model.Store(m)
	}
	srv := httptest.NewServer(s.handler())
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestPredict(t *testing.T) {
	srv := newTestServer(t, loadTestModel(t, "defect-v1.json"), false)
	tests := []struct {
		name      string
		body      string
		wantLabel int
	}{
		{"list hot", `{"features":[85,3.0,95,1500]}`, 1},
		{"list normal", `{"features":[55,0.8,100,1000]}`, 0},
		{"named hot", `{"features":{"temp":85,"vibration":3.0,"pressure":95,"speed":1500}}`, 1},
		{"named normal", `{"features":{"speed":1000,"pressure":100,"vibration":0.8,"temp":55}}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, "POST", srv.URL+"/predict", tt.body)
			if code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", code, body)
			}
			var got predictResponse
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if got.Model != "v1" || got.Label != tt.wantLabel || got.Probability <= 0 || got.Probability >= 1 {
				t.Errorf("got %+v, want model v1, label %d, probability in (0,1)", got, tt.wantLabel)
			}
		})
	}
}

func TestPredictListAndNamedAgree(t *testing.T) {
	srv := newTestServer(t, loadTestModel(t, "vibration-v1.json"), false)
	_, a := do(t, "POST", srv.URL+"/predict", `{"features":[1.2,3.0,2.5]}`)
	_, b := do(t, "POST", srv.URL+"/predict", `{"features":{"rms":1.2,"peak":3.0,"kurtosis":2.5}}`)
	if a != b {
		t.Errorf("list answer %s != named answer %s", a, b)
	}
}

func TestPredictBadInput(t *testing.T) {
	srv := newTestServer(t, loadTestModel(t, "defect-v1.json"), false)
	tests := []struct{ name, body, wantErr string }{
		{"empty body", ``, "invalid JSON"},
		{"not JSON", `hello`, "invalid JSON"},
		{"no features", `{}`, `"features" required`},
		{"null features", `{"features":null}`, `"features" required`},
		{"unknown field", `{"features":[1,2,3,4],"x":1}`, "unknown field"},
		{"too few", `{"features":[1,2,3]}`, "got 3 values, model wants 4"},
		{"too many", `{"features":[1,2,3,4,5]}`, "got 5 values"},
		{"string value", `{"features":[1,"2",3,4]}`, "list of numbers"},
		{"missing name", `{"features":{"temp":1,"vibration":2,"pressure":3}}`, `feature "speed" missing`},
		{"unknown name", `{"features":{"temp":1,"vibration":2,"pressure":3,"speed":4,"rpm":5}}`, `unknown feature "rpm"`},
		{"scalar", `{"features":7}`, "want a list of numbers or an object"},
		{"two values", `{"features":[1,2,3,4]} {}`, "more than one value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, "POST", srv.URL+"/predict", tt.body)
			if code != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", code, body)
			}
			var got errorResponse
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("error body %q is not JSON: %v", body, err)
			}
			if !strings.Contains(got.Error, tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", got.Error, tt.wantErr)
			}
		})
	}
}

func TestPredictWrongMethod(t *testing.T) {
	srv := newTestServer(t, loadTestModel(t, "defect-v1.json"), false)
	if code, _ := do(t, "GET", srv.URL+"/predict", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /predict = %d, want 405", code)
	}
}

func TestHealthAndVersion(t *testing.T) {
	m := loadTestModel(t, "defect-v2.json")
	tests := []struct {
		name        string
		model       *Model
		failHealth  bool
		wantHealth  int
		wantVersion int
	}{
		{"ready", m, false, 200, 200},
		{"loading", nil, false, 503, 503},
		{"fail-health", m, true, 503, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, tt.model, tt.failHealth)
			code, body := do(t, "GET", srv.URL+"/healthz", "")
			if code != tt.wantHealth {
				t.Errorf("healthz = %d %q, want %d", code, body, tt.wantHealth)
			}
			if code == 200 && body != "ok\n" {
				t.Errorf("healthz body = %q, want ok", body)
			}
			code, body = do(t, "GET", srv.URL+"/version", "")
			if code != tt.wantVersion {
				t.Errorf("version = %d %q, want %d", code, body, tt.wantVersion)
			}
			if code == 200 {
				var got versionResponse
				if err := json.Unmarshal([]byte(body), &got); err != nil {
					t.Fatal(err)
				}
				if got.Model != "v2" || got.Name != "defect" || len(got.Features) != 4 {
					t.Errorf("version = %+v, want defect v2 with 4 features", got)
				}
			}
		})
	}
}
