package proxytest_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/proxytest"
)

// The proxy forwards requests with their bodies, counts what it sends,
// cuts an armed response at its offset and refuses until it is up again.
func TestProxyForwardsCutsAndComesBack(t *testing.T) {
	blob := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			io.Copy(w, r.Body)
			return
		}
		w.Write(blob)
	}))
	t.Cleanup(upstream.Close)
	p := proxytest.Start(t, strings.TrimPrefix(upstream.URL, "http://"))
	base := "http://" + p.Addr()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	resp, err := client.Post(base+"/echo", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(got) != "hello" {
		t.Fatalf("POST through the proxy = %q, %v; want the body echoed", got, err)
	}

	const at = 100_000
	cut := p.Cut("/blob", at)
	resp, err = client.Get(base + "/x/blob")
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("GET of a cut response read %d bytes without error", len(got))
	}
	if !bytes.Equal(got, blob[:len(got)]) || len(got) > at {
		t.Errorf("cut response gave %d bytes, want a prefix of the blob of at most %d", len(got), at)
	}
	select {
	case <-cut:
	case <-time.After(time.Minute):
		t.Fatal("the cut's channel did not close")
	}
	if _, err := client.Get(base + "/x/blob"); err == nil {
		t.Fatal("GET after the cut reached the server; want the port to refuse")
	}

	p.Up()
	resp, err = client.Get(base + "/x/blob")
	if err != nil {
		t.Fatalf("GET once up again: %v", err)
	}
	got, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("GET once up again read %d bytes, %v; want the whole blob (%d)", len(got), err, len(blob))
	}
	if sent := p.Sent("/blob"); sent != at+int64(len(blob)) {
		t.Errorf("Sent(/blob) = %d, want the cut's %d plus the whole blob %d", sent, at, len(blob))
	}
	if all := p.Sent(""); all != at+int64(len(blob))+int64(len("hello")) {
		t.Errorf("Sent(\"\") = %d, want every body byte sent", all)
	}
}
