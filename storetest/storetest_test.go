package storetest_test

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/storetest"
)

// faultEnv tells a child test process which broken store to check.
const faultEnv = "STORETEST_FAULT"

// TestNaiveStorePasses shows the suite is not tied to memstore: a plain,
// correct, host-written store passes it.
func TestNaiveStorePasses(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) tasklife.Store { return newNaiveStore(faultNone) })
}

// TestBrokenStore runs the suite against the broken store named by
// STORETEST_FAULT; it is a no-op unless TestSuiteCatchesBrokenStores starts
// it in a child process, where it is expected to fail.
func TestBrokenStore(t *testing.T) {
	fault := os.Getenv(faultEnv)
	if fault == "" {
		t.Skip("run by TestSuiteCatchesBrokenStores in a child process")
	}
	storetest.Run(t, func(*testing.T) tasklife.Store { return newNaiveStore(fault) })
}

// TestSuiteCatchesBrokenStores runs the suite against each broken store in a
// child process and checks that it fails, in the subtests that should notice.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	t.Parallel()
	cases := []struct {
		fault string
		// caughtBy lists subtests that must each report the fault.
		caughtBy []string
	}{
		{faultFailedToCancel, []string{"TransitionTable/cancel_on_FAILED", "StateMachine"}},
		{faultNoOpBumpsUpdated, []string{"TransitionTable/start_on_RUNNING", "StateMachine"}},
		{faultDuplicateSeq, []string{"ConcurrentCreateSequenceIDs"}},
		{faultKeyCheckThenAct, []string{"ConcurrentKeys"}},
	}
	for _, tc := range cases {
		t.Run(tc.fault, func(t *testing.T) {
			t.Parallel()
			requireCaught(t, "TestBrokenStore", tc.fault, tc.caughtBy...)
		})
	}
}

// requireCaught runs test, a suite against the broken store fault, in a
// child process, and fails t unless each of subtests fails there.
func requireCaught(t *testing.T, test, fault string, subtests ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), faultEnv+"="+fault)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the suite must fail against %s; output:\n%s", fault, out)
	for _, sub := range subtests {
		require.Contains(t, string(out), "--- FAIL: "+test+"/"+sub+" ",
			"%s must be caught by %s; output:\n%s", fault, sub, out)
	}
}

// TestCreateIn walks a task into every state, and shows a path's events
// reach the store and its observers.
func TestCreateIn(t *testing.T) {
	t.Parallel()
	for _, s := range tasklife.States() {
		t.Run(string(s), func(t *testing.T) {
			t.Parallel()
			var events []tasklife.Event
			store := memstore.New()
			svc := tasklife.New(store, tasklife.WithObserver(func(_ context.Context, c tasklife.Change) {
				events = append(events, c.Event)
			}))
			nt := tasklife.NewTask{AppGUID: uuid.NewString(), Name: "migrate", Command: "true"}
			task := storetest.CreateIn(t, svc, nt, s)
			require.Equal(t, s, task.State)
			require.Equal(t, "migrate", task.Name, "the task is created from nt")
			require.Equal(t, tasklife.EventCreate, events[0], "observers hear of the create")
			require.Equal(t, int64(len(events)), task.Version, "one write per event, the create's included")
			stored, err := store.Get(t.Context(), task.GUID)
			require.NoError(t, err)
			require.Equal(t, stored, task, "the returned task is the stored one")
			if s == tasklife.StateFailed {
				require.Equal(t, "Exited with status 1", task.FailureReason)
			}
		})
	}
}
