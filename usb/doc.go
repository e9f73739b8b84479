// Package usb is gitfleet's offline channel: a USB stick that carries the
// signed fleet to air-gapped nodes and brings every node's status back.
//
// A stick holds one folder, gitfleet/, at its top (or one or two folders
// down, as desktop automounters place it: /media/<user>/<label>/gitfleet):
//
//	gitfleet/
//	  manifest.json     what the stick carries: from which repo, branch and
//	                    revision, for which nodes or selectors, when, and
//	                    the size and sha256 of every file it was made with
//	  fleet.git/        a bare Git repository: the branch (with the history
//	                    the nodes need to verify ancestry) and the status
//	                    refs refs/heads/status/<node> nodes write back
//	  images/           an OCI image layout (oci-layout, index.json,
//	                    blobs/sha256/<hex>): the images and their cosign
//	                    signatures, findable offline as in a registry:
//	                    - each image: an index.json entry with the image's
//	                      reference in org.opencontainers.image.ref.name;
//	                    - a legacy signature: the manifest tagged
//	                      sha256-<hex>.sig, an index.json entry whose
//	                      org.opencontainers.image.ref.name is that tag;
//	                    - a sigstore bundle: a referrer manifest (with a
//	                      subject naming the image) listed in index.json.
//
// Everything on a stick works on vfat: no symlinks (a stick that holds one
// is refused), no permissions, and no two names that differ only by case.
// A stick is read with exactly the rules and keys used online: its commits
// go through the git adapter (source) and the commit verifier (trust), its
// images through the registry adapter's layout store (image) and the same
// signature checks; containerd receives the blobs by digest (runtime), so a
// tampered blob fails its digest.
//
// manifest.json is written last by an export and removed first when an
// export refreshes a stick, so a stick without it is an unfinished export.
// Every write to a stick (the export, a node's status) goes objects first,
// each file and folder synced, then the ref or manifest by temp file,
// rename and sync: a stick pulled out at any moment holds a valid
// repository and layout.
//
// The package owns the layout, the Watcher that finds sticks under mount
// roots (fsnotify, mount table changes, a quiet period), and the checks of
// a stick's integrity. fleetctl usb export and import and fleetd's sync
// wire it to the adapters.
package usb
