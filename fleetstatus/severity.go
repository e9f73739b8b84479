package fleetstatus

// severity ranks states for sorting, worst first: failing and untrusted,
// offline, stale, updating, up-to-date. A state this code does not know sorts with the
// failing ones: a new state is never hidden at the bottom.
func severity(s State) int {
	switch s {
	case Offline:
		return 1
	case Stale:
		return 2
	case Updating:
		return 3
	case UpToDate:
		return 4
	}
	return 0
}
