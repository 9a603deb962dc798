package storetest

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/lifecycle"
)

// modelTask is what the model knows of one task.
type modelTask struct {
	state   tasklife.State
	reason  string
	version int64
	updated time.Time // the last updated_at seen
}

// testStateMachine drives random creates, events and reads over a few tasks
// and checks the store against a plain model after every step: states equal
// the model's, terminal states absorb, version grows by one on each write and
// never on a no-op, updated_at never goes backwards and moves only on a
// write, failure_reason is set iff the state is FAILED, and observers see
// exactly the writes.
func testStateMachine(t *testing.T, newStore NewStore) {
	store := newStore(t)
	ctx := context.Background()
	long := strings.Repeat("ß", 700) // 1400 bytes: exercises truncation
	rapid.Check(t, func(rt *rapid.T) {
		var calls atomic.Int64
		svc := tasklife.New(store, tasklife.WithObserver(func(context.Context, tasklife.Change) { calls.Add(1) }))
		app := uuid.NewString()
		tasks := map[string]*modelTask{}
		var order []string

		rt.Repeat(map[string]func(*rapid.T){
			"create": func(rt *rapid.T) {
				if len(order) >= 5 {
					rt.Skip("enough tasks")
				}
				task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: app, Command: "true"})
				require.NoError(rt, err)
				require.Equal(rt, int64(len(order)+1), task.SequenceID)
				require.Equal(rt, tasklife.StatePending, task.State)
				tasks[task.GUID] = &modelTask{state: tasklife.StatePending, version: task.Version, updated: task.UpdatedAt}
				order = append(order, task.GUID)
			},
			"event": func(rt *rapid.T) {
				if len(order) == 0 {
					rt.Skip("no tasks yet")
				}
				guid := rapid.SampledFrom(order).Draw(rt, "task")
				ev := rapid.SampledFrom(tasklife.Events()).Draw(rt, "event")
				reason := ""
				if ev == tasklife.EventFail {
					reason = rapid.SampledFrom([]string{"", "boom", long}).Draw(rt, "reason")
				}
				m := tasks[guid]
				before := calls.Load()
				got, err := svc.Apply(ctx, guid, ev, reason)
				if ev == tasklife.EventFail && reason == "" {
					require.ErrorIs(rt, err, tasklife.ErrInvalidInput)
					require.Equal(rt, before, calls.Load())
					return
				}
				outcome, to := expect(ev, m.state)
				switch outcome {
				case lifecycle.Apply:
					require.NoError(rt, err)
					require.Equal(rt, to, got.State)
					require.Equal(rt, m.version+1, got.Version, "a write increments version by one")
					require.Equal(rt, before+1, calls.Load(), "one observer call per write")
					require.True(rt, got.UpdatedAt.After(m.updated), "a write moves updated_at forward")
					m.state, m.version = to, got.Version
					m.reason = ""
					if to == tasklife.StateFailed {
						m.reason = tasklife.TruncateFailureReason(reason)
						if ev == tasklife.EventCanceled {
							m.reason = tasklife.ReasonCanceled
						}
					}
				case lifecycle.NoOp:
					require.NoError(rt, err)
					require.Equal(rt, m.state, got.State)
					require.Equal(rt, m.version, got.Version, "a no-op does not bump version")
					require.True(rt, got.UpdatedAt.Equal(m.updated), "a no-op does not bump updated_at")
					require.Equal(rt, before, calls.Load(), "a no-op calls no observer")
				case lifecycle.Invalid:
					require.ErrorIs(rt, err, tasklife.ErrInvalidTransition)
					require.Equal(rt, before, calls.Load(), "an invalid transition calls no observer")
				}
			},
			"list": func(rt *rapid.T) {
				page, err := svc.List(ctx, tasklife.ListQuery{AppGUIDs: []string{app}})
				require.NoError(rt, err)
				require.Equal(rt, len(order), page.TotalResults)
				for i, task := range page.Tasks {
					require.Equal(rt, order[i], task.GUID, "creation order")
					require.Equal(rt, tasks[task.GUID].state, task.State)
				}
			},
			"": func(rt *rapid.T) {
				for _, guid := range order {
					m := tasks[guid]
					got, err := store.Get(ctx, guid)
					require.NoError(rt, err)
					require.Equal(rt, m.state, got.State, "state equals the model's")
					require.Equal(rt, m.version, got.Version, "version equals the number of writes")
					require.False(rt, got.UpdatedAt.Before(m.updated), "updated_at never goes backwards")
					require.Equal(rt, m.reason, got.FailureReason)
					require.Equal(rt, got.State == tasklife.StateFailed, got.FailureReason != "",
						"failure_reason is set iff the state is FAILED")
					m.updated = got.UpdatedAt
				}
			},
		})
	})
}
