// Package source is the only git adapter: every read of a fleet repo and
// every status report goes through it, for the agent (fleetd), the
// operator's CLI (fleetctl) and the fleet overview alike.
//
//   - Location: where a repository is (a URL, or a path such as a USB
//     stick's gitfleet/fleet.git), parsed once with its credentials split
//     off.
//   - Git (the agent): a cheap change check (protocol v2 ls-refs for the
//     tracked branch alone, v0 where the server has no v2), a depth-1
//     fetch into a bare repository on disk, a revision's tree.
//   - HeadURL: polls a static head URL and asks Git only when it changes,
//     fails, disagrees or goes unconfirmed too long (docs/scale.md).
//   - Open (fleetctl, the overview): a local repository read in place or a
//     remote one fetched into memory; revisions, trees, commits, history.
//   - treeFS: the one fs.FS over a commit's tree that all of them hand out
//     (never a work tree; symbolic links reported, never followed).
//   - ReadReports and StatusWriter: every node's status report read in one
//     fetch, and each node's report committed to its own ref.
//
// It satisfies reconciler.Source (Git, HeadURL), reconciler.Reporter and
// reconciler.ReportReader (StatusWriter) without importing the reconciler.
package source
