package lifecycle

import (
	"context"
	"errors"
	"testing"

	"github.com/looplab/fsm"
	"github.com/stretchr/testify/require"
)

// TestTableMatchesLooplab checks the derived table against looplab/fsm
// itself: for every state and event, an FSM built from the declaration must
// agree on apply (and its target), no-op (NoTransitionError) and invalid.
func TestTableMatchesLooplab(t *testing.T) {
	t.Parallel()
	for _, s := range States() {
		for _, ev := range Events() {
			f := fsm.NewFSM(s, Declaration(), nil)
			err := f.Event(context.Background(), ev)
			got, after := Decide(ev, s)
			var noTransition fsm.NoTransitionError
			var invalid fsm.InvalidEventError
			switch {
			case err == nil:
				require.Equal(t, Apply, got, "%s on %s", ev, s)
				require.Equal(t, f.Current(), after, "%s on %s", ev, s)
			case errors.As(err, &noTransition):
				require.Equal(t, NoOp, got, "%s on %s", ev, s)
				require.Equal(t, s, after)
			case errors.As(err, &invalid):
				require.Equal(t, Invalid, got, "%s on %s", ev, s)
				require.Equal(t, s, after)
			default:
				t.Fatalf("%s on %s: unexpected looplab error %v", ev, s, err)
			}
		}
	}
}

// TestNoOpIsTheTargetState holds the declaration to the contract's rule: an
// event is a no-op exactly in the state it leads to, if it is valid at all,
// and terminal states absorb everything.
func TestNoOpIsTheTargetState(t *testing.T) {
	t.Parallel()
	for _, ev := range Events() {
		_, to, ok := Rule(ev)
		require.True(t, ok)
		for _, s := range States() {
			o, _ := Decide(ev, s)
			if s == to {
				require.Equal(t, NoOp, o, "%s on %s, its own target", ev, s)
			} else {
				require.NotEqual(t, NoOp, o, "%s on %s", ev, s)
			}
			if Terminal(s) {
				require.NotEqual(t, Apply, o, "%s leaves terminal %s", ev, s)
			}
		}
	}
	require.Equal(t, []string{Succeeded, Failed}, filter(States(), Terminal))
}

func filter(in []string, keep func(string) bool) []string {
	var out []string
	for _, s := range in {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

func TestRuleAndUnknownNames(t *testing.T) {
	t.Parallel()
	from, to, ok := Rule(Cancel)
	require.True(t, ok)
	require.Equal(t, []string{Pending, Running}, from)
	require.Equal(t, Canceling, to)
	from[0] = Failed // a copy: the table is unchanged
	from, _, _ = Rule(Cancel)
	require.Equal(t, Pending, from[0])

	_, _, ok = Rule("explode")
	require.False(t, ok)
	o, s := Decide("explode", Running)
	require.Equal(t, Invalid, o)
	require.Equal(t, Running, s)
	o, _ = Decide(Cancel, "BOGUS")
	require.Equal(t, Invalid, o)
	require.False(t, Terminal("BOGUS"))
	require.Equal(t, "canceled", PastTense(Cancel))
	require.Equal(t, "changed by explode", PastTense("explode"))
}

func TestBuildRejectsUnknownNames(t *testing.T) {
	t.Parallel()
	for _, e := range []event{
		{desc: fsm.EventDesc{Name: "start", Src: []string{"PENDING"}, Dst: "DONE"}},
		{desc: fsm.EventDesc{Name: "start", Src: []string{"WAITING"}, Dst: "RUNNING"}},
	} {
		require.Panics(t, func() { build([]event{e}) })
	}
}

func TestPathTo(t *testing.T) {
	t.Parallel()
	for _, s := range States() {
		state := Pending
		for _, ev := range PathTo(s) {
			var o Outcome
			o, state = Decide(ev, state)
			require.Equal(t, Apply, o)
		}
		require.Equal(t, s, state)
	}
	require.Equal(t, []string{Cancel}, PathTo(Canceling))
	require.Equal(t, []string{Start, Succeed}, PathTo(Succeeded))
	require.Nil(t, PathTo("BOGUS"))
}

// Decide is on every transition's path: it must not allocate.
func TestDecideAllocatesNothing(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() { Decide(Cancel, Running) })
	require.Zero(t, allocs)
}
