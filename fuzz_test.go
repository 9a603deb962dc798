package tasklife_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/lifecycle"
	"github.com/tasklife/tasklife/memstore"
)

// FuzzLifecycle applies arbitrary event sequences to a few tasks and checks
// every step against the declared lifecycle (which storetest's
// TestContractMatchesTheDeclaration ties to the contract's table): never a
// panic, never a state the contract does not allow, version up by one
// exactly on a write.
func FuzzLifecycle(f *testing.F) {
	f.Add([]byte{0, 1, 4})                // start, cancel, canceled
	f.Add([]byte{1, 1, 2, 0, 3})          // cancel twice, then everything else
	f.Add([]byte{0x10, 0x21, 0x32, 0x43}) // events spread over tasks
	f.Add([]byte{3, 3, 0xff, 0x80})       // fail twice, out-of-range bytes
	f.Fuzz(func(t *testing.T, script []byte) {
		ctx := context.Background()
		svc := tasklife.New(memstore.New())
		const tasks = 3
		guids := make([]string, tasks)
		states := make([]tasklife.State, tasks)
		versions := make([]int64, tasks)
		for i := range guids {
			task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "true"})
			if err != nil {
				t.Fatal(err)
			}
			guids[i], states[i], versions[i] = task.GUID, task.State, task.Version
		}
		for _, b := range script {
			ti := int(b>>4) % tasks
			ev := tasklife.Events()[int(b&0x0f)%len(tasklife.Events())]
			got, err := svc.Apply(ctx, guids[ti], ev, "reason")
			outcome, next := lifecycle.Decide(string(ev), string(states[ti]))
			to := tasklife.State(next)
			switch outcome {
			case lifecycle.Apply:
				if err != nil || got.State != to || got.Version != versions[ti]+1 {
					t.Fatalf("%s on %s: got %v, %v; want %s v%d", ev, states[ti], got, err, to, versions[ti]+1)
				}
				states[ti], versions[ti] = to, got.Version
			case lifecycle.NoOp:
				if err != nil || got.State != states[ti] || got.Version != versions[ti] {
					t.Fatalf("%s on %s: no-op changed something: %v, %v", ev, states[ti], got, err)
				}
			case lifecycle.Invalid:
				var te *tasklife.TransitionError
				if !errors.As(err, &te) || te.State != states[ti] || te.Event != ev {
					t.Fatalf("%s on %s: want a TransitionError, got %v", ev, states[ti], err)
				}
			}
		}
	})
}
