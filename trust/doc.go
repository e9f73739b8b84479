// Package trust decides whether a fleet-repo revision may be applied: its
// commit must be signed by a trusted key and it must descend from the last
// applied revision.
//
// A TrustSet holds the keys commits may be signed with: SSH keys from git's
// allowed_signers format (with its namespaces=, valid-after= and
// valid-before= options, enforced against the committer time as git does)
// and OpenPGP public keys. LoadDir reads the node's own keys (--trust-dir);
// Parse reads the same files from memory, such as the repo's trust/ folder.
//
// Verifier checks one revision. In ModeHead it verifies the new head; in
// ModeAll every commit between the last applied revision (exclusive) and
// the new head. It refuses a head that does not descend from
// the last applied revision unless the operator allowed that revision. Keys
// in the repo's trust/ folder extend the node's keys only under the rotation
// rule documented on Verifier: every path back from the commit, through
// commits with the same trust/ tree, must reach a commit signed by a key of
// the node's own trust set (or the last applied revision) before it reaches
// the commit that changed trust/.
//
// Checker is the agent's check (it satisfies reconciler.CommitVerifier) and
// holds the rules around Verifier: the mode is the node's own, made
// stricter, never weaker, by the revision's fleet.yaml (Escalate: a
// fleet.yaml that cannot be read means ModeAll, said in any refusal); and a
// check that needs history the agent's shallow store does not hold fetches
// more through History.Deepen, in steps of FirstDepth times 4^n up to
// MaxDepth, then refuses.
//
// Every refusal is a *Refusal: it matches errors.Is(err, ErrRefused), is of
// class fault.Refused and names the commit and the keys tried. Verifier
// returns an error matching ErrHistoryMissing when the repository is too
// shallow to decide; Checker deepens instead.
//
// go-git decodes commits and hands back the exact signed bytes
// (Commit.EncodeWithoutSignature strips the gpgsig headers from the raw
// object), so merge commits and commits with mergetag, encoding or unknown
// headers verify. go-git v5 does not expose gpgsig-sha256 and cannot open
// SHA-256 repositories: a commit signed only in gpgsig-sha256 is refused
// (TrustSet.VerifyCommit sees it as unsigned; Verifier names the header).
package trust
