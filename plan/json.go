package plan

import (
	"io"

	"github.com/gitfleet/gitfleet/internal/jsonchunk"
)

// WriteJSON writes the plan as one indented JSON document: encoding/json's
// indented form (two spaces, no HTML escaping), the same bytes as one
// Encode of the plan. The nodes, most of the document, are encoded in
// chunks on every processor (internal/jsonchunk): a group's change over
// 10,000 nodes lists thousands.
func (p *Plan) WriteJSON(w io.Writer) error {
	rest := *p
	rest.Nodes = nil
	return jsonchunk.WriteIndented(w, &rest, "nodes", p.Nodes)
}
