package fault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fault"
)

// ownRefusal is an adapter's own error type that knows its class.
type ownRefusal struct{ reason string }

func (e *ownRefusal) Error() string        { return "refused: " + e.reason }
func (e *ownRefusal) Fault() fault.Class   { return fault.Refused }
func (e *ownRefusal) Is(target error) bool { return target == errOwn }

var errOwn = errors.New("own")

func TestClassOf(t *testing.T) {
	refused := fault.Refuse("rev1", errors.New("not signed"))
	held := fault.Hold("rev1", errors.New("wave 1 not healthy"), time.Minute)
	down := errors.New("connection refused")
	for _, c := range []struct {
		name string
		err  error
		want fault.Class
	}{
		{"unclassified", down, fault.Transient},
		{"deadline", context.DeadlineExceeded, fault.Transient},
		{"refused", refused, fault.Refused},
		{"wrapped refused", fmt.Errorf("verify: %w", refused), fault.Refused},
		{"own type", fmt.Errorf("image: %w", &ownRefusal{"unsigned"}), fault.Refused},
		{"held", held, fault.Held},
		{"retry wraps a refusal", fault.Retry("", refused), fault.Transient},
		{"refusal wraps a transient error", fault.Refuse("rev", fault.Retry("", down)), fault.Refused},
		{"join of refusals", errors.Join(refused, &ownRefusal{"x"}), fault.Refused},
		{"join with a transient part", errors.Join(refused, down), fault.Transient},
		{"join of held and refused", errors.Join(refused, held), fault.Held},
		{"join with nils", errors.Join(nil, refused, nil), fault.Refused},
		{"two %w", fmt.Errorf("%w; %w", refused, held), fault.Held},
	} {
		if got := fault.ClassOf(c.err); got != c.want {
			t.Errorf("%s: ClassOf(%v) = %s, want %s", c.name, c.err, got, c.want)
		}
	}
}

func TestConstructorsKeepTheError(t *testing.T) {
	own := &ownRefusal{"unsigned"}
	err := fault.Refuse("reg/m@sha256:ab", own)
	if err.Error() != own.Error() {
		t.Errorf("Error() = %q, want the wrapped message %q", err, own)
	}
	if !errors.Is(err, errOwn) {
		t.Error("errors.Is does not see through the wrapper")
	}
	if got := fault.RefOf(fmt.Errorf("stage: %w", err)); got != "reg/m@sha256:ab" {
		t.Errorf("RefOf = %q", got)
	}
	if fault.Refuse("x", nil) != nil || fault.Retry("x", nil) != nil || fault.Hold("x", nil, 0) != nil {
		t.Error("a nil error must stay nil")
	}
	if !fault.Is(err, fault.Refused) || fault.Is(nil, fault.Transient) {
		t.Error("Is")
	}
}

func TestRetryAfter(t *testing.T) {
	held := fault.Hold("rev", errors.New("lock"), 90*time.Second)
	if got := fault.RetryAfter(fmt.Errorf("hold: %w", held)); got != 90*time.Second {
		t.Errorf("RetryAfter = %s, want 1m30s", got)
	}
	if got := fault.RetryAfter(fault.Hold("rev", errors.New("wave"), 0)); got != 0 {
		t.Errorf("RetryAfter of a hold until the next poll = %s, want 0", got)
	}
	if got := fault.RetryAfter(errors.New("x")); got != 0 {
		t.Errorf("RetryAfter of an unclassified error = %s", got)
	}
}

func TestWords(t *testing.T) {
	for c, want := range map[fault.Class]string{fault.Refused: "refused", fault.Transient: "retrying", fault.Held: "waiting"} {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", c, c, want)
		}
	}
}
