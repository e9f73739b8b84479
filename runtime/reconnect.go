package runtime

import (
	"context"
	"time"

	"google.golang.org/grpc/connectivity"
)

// reconnectWait bounds how long List waits for a connection to containerd
// that it asked to be made again.
const reconnectWait = 2 * time.Second

// reconnect asks for a new connection at once when the one to containerd
// failed (containerd was killed or restarted): gRPC would otherwise wait
// out its reconnect backoff (up to 3 s) and fail every call meanwhile, so
// that the first pass after containerd is back would fail too. It waits
// for that one attempt (at most reconnectWait); a containerd still down fails the calls
// that follow, as before.
func (c *Containerd) reconnect(ctx context.Context) {
	conn := c.client.Conn()
	if conn == nil || conn.GetState() != connectivity.TransientFailure {
		return
	}
	conn.ResetConnectBackoff()
	ctx, cancel := context.WithTimeout(ctx, reconnectWait)
	defer cancel()
	// One attempt: out of the failure, then to ready or back to failure.
	st := connectivity.TransientFailure
	for i := 0; i < 3 && conn.WaitForStateChange(ctx, st); i++ {
		if st = conn.GetState(); st == connectivity.Ready || st == connectivity.TransientFailure {
			return
		}
	}
}
