// Package fault is the one classification of the errors an agent's pass
// meets, shared by the reconciler and every adapter:
//
//   - Refused: retrying cannot help. A revision whose commit or image fails
//     verification, a spec that does not parse, a workload whose process
//     cannot start, credentials the server rejects. Nothing is tried again
//     until what was refused changes (the branch moves, the spec changes,
//     someone fixes the configuration).
//   - Transient: retrying may help. A server or registry that is down, a
//     cut connection, a busy or restarting containerd, a full disk. The
//     agent backs off and retries. An error nobody classified is transient.
//   - Held: not a failure. A revision waits for an earlier rollout wave or
//     an update lock, and is asked about again at the next poll or after
//     the time the gate named.
//
// An error says its class with a method Fault() Class, found anywhere in
// its chain (ClassOf); an adapter gives its own error types that method,
// and wraps any other error in an *Error. Callers branch on ClassOf, never
// on an error's text. The package imports only the standard library, so
// the reconciler and the adapters can share it without importing each
// other.
package fault

import (
	"errors"
	"time"
)

// Class is what to do about an error.
type Class uint8

// The classes. The zero value is Transient.
const (
	Transient Class = iota
	Refused
	Held
)

// String returns the word status reports and log lines use for the class:
// "retrying", "refused" or "waiting".
func (c Class) String() string {
	switch c {
	case Refused:
		return "refused"
	case Held:
		return "waiting"
	}
	return "retrying"
}

// Classed is implemented by errors that know their class.
type Classed interface {
	error
	Fault() Class
}

// Error gives an error a class and names what it is about.
type Error struct {
	Class Class
	// Ref names what the error is about (a revision, an image reference, a
	// workload); "" when nothing more specific than the message.
	Ref string
	Err error
	// RetryAfter, for Held, is when the gate may open; 0 means at the next
	// poll.
	RetryAfter time.Duration
}

// Error returns the wrapped error's message: the class and the reference
// are for callers and reports, not the text.
func (e *Error) Error() string { return e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Fault returns e.Class.
func (e *Error) Fault() Class { return e.Class }

// Refuse marks err as a refusal of ref. It returns nil for a nil err.
func Refuse(ref string, err error) error { return wrap(Refused, ref, err, 0) }

// Retry marks err as transient. It returns nil for a nil err.
func Retry(ref string, err error) error { return wrap(Transient, ref, err, 0) }

// Hold marks err as a revision held by a gate or lock; after is when to ask
// again (0: at the next poll). It returns nil for a nil err.
func Hold(ref string, err error, after time.Duration) error { return wrap(Held, ref, err, after) }

func wrap(c Class, ref string, err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &Error{Class: c, Ref: ref, Err: err, RetryAfter: after}
}

// ClassOf returns the class of a non-nil err: that of the outermost error
// in its chain with a Fault method, or Transient when none has one. An
// error joining several (errors.Join) is Transient if any of them is (a
// retry may still fix that part), else Held if any is, else Refused.
// ClassOf(nil) is Transient; callers test err != nil first.
func ClassOf(err error) Class {
	for err != nil {
		switch e := err.(type) {
		case Classed:
			return e.Fault()
		case interface{ Unwrap() []error }:
			return joined(e.Unwrap())
		}
		err = errors.Unwrap(err)
	}
	return Transient
}

func joined(errs []error) Class {
	c, seen := Refused, false
	for _, e := range errs {
		if e == nil {
			continue
		}
		seen = true
		switch ClassOf(e) {
		case Transient:
			return Transient
		case Held:
			c = Held
		}
	}
	if !seen {
		return Transient
	}
	return c
}

// Is reports whether err is non-nil and of class c.
func Is(err error, c Class) bool { return err != nil && ClassOf(err) == c }

// RetryAfter returns when a held err may be asked about again: the
// RetryAfter of the outermost held *Error in its chain, 0 if none.
func RetryAfter(err error) time.Duration {
	var e *Error
	for err != nil {
		if errors.As(err, &e) {
			if e.Class == Held && e.RetryAfter > 0 {
				return e.RetryAfter
			}
			err = e.Err
			continue
		}
		return 0
	}
	return 0
}

// RefOf returns the Ref of the outermost *Error in err's chain that has
// one, or "".
func RefOf(err error) string {
	var e *Error
	for err != nil && errors.As(err, &e) {
		if e.Ref != "" {
			return e.Ref
		}
		err = e.Err
	}
	return ""
}
