package reconciler

// NewFakeRuntime returns the unit tests' fake runtime, for the contract
// test in package reconciler_test; broken lists images that cannot start.
func NewFakeRuntime(broken ...string) Runtime {
	f := newFakeRuntime()
	for _, img := range broken {
		f.broken[img] = true
	}
	return f
}
