// Package source is the only git adapter: every read of a fleet repo and
// every status report goes through it, for the agent (fleetd), the
// operator's CLI (fleetctl) and the fleet overview alike.
//
//   - Location: where a repository is (a URL, or a path such as a USB
//     stick's gitfleet/fleet.git), parsed once with its credentials split
//     off.
//   - Git (the agent): a cheap change check (one ref advertisement), a
//     depth-1 fetch into a bare repository on disk, a revision's tree.
//   - Open (fleetctl, the overview): a local repository read in place or a
//     remote one fetched into memory; revisions, trees, commits, history.
//   - treeFS: the one fs.FS over a commit's tree that all of them hand out
//     (never a work tree; symbolic links reported, never followed).
//   - ReadReports and StatusWriter: every node's status report read in one
//     fetch, and each node's report committed to its own ref.
//
// It satisfies reconciler.Source (Git), reconciler.Reporter and
// reconciler.ReportReader (StatusWriter) without importing the reconciler.
package source
