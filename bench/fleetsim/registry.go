package fleetsim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/spec"
)

const ociManifest = "application/vnd.oci.image.manifest.v1+json"

// registry is go-containerregistry's registry in process, counting the
// manifest requests and bytes the nodes' pulls cost it.
type registry struct {
	host     string
	srv      *http.Server
	client   *http.Client
	requests atomic.Int64
	bytes    atomic.Int64
}

func startRegistry() (*registry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &registry{host: ln.Addr().String(), client: &http.Client{}}
	h := ocitest.Handler()
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet {
			r.requests.Add(1)
		}
		h.ServeHTTP(countingResponse{w, &r.bytes}, req)
	})}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *registry) close() { r.srv.Close() }

type countingResponse struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingResponse) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// push uploads a small image (a config and one layer holding seed) to repo
// through the registry API and returns its reference pinned by digest.
func (r *registry) push(ctx context.Context, repo, seed string) (string, error) {
	layer := []byte("fleetsim model weights " + seed)
	config := []byte(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["` + digestOf(layer) + `"]}}`)
	for _, blob := range [][]byte{layer, config} {
		if err := r.upload(ctx, repo, blob); err != nil {
			return "", err
		}
	}
	manifest := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		ociManifest, digestOf(config), len(config), digestOf(layer), len(layer))
	d := digestOf(manifest)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+r.host+"/v2/"+repo+"/manifests/"+d, bytes.NewReader(manifest))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", ociManifest)
	if err := r.do(req, http.StatusCreated); err != nil {
		return "", fmt.Errorf("put manifest: %w", err)
	}
	return r.host + "/" + repo + "@" + d, nil
}

// upload puts blob with a monolithic upload (POST, then PUT with the digest).
func (r *registry) upload(ctx context.Context, repo string, blob []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+r.host+"/v2/"+repo+"/blobs/uploads/", nil)
	if err != nil {
		return err
	}
	res, err := r.client.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		return fmt.Errorf("start upload: %s", res.Status)
	}
	loc, err := res.Location()
	if err != nil {
		return err
	}
	q := loc.Query()
	q.Set("digest", digestOf(blob))
	loc.RawQuery = q.Encode()
	req, err = http.NewRequestWithContext(ctx, http.MethodPut, loc.String(), bytes.NewReader(blob))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if err := r.do(req, http.StatusCreated); err != nil {
		return fmt.Errorf("upload blob: %w", err)
	}
	return nil
}

func (r *registry) do(req *http.Request, want int) error {
	res, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("%s: %s", res.Status, body)
	}
	return nil
}

// fetchManifest is what a node's pull asks the registry first: the
// manifest by digest, checked against that digest.
func fetchManifest(ctx context.Context, c *http.Client, src spec.ImageSource) error {
	scheme := "https"
	if src.PlainHTTP {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: src.Host, Path: "/v2/" + src.Repository + "/manifests/" + src.Digest}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", ociManifest)
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("pull %s: %s", src.Image, res.Status)
	}
	if got := digestOf(body); got != src.Digest {
		return fmt.Errorf("pull %s: manifest is %s", src.Image, got)
	}
	return nil
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
