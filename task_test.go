package tasklife_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

func TestTransitionErrorMessages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ev    tasklife.Event
		state tasklife.State
		want  string
	}{
		{tasklife.EventCancel, tasklife.StateSucceeded, "Task state is SUCCEEDED and therefore cannot be canceled"},
		{tasklife.EventCancel, tasklife.StateFailed, "Task state is FAILED and therefore cannot be canceled"},
		{tasklife.EventStart, tasklife.StateCanceling, "Task state is CANCELING and therefore cannot be started"},
		{tasklife.EventSucceed, tasklife.StatePending, "Task state is PENDING and therefore cannot be succeeded"},
		{tasklife.EventCanceled, tasklife.StateRunning, "Task state is RUNNING and therefore cannot be marked as canceled"},
	}
	for _, tc := range cases {
		err := error(&tasklife.TransitionError{GUID: "g", Event: tc.ev, State: tc.state})
		require.EqualError(t, err, tc.want)
		require.ErrorIs(t, err, tasklife.ErrInvalidTransition)
		require.NotErrorIs(t, err, tasklife.ErrNotFound)
	}
}

func TestTruncateFailureReason(t *testing.T) {
	t.Parallel()
	require.Equal(t, "short", tasklife.TruncateFailureReason("short"))
	got := tasklife.TruncateFailureReason(strings.Repeat("a", 1022) + "日本")
	require.Equal(t, strings.Repeat("a", 1022), got, "a 3-byte rune straddling the limit is dropped whole")
}

func TestApplyRejectsUnknownEvent(t *testing.T) {
	t.Parallel()
	svc := tasklife.New(memstore.New())
	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "true"})
	require.NoError(t, err)
	_, err = svc.Apply(context.Background(), task.GUID, "explode", "")
	var ie *tasklife.InputError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, "event", ie.Field)
}

// staleStore reports a state that allows the write but refuses it, as a
// store with a stale read would; the Service must not loop forever.
type staleStore struct {
	tasklife.Store
	calls int
}

func (s *staleStore) Transition(ctx context.Context, req tasklife.TransitionRequest) (tasklife.TransitionResult, error) {
	s.calls++
	return tasklife.TransitionResult{Task: &tasklife.Task{GUID: req.GUID, State: req.From[0]}}, nil
}

func TestServiceBoundsRetriesOnStaleStore(t *testing.T) {
	t.Parallel()
	s := &staleStore{Store: memstore.New()}
	_, err := tasklife.New(s).Cancel(context.Background(), "g")
	require.Error(t, err)
	require.False(t, errors.Is(err, tasklife.ErrInvalidTransition))
	require.Equal(t, 8, s.calls)
}

func TestObserveWhileRunning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := tasklife.New(memstore.New())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "true"})
			if err == nil {
				_, _ = svc.Start(ctx, task.GUID)
			}
		}
	}()
	var seen int
	for range 10 {
		svc.Observe(func(context.Context, tasklife.Change) { seen++ })
	}
	<-done
	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "true"})
	require.NoError(t, err)
	before := seen
	_, err = svc.Start(ctx, task.GUID)
	require.NoError(t, err)
	require.Equal(t, before+10, seen, "every registered observer runs once per write")
}

func TestDeliver(t *testing.T) {
	t.Parallel()
	var got []tasklife.Change
	svc := tasklife.New(memstore.New(), tasklife.WithObserver(func(_ context.Context, c tasklife.Change) {
		c.Task.Name = "changed by observer"
		got = append(got, c)
	}))
	task := &tasklife.Task{GUID: "g", Name: "n", State: tasklife.StateCanceling}
	change := tasklife.Change{Task: task, From: tasklife.StateRunning, To: tasklife.StateCanceling, Event: tasklife.EventCancel}
	svc.Deliver(context.Background(), change, change)
	require.Len(t, got, 2)
	require.Equal(t, tasklife.EventCancel, got[0].Event)
	require.Equal(t, "n", task.Name, "observers get a copy")
}

// lostAnswer commits through memstore, then reports ErrUnavailable the first
// fails times: the connection died after the statement was sent.
type lostAnswer struct {
	tasklife.Store
	fails int
	calls int
}

func (s *lostAnswer) Transition(ctx context.Context, req tasklife.TransitionRequest) (tasklife.TransitionResult, error) {
	s.calls++
	res, err := s.Store.Transition(ctx, req)
	if err == nil && s.fails > 0 {
		s.fails--
		return tasklife.TransitionResult{}, fmt.Errorf("%w: connection reset", tasklife.ErrUnavailable)
	}
	return res, err
}

func TestLostAnswerIsRetriedAndAnnounced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &lostAnswer{Store: memstore.New()}
	var changes []tasklife.Change
	svc := tasklife.New(store, tasklife.WithObserver(func(_ context.Context, c tasklife.Change) { changes = append(changes, c) }))
	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "true"})
	require.NoError(t, err)

	changes = nil // the create's
	store.fails = 1
	got, err := svc.Start(ctx, task.GUID)
	require.NoError(t, err, "the retry finds the start made: a definite answer")
	require.Equal(t, tasklife.StateRunning, got.State)
	require.Equal(t, int64(2), got.Version, "one write, not two")
	require.Len(t, changes, 1, "the observers hear of the change the lost answer made")
	require.Equal(t, tasklife.EventStart, changes[0].Event)
	require.Empty(t, changes[0].From, "who made it, and from where, is unknown")

	store.fails = 3 // more than the retries
	_, err = svc.Cancel(ctx, task.GUID)
	require.ErrorIs(t, err, tasklife.ErrUnavailable)
	require.Equal(t, 5, store.calls, "one start retried once, one cancel tried three times")
}
