package status

import (
	"slices"
	"testing"
)

func TestChangesPoll(t *testing.T) {
	with := func(p *Poll) *NodeStatus {
		st := sample()
		st.Status.Poll = p
		return st
	}
	headURL := &Poll{Via: PollViaHeadURL, Protocol: "v2"}
	down := &Poll{Via: PollViaGit, Protocol: "v2", Message: "head URL unavailable"}
	for _, tt := range []struct {
		name     string
		old, new *NodeStatus
		want     []string
	}{
		{"same", with(headURL), with(&Poll{Via: PollViaHeadURL, Protocol: "v2"}), nil},
		{"head URL fails", with(headURL), with(down), []string{"polls via git (protocol v2): head URL unavailable"}},
		{"head URL back", with(down), with(headURL), []string{"polls via head-url (protocol v2)"}},
		{"server loses v2", with(&Poll{Via: PollViaGit, Protocol: "v2"}), with(&Poll{Via: PollViaGit, Protocol: "v0"}), []string{"polls via git (protocol v0)"}},
	} {
		if got := Changes(tt.old, tt.new); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Changes = %q, want %q", tt.name, got, tt.want)
		}
	}
	// A first report that polls git as usual says nothing about it.
	for _, c := range Changes(nil, with(&Poll{Via: PollViaGit, Protocol: "v2"})) {
		if c == "polls via git (protocol v2)" {
			t.Errorf("first report lists %q", c)
		}
	}
}
