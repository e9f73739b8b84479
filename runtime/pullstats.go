package runtime

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/remotes"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// PullStats is what one pull did, for metrics (Config.OnPull).
type PullStats struct {
	// Ref is the image as the fleet names it.
	Ref string
	// Bytes were read from the registry (manifests and layers; a resumed
	// pull counts only what it read this time).
	Bytes int64
	// Duration is the whole pull, unpacking included.
	Duration time.Duration
	// Err is why the pull failed; nil when it succeeded.
	Err error
}

// countingResolver counts the bytes its fetchers read.
type countingResolver struct {
	remotes.Resolver
	n *atomic.Int64
}

func (r countingResolver) Fetcher(ctx context.Context, ref string) (remotes.Fetcher, error) {
	f, err := r.Resolver.Fetcher(ctx, ref)
	if err != nil {
		return nil, err
	}
	return countingFetcher{f, r.n}, nil
}

type countingFetcher struct {
	remotes.Fetcher
	n *atomic.Int64
}

func (f countingFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := f.Fetcher.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	cr := &countingReader{ReadCloser: rc, n: f.n}
	if sk, ok := rc.(io.Seeker); ok {
		// containerd resumes a download by seeking its reader to the
		// bytes it holds (a Range request); a reader that hides Seek
		// makes it read and discard them all again.
		return &countingReadSeeker{countingReader: cr, s: sk}, nil
	}
	return cr, nil
}

// countingReadSeeker is a countingReader whose fetcher's reader can seek.
type countingReadSeeker struct {
	*countingReader
	s io.Seeker
}

func (r *countingReadSeeker) Seek(offset int64, whence int) (int64, error) {
	return r.s.Seek(offset, whence)
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	k, err := r.ReadCloser.Read(p)
	r.n.Add(int64(k))
	return k, err
}
