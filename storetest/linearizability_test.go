package storetest_test

import (
	"context"
	"os"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/storetest"
)

// checkThenAct is the classic broken store: it reads the state, checks the
// guard, yields, then writes without a guard.
type checkThenAct struct{ tasklife.Store }

func (s checkThenAct) Transition(ctx context.Context, req tasklife.TransitionRequest) (tasklife.TransitionResult, error) {
	cur, err := s.Get(ctx, req.GUID)
	if err != nil {
		return tasklife.TransitionResult{}, err
	}
	if !slices.Contains(req.From, cur.State) {
		return tasklife.TransitionResult{Task: cur}, nil
	}
	runtime.Gosched()
	req.From = tasklife.States() // no guard: write whatever is there now
	res, err := s.Store.Transition(ctx, req)
	res.From = cur.State
	return res, err
}

func TestLinearizabilityCatchesCheckThenAct(t *testing.T) {
	t.Parallel()
	rep, err := storetest.CheckHistories(context.Background(), checkThenAct{memstore.New()},
		storetest.LinOptions{Histories: 200})
	require.NoError(t, err)
	require.Positive(t, rep.Illegal, "porcupine must find the lost update of a check-then-act store")
	require.FileExists(t, rep.Visualization)
	html, err := os.ReadFile(rep.Visualization)
	require.NoError(t, err)
	require.Contains(t, string(html), "<html")
	require.NoError(t, os.Remove(rep.Visualization))
}

func TestLinearizabilityNaiveStore(t *testing.T) {
	t.Parallel()
	storetest.RunLinearizability(t, newNaiveStore(faultNone), storetest.LinOptions{Histories: 100})
}

// unfenced is a store that ignores the owner a step is fenced by: an owner
// that lost its task can still write it.
type unfenced struct{ tasklife.Store }

func (s unfenced) Transition(ctx context.Context, req tasklife.TransitionRequest) (tasklife.TransitionResult, error) {
	req.Owner = ""
	return s.Store.Transition(ctx, req)
}

func TestLinearizabilityCatchesAMissingFence(t *testing.T) {
	t.Parallel()
	rep, err := storetest.CheckHistories(context.Background(), unfenced{memstore.New()},
		storetest.LinOptions{Histories: 200})
	require.NoError(t, err)
	require.Positive(t, rep.Illegal, "porcupine must find a write by an owner that does not hold the task")
	require.NoError(t, os.Remove(rep.Visualization))
}
