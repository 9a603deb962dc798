package tasklife

import (
	"context"
	"errors"
	"os"
	"regexp"
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
			f := fsm.NewFSM(string(s), Lifecycle(), nil)
			err := f.Event(context.Background(), string(ev))
			rule, ok := RuleFor(ev)
			require.True(t, ok)
			got := rule.Outcome(s)
			decided, after := Decide(ev, s)
			require.Equal(t, got, decided)
			if got == Apply {
				require.Equal(t, rule.To, after)
			} else {
				require.Equal(t, s, after)
			}
			var noTransition fsm.NoTransitionError
			var invalid fsm.InvalidEventError
			switch {
			case err == nil:
				require.Equal(t, Apply, got, "%s on %s", ev, s)
				require.Equal(t, string(rule.To), f.Current())
			case errors.As(err, &noTransition):
				// looplab reports a self-transition only when it is declared;
				// the contract makes every event targeting the current state
				// a no-op, declared or not.
				require.Equal(t, NoOp, got, "%s on %s", ev, s)
			case errors.As(err, &invalid):
				if rule.To == s {
					require.Equal(t, NoOp, got, "%s on %s: target is the current state", ev, s)
				} else {
					require.Equal(t, Invalid, got, "%s on %s", ev, s)
				}
			default:
				t.Fatalf("%s on %s: unexpected looplab error %v", ev, s, err)
			}
		}
	}
}

func TestRuleFor(t *testing.T) {
	t.Parallel()
	_, ok := RuleFor("explode")
	require.False(t, ok)
	r, ok := RuleFor(EventCancel)
	require.True(t, ok)
	require.Equal(t, []State{StatePending, StateRunning}, r.From)
	r.From[0] = StateFailed // a copy: the table is unchanged
	r2, _ := RuleFor(EventCancel)
	require.Equal(t, StatePending, r2.From[0])
	require.Equal(t, Invalid, r2.Outcome("BOGUS"))
	o, s := Decide("explode", StateRunning)
	require.Equal(t, Invalid, o)
	require.Equal(t, StateRunning, s)
}

func TestBuildTableRejectsUnknownNames(t *testing.T) {
	t.Parallel()
	for _, events := range []fsm.Events{
		{{Name: "explode", Src: []string{"PENDING"}, Dst: "FAILED"}},
		{{Name: "start", Src: []string{"PENDING"}, Dst: "DONE"}},
		{{Name: "start", Src: []string{"WAITING"}, Dst: "RUNNING"}},
	} {
		require.Panics(t, func() { buildTable(events) })
	}
}

// TestREADMEDiagram keeps the README's state diagram identical to the one
// looplab renders from the declaration.
func TestREADMEDiagram(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)```mermaid\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, m, "README.md has a mermaid block")
	require.Equal(t, MermaidDiagram(), string(m[1]),
		"README.md's diagram is stale; paste tasklife.MermaidDiagram() into it")
}
