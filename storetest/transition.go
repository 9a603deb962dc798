package storetest

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/lifecycle"
)

// expectedReason is the failure_reason the contract has ev leave on a task
// it moves to FAILED.
func expectedReason(ev tasklife.Event) string {
	if ev == tasklife.EventCanceled {
		return tasklife.ReasonCanceled
	}
	return reason
}

func testTransitionTable(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	for _, from := range tasklife.States() {
		for _, ev := range tasklife.Events() {
			t.Run(fmt.Sprintf("%s_on_%s", ev, from), func(t *testing.T) {
				task := b.createIn(t, from)
				before := len(b.obs.list())
				got, err := b.svc.Apply(b.ctx, task.GUID, ev, reason)
				after := b.get(t, task.GUID)
				outcome, to := expect(ev, from)
				switch outcome {
				case lifecycle.Apply:
					require.NoError(t, err)
					require.Equal(t, to, got.State)
					require.Equal(t, task.Version+1, got.Version, "a write increments version by one")
					require.True(t, got.UpdatedAt.After(task.UpdatedAt), "a write moves updated_at forward")
					require.True(t, got.CreatedAt.Equal(task.CreatedAt), "created_at never changes")
					if to == tasklife.StateFailed {
						require.Equal(t, expectedReason(ev), got.FailureReason)
					} else {
						require.Empty(t, got.FailureReason, "failure_reason is empty unless FAILED")
					}
					require.Equal(t, got, after, "the returned task is the stored task")
					changes := b.obs.list()[before:]
					require.Len(t, changes, 1, "one observer call per committed transition")
					require.Equal(t, from, changes[0].From)
					require.Equal(t, to, changes[0].To)
					require.Equal(t, ev, changes[0].Event)
					require.Equal(t, got, changes[0].Task)
				case lifecycle.NoOp:
					require.NoError(t, err, "an event whose target is the current state is an idempotent no-op")
					require.Equal(t, task, got, "a no-op returns the current task unchanged")
					require.Equal(t, task, after, "a no-op writes nothing: no version or updated_at bump")
					require.Len(t, b.obs.list(), before, "a no-op calls no observer")
				case lifecycle.Invalid:
					require.ErrorIs(t, err, tasklife.ErrInvalidTransition)
					var te *tasklife.TransitionError
					require.ErrorAs(t, err, &te)
					require.Equal(t, ev, te.Event)
					require.Equal(t, from, te.State)
					require.Equal(t, task.GUID, te.GUID)
					if ev == tasklife.EventCancel {
						require.EqualError(t, err, fmt.Sprintf("Task state is %s and therefore cannot be canceled", from))
					}
					require.Nil(t, got)
					require.Equal(t, task, after, "an invalid transition writes nothing")
					require.Len(t, b.obs.list(), before, "an invalid transition calls no observer")
				}
			})
		}
	}
}

func testFailureReason(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	cases := []struct {
		name, in, want string
	}{
		{"short", "boom", "boom"},
		{"exactly 1024", strings.Repeat("a", 1024), strings.Repeat("a", 1024)},
		{"ascii over", strings.Repeat("a", 2000), strings.Repeat("a", 1024)},
		// 1023 bytes then a 2-byte rune: the rune would straddle the limit.
		{"rune boundary", strings.Repeat("a", 1023) + "é" + "tail", strings.Repeat("a", 1023)},
		{"multibyte", strings.Repeat("€", 400), strings.Repeat("€", 341)},
	}
	for _, tc := range cases {
		task := b.createIn(t, tasklife.StateRunning)
		got, err := b.svc.Fail(b.ctx, task.GUID, tc.in)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, got.FailureReason, tc.name)
		require.LessOrEqual(t, len(got.FailureReason), tasklife.MaxFailureReasonBytes)
		require.True(t, utf8.ValidString(got.FailureReason), tc.name)
		require.Equal(t, tc.want, b.get(t, task.GUID).FailureReason, tc.name)
	}

	task := b.createIn(t, tasklife.StateRunning)
	for _, bad := range []string{"", "bad\xff", "nul\x00"} {
		_, err := b.svc.Fail(b.ctx, task.GUID, bad)
		require.ErrorIs(t, err, tasklife.ErrInvalidInput, "reason %q", bad)
	}
	require.Equal(t, task, b.get(t, task.GUID), "a refused fail changes nothing")
}
