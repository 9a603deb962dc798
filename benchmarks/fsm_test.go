package benchmarks

import (
	"context"
	"testing"

	"github.com/looplab/fsm"
	"github.com/qmuntal/stateless"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/lifecycle"
)

// BenchmarkCancelDecision measures deciding a cancel of a RUNNING task: the
// check a store makes on every transition. The state lives in the store, so
// a state-machine library must be set up from the stored state each time.
func BenchmarkCancelDecision(b *testing.B) {
	b.Run("tasklife", func(b *testing.B) {
		b.ReportAllocs()
		state := lifecycle.Running
		for b.Loop() {
			o, to := lifecycle.Decide(lifecycle.Cancel, state)
			if o != lifecycle.Apply || to != lifecycle.Canceling {
				b.Fatal("wrong decision")
			}
		}
	})
	b.Run("looplab-naive", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for b.Loop() {
			f := fsm.NewFSM(string(tasklife.StateRunning), lifecycle.Declaration(), nil)
			if err := f.Event(ctx, string(tasklife.EventCancel)); err != nil || f.Current() != string(tasklife.StateCanceling) {
				b.Fatal("wrong decision", err)
			}
		}
	})
	b.Run("stateless", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sm := newStateless(tasklife.StateRunning)
			if err := sm.Fire(tasklife.EventCancel); err != nil || sm.MustState() != tasklife.StateCanceling {
				b.Fatal("wrong decision", err)
			}
		}
	})
}

// newStateless configures the lifecycle in stateless from the same
// declaration, starting at state.
func newStateless(state tasklife.State) *stateless.StateMachine {
	sm := stateless.NewStateMachine(state)
	for _, desc := range lifecycle.Declaration() {
		for _, src := range desc.Src {
			if src == desc.Dst {
				continue // the declared no-op: stateless has no transition for it
			}
			sm.Configure(tasklife.State(src)).Permit(tasklife.Event(desc.Name), tasklife.State(desc.Dst))
		}
	}
	return sm
}

func TestStatelessAgrees(t *testing.T) {
	for _, s := range tasklife.States() {
		for _, ev := range tasklife.Events() {
			o, to := lifecycle.Decide(string(ev), string(s))
			sm := newStateless(s)
			err := sm.Fire(ev)
			if (err == nil) != (o == lifecycle.Apply) {
				t.Fatalf("%s on %s: stateless says %v, tasklife %v", ev, s, err, o)
			}
			if err == nil && sm.MustState() != tasklife.State(to) {
				t.Fatalf("%s on %s: stateless goes to %v, tasklife %s", ev, s, sm.MustState(), to)
			}
		}
	}
}
