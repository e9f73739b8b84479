package runtime

import (
	"strings"

	"github.com/gitfleet/gitfleet/fault"
)

// ociRefusals are the words containerd's runc shim puts before runc's own
// error when runc cannot create or start a container's process (no such
// executable, a mount source that does not exist, a bad user). The error
// reaches the client only as text through ttrpc and gRPC.
var ociRefusals = []string{"OCI runtime create failed", "OCI runtime start failed"}

// startFault classifies an error of creating or starting a workload's task:
// runc refusing the container is the workload's own failure, of class
// fault.Refused, and counts against its spec; anything else (containerd,
// the shim, the snapshotter) is left unclassified, that is transient.
func startFault(workload string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range ociRefusals {
		if strings.Contains(msg, s) {
			return fault.Refuse(workload, err)
		}
	}
	return err
}
