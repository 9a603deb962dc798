package pgstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife/pgstore/pgtest"
	"github.com/tasklife/tasklife/storetest"
)

// TestLinearizability checks 50 concurrent histories against a real server
// with porcupine, as the memstore test does with 500.
func TestLinearizability(t *testing.T) {
	t.Parallel()
	rep := storetest.RunLinearizability(t, pgtest.Store(t), storetest.LinOptions{Histories: 50})
	require.Equal(t, 50, rep.Histories)
	require.Zero(t, rep.Failed, "a healthy server fails nothing")
	require.Positive(t, rep.Expired, "the zombie's leases were never expired")
	require.Positive(t, rep.Fenced, "no fenced write was refused")
}
