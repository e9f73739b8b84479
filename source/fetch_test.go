package source

import (
	"context"
	"errors"
	"testing"
)

func TestRetryCloseRace(t *testing.T) {
	race := errors.New("sending pack request: " + closeRace)
	other := errors.New("ssh: handshake failed: EOF")
	for _, tc := range []struct {
		name  string
		fails []error // what each try returns, in order
		tries int
		err   error
	}{
		{"lost once", []error{race, nil}, 2, nil},
		{"lost three times", []error{race, race, race, nil}, 3, race},
		{"another error", []error{other, nil}, 1, other},
		{"no error", []error{nil}, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tries := 0
			err := retryCloseRace(context.Background(), func() error {
				tries++
				return tc.fails[tries-1]
			})
			if tries != tc.tries || !errors.Is(err, tc.err) {
				t.Errorf("tries = %d, err = %v; want %d, %v", tries, err, tc.tries, tc.err)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tries := 0
	retryCloseRace(ctx, func() error { tries++; return race })
	if tries != 1 {
		t.Errorf("a cancelled context was tried %d times, want 1", tries)
	}
}
