//go:build unix

package durable

import "syscall"

// errInvalid is what a filesystem that cannot sync a folder answers.
var errInvalid error = syscall.EINVAL
