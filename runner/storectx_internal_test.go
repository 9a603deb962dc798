package runner

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStoreBoundsBoundEachCall: every store call gets StoreTimeout to 1.25
// times it from its start, calls close together share one context, later
// ones get a new one, and the parent's end ends them all.
func TestStoreBoundsBoundEachCall(t *testing.T) {
	t.Parallel()
	parent, cancel := context.WithCancel(context.Background())
	const timeout = 20 * time.Millisecond
	b := &storeBounds{parent: parent, timeout: timeout}

	// get reads the clock between before and after.
	get := func() context.Context {
		t.Helper()
		before := time.Now()
		ctx := b.get()
		after := time.Now()
		deadline, ok := ctx.Deadline()
		require.True(t, ok)
		require.GreaterOrEqual(t, deadline.Sub(before), timeout)
		require.LessOrEqual(t, deadline.Sub(after), timeout+timeout/4)
		return ctx
	}
	first := get()
	// A quarter of timeout on, a call gets a context of its own.
	later, giveUp := get(), time.Now().Add(time.Minute)
	for later == first {
		require.True(t, time.Now().Before(giveUp), "calls a minute apart share a context")
		later = get()
	}

	cancel()
	<-first.Done()
	<-later.Done()
	require.ErrorIs(t, later.Err(), context.Canceled)
	require.ErrorIs(t, b.get().Err(), context.Canceled, "a call after the parent's end")
}

// TestStoreBoundsEnd: a shared context ends at its deadline by itself.
func TestStoreBoundsEnd(t *testing.T) {
	t.Parallel()
	b := &storeBounds{parent: context.Background(), timeout: time.Millisecond}
	ctx := b.get()
	<-ctx.Done()
	require.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
}
