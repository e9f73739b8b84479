// Package packaging holds what `make release` packs besides the binaries:
// fleetd's hardened systemd unit, its default config, the nfpm configs of
// the fleetd and fleetctl .deb packages and their maintainer scripts.
//
// Its tests build a release with `make release` and use it the way a node
// and a CI runner do: they check the binaries (static, stripped, stamped),
// install the fleetd package with apt-get and run the installed unit's
// command, and run the example fleet repo's CI scripts with the release
// served as the download. They need root, dpkg and apt (Debian).
package packaging
