package status

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzUnmarshal feeds status reports, as another node (or whoever can push
// to its status ref) may have written them, to what reads them: Unmarshal,
// then the accessors rollout gates and commit messages use. Whatever the
// input, nothing panics; an accepted report is of our kind and reads back
// the same after Marshal; Changes lists nothing between a report and
// itself.
func FuzzUnmarshal(f *testing.F) {
	full, err := Marshal(sample())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	failed := sample()
	exit := 137
	failed.Status.Workloads[0].State, failed.Status.Workloads[0].ExitCode = StateFailed, &exit
	failed.Status.Errors = []Error{{File: "workloads/x.yaml", Line: 7, Field: "spec.image", Reason: "must be pinned"}, {Ref: "r.example/m@sha256:ab", Reason: "unreachable"}}
	if b, err := Marshal(failed); err == nil {
		f.Add(b)
	}
	f.Add([]byte("apiVersion: gitfleet.dev/v1alpha1\nkind: NodeStatus\nmetadata: {name: n}\nstatus: {lastSeen: \"2026-11-22T10:00:00+01:00\", errors: null}\n"))
	f.Add([]byte("apiVersion: gitfleet.dev/v1alpha1\nkind: NodeStatus\nmetadata: {name: n}\nstatus:\n  futureField: 1\n  conditions: [{type: Ready, status: \"True\"}]\n  workloads: [{name: a, restarts: -1}]\n"))
	f.Add([]byte("apiVersion: v1\nkind: Pod\n"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := Unmarshal(b)
		if err != nil {
			if st != nil {
				t.Fatalf("Unmarshal returned a report and an error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "unmarshal status: ") {
				t.Fatalf("error %q does not say what failed", err)
			}
			return
		}
		if st.APIVersion != APIVersion || st.Kind != Kind || st.Status.Errors == nil {
			t.Fatalf("accepted %+v: want our apiVersion and kind and a non-nil error list", st)
		}
		// What a rollout gate and a commit message read.
		st.Status.Condition(ConditionReady)
		for _, e := range st.Status.Errors {
			FormatError(e)
		}
		Changes(nil, st)
		if c := Changes(st, st); len(c) != 0 {
			t.Fatalf("Changes between a report and itself = %q", c)
		}
		// A report that was read can be written back and reads the same.
		out, err := Marshal(st)
		if err != nil {
			t.Fatalf("Marshal of an accepted report: %v\n%s", err, b)
		}
		again, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("Unmarshal of Marshal's output: %v\n%s", err, out)
		}
		if want := normalize(st); !reflect.DeepEqual(*again, want) {
			t.Fatalf("round trip:\ngot  %+v\nwant %+v\ninput %q", *again, want, b)
		}
	})
}
