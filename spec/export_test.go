package spec

// SetShortcuts turns PlainNode and the parallel decoding of node files on
// or off for the tests of package spec_test, and returns what restores
// them. Tests that call it must not run in parallel.
func SetShortcuts(on bool) (restore func()) {
	was := noShortcuts.Swap(!on)
	return func() { noShortcuts.Store(was) }
}
