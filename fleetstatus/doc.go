// Package fleetstatus is the fleet at a glance behind `fleetctl status`: it
// fetches every node's status report from Git in one go, compares each
// node's applied revision with the tracked branch's head and sorts the
// nodes into five states (up-to-date, updating, failing, stale, offline).
//
// Collect does the I/O, all of it through the source package: every
// status report in one fetch (source.ReadReports) from the status
// repository (the fleet repo unless Options.StatusRepo is set), and the
// tracked branch (source.Open: HistoryDepth commits of a remote fetched into
// memory, a local repository read in place), in parallel; no work tree is
// ever written. It then reads status/<node>.yaml from each status ref and
// parses the branch head's tree for node labels and group membership. The
// result, a Fleet, is pure data with four renderings: WriteText (a table),
// WriteJSON, WriteMarkdown and WriteHTML (one static page with inline CSS
// and no external assets).
//
// The state rules are in State's documentation and in docs/status.md.
// URLs are always printed without credentials.
package fleetstatus
