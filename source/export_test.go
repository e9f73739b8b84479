package source

// ReportsDecoded is how many reports w's Reports has read from their
// commits (fetched or stored) and decoded.
func ReportsDecoded(w *StatusWriter) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reports.decoded
}
