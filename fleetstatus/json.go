package fleetstatus

import (
	"io"

	"github.com/gitfleet/gitfleet/internal/jsonchunk"
)

// WriteJSON writes the fleet as one indented JSON document (the schema is
// in docs/status.md): encoding/json's indented form (two spaces, no HTML
// escaping), the same bytes as encoding the fleet at once. The nodes, most
// of the document (about 1.5 KB each), are encoded in chunks on every
// processor (internal/jsonchunk).
func (f *Fleet) WriteJSON(w io.Writer) error {
	rest := *f
	rest.Nodes = nil
	return jsonchunk.WriteIndented(w, &rest, "nodes", f.Nodes)
}
