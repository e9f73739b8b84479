package fleetstatus_test

import (
	"bytes"
	"context"
	"flag"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fleetstatus"
	"github.com/gitfleet/gitfleet/internal/gittest"
)

var screenshot = flag.String("screenshot", "", "also keep the headless Chromium screenshot of the fixture fleet's page at this path")

// chromium runs Debian's chromium headless on page with extra flags and
// returns its standard output. It fails the test, never skips it, when
// chromium is missing or does not start.
func chromium(t *testing.T, page string, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (apt-get install -y chromium): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,900", "--hide-scrollbars"}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), "file://"+page)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// TestHTMLInChromium renders the fixture fleet's page in a real headless
// Chromium: every state's label and every node's name must be in the
// rendered DOM, and the screenshot must show the page (not one colour)
// with each state's colour.
func TestHTMLInChromium(t *testing.T) {
	fx := newFixture(t)
	f := collect(t, fleetstatus.Options{Repo: loc(t, gittest.FileURL(fx.repo.BareDir)), HistoryDepth: 3})
	var page bytes.Buffer
	if err := f.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, external := range []string{"<script", "<link", "src=", "url(", "@import", "http://", "https://"} {
		if bytes.Contains(page.Bytes(), []byte(external)) {
			t.Errorf("page contains %q: it must not load anything", external)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "fleet.html")
	if err := os.WriteFile(path, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	dom := string(chromium(t, path, "--dump-dom"))
	if !strings.Contains(dom, "</html>") {
		t.Fatalf("chromium --dump-dom printed no document:\n%s", dom)
	}
	for _, s := range fleetstatus.States() {
		for _, want := range []string{`data-state="` + string(s) + `"`, `<span class="badge">` + string(s) + `</span>`, `<div class="l">` + string(s) + `</div>`} {
			if want == `<span class="badge">`+string(s)+`</span>` && f.Counts[s] == 0 {
				continue
			}
			if !strings.Contains(dom, want) {
				t.Errorf("rendered DOM lacks %s", want)
			}
		}
	}
	for _, n := range f.Nodes {
		if !strings.Contains(dom, `id="node-`+n.Name+`"`) || !strings.Contains(dom, `<div class="name">`+n.Name+`</div>`) {
			t.Errorf("rendered DOM lacks node %s", n.Name)
		}
		for _, e := range n.Errors {
			if !strings.Contains(dom, htmlEscape(e)) {
				t.Errorf("rendered DOM lacks %s's error %q", n.Name, e)
			}
		}
	}
	for _, site := range []string{"site plant-1", "site plant-2", "no site"} {
		if !strings.Contains(dom, "<h2>"+site+" ") {
			t.Errorf("rendered DOM lacks the section %q", site)
		}
	}

	png := filepath.Join(dir, "fleet.png")
	chromium(t, path, "--screenshot="+png)
	img := decodePNG(t, png)
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 700 {
		t.Errorf("screenshot is %dx%d, want about 1280x900", b.Dx(), b.Dy())
	}
	colours := countColours(img)
	if len(colours) < 16 {
		t.Errorf("screenshot has %d colours: the page did not render", len(colours))
	}
	// The tiles at the top carry each state's colour as a solid fill.
	for state, c := range map[fleetstatus.State]color.RGBA{
		fleetstatus.UpToDate: {0x1a, 0x7f, 0x37, 0xff},
		fleetstatus.Updating: {0x05, 0x50, 0xae, 0xff},
		fleetstatus.Failing:  {0xcf, 0x22, 0x2e, 0xff},
		fleetstatus.Stale:    {0x7d, 0x4e, 0x00, 0xff},
		fleetstatus.Offline:  {0x57, 0x60, 0x6a, 0xff},
	} {
		if colours[c] < 50 {
			t.Errorf("screenshot has %d pixels of %s's colour #%02x%02x%02x", colours[c], state, c.R, c.G, c.B)
		}
	}
	if *screenshot != "" {
		b, err := os.ReadFile(png)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*screenshot, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(strings.TrimSuffix(*screenshot, filepath.Ext(*screenshot))+".html", page.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	return img
}

func countColours(img image.Image) map[color.RGBA]int {
	out := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			out[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}]++
		}
	}
	return out
}

// htmlEscape escapes text the way Chromium serializes a text node.
func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
