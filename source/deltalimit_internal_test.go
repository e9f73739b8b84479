package source

import (
	"strings"
	"testing"
)

// A delta of a few bytes that declares a huge object is refused before
// anything is allocated for it (a hostile server, a small device).
func TestPatchDeltaRefusesAHugeDeclaredSize(t *testing.T) {
	base := []byte("0")
	// Source size 1, then a result size of 1 GiB (7 bits a byte), then one
	// copy of the base.
	delta := []byte{1, 0x80, 0x80, 0x80, 0x80, 0x04, 0x91, 0, 1}
	if _, err := patchDelta(nil, base, delta); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("patchDelta = %v, want the size limit", err)
	}
	// Declared within the limit but built shorter: malformed.
	if _, err := patchDelta(nil, base, []byte{1, 0x80, 0x80, 0x04, 0x91, 0, 1}); err != errDelta {
		t.Fatalf("patchDelta of a short result = %v, want %v", err, errDelta)
	}
}
