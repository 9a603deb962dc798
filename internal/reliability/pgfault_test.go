//go:build faults

package reliability

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore"
	"github.com/tasklife/tasklife/pgstore/pgtest"
	"github.com/tasklife/tasklife/storetest"
)

const loadApp = "tasklife-fault-load"

// faultStore returns a store whose connections are marked so the injector
// can find them, with synchronous commit on: an acknowledged commit must
// survive a crash (the throwaway test server turns it off for speed).
//
// Once the injector stops, the pool still holds connections whose backends
// it killed, so the pool is reset when the test ends, before its schema is
// dropped.
func faultStore(t *testing.T) *pgstore.Store {
	t.Helper()
	cfg := pgtest.Config(t)
	cfg.ConnConfig.RuntimeParams["application_name"] = loadApp
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	cfg.MaxConns = 8
	pool := pgtest.NewPool(t, cfg)
	store := pgtest.StoreOn(t, pool)
	t.Cleanup(pool.Reset) // runs before StoreOn's schema drop: cleanups run last-in first-out
	return store
}

func options() storetest.LinOptions {
	return storetest.LinOptions{
		Histories: 40, Clients: 6, Tasks: 3, OpsPerClient: 10,
		Timeout: 3 * time.Second,
		Classify: func(err error) bool {
			// The typed unavailable error, or a deadline: both mean the
			// outcome is unknown. Anything else fails the run.
			return errors.Is(err, tasklife.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
		},
	}
}

// report checks what every fault run must show.
func report(t *testing.T, name string, rep storetest.LinReport, opts storetest.LinOptions) {
	t.Helper()
	t.Logf("%s: %d histories, %d operations, %d failed with the unavailable error (%d of unknown outcome), slowest %v, %d illegal",
		name, rep.Histories, rep.Operations, rep.Failed, rep.Unknown, rep.Slowest.Round(time.Millisecond), rep.Illegal)
	require.Zero(t, rep.Illegal, "a history is not linearizable: %s", rep.Visualization)
	require.Equal(t, opts.Histories, rep.Histories)
	require.LessOrEqual(t, rep.Slowest, opts.Timeout+time.Second, "an operation hung past its deadline")
}

// TestTerminatedBackends kills the load's backends with
// pg_terminate_backend every few milliseconds while histories run.
func TestTerminatedBackends(t *testing.T) {
	store := faultStore(t)
	killer := pgtest.Pool(t)
	ctx, stop := context.WithCancel(context.Background())
	var kills int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			var n int64
			err := killer.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE application_name = $1 AND pid <> pg_backend_pid()`, loadApp).Scan(&n)
			if err == nil {
				kills += n
			}
			time.Sleep(15 * time.Millisecond)
		}
	})
	opts := options()
	rep, err := storetest.CheckHistories(context.Background(), store, opts)
	stop()
	wg.Wait()
	require.NoError(t, err)
	t.Logf("backends terminated: %d", kills)
	require.Positive(t, kills, "the injector must have killed something")
	require.Positive(t, rep.Failed, "some operations must have met a killed backend")
	report(t, "pg_terminate_backend", rep, opts)
}

// TestServerCrashRestart restarts the server with pg_ctl restart -m
// immediate (a crash: no checkpoint, no goodbye to clients) while histories
// run, and checks that the store serves again within 5 s of the server
// coming back.
func TestServerCrashRestart(t *testing.T) {
	pgctl := pgctl(t)
	store := faultStore(t)
	svc := tasklife.New(store)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var restarts int
	var recoveries []time.Duration
	var injectErr error
	wg.Go(func() {
		for ctx.Err() == nil {
			time.Sleep(time.Second)
			if ctx.Err() != nil {
				return
			}
			out, err := exec.Command("sh", "-c", pgctl+" restart -m immediate -w -t 60").CombinedOutput()
			if err != nil {
				mu.Lock()
				injectErr = errors.Join(injectErr, errors.New(strings.TrimSpace(string(out))))
				mu.Unlock()
				return
			}
			back := time.Now()
			mu.Lock()
			restarts++
			mu.Unlock()
			// The store must serve again within 5 s of the server being back.
			for {
				probe, cancel := context.WithTimeout(context.Background(), time.Second)
				_, err := svc.List(probe, tasklife.ListQuery{PerPage: 1})
				cancel()
				if err == nil {
					mu.Lock()
					recoveries = append(recoveries, time.Since(back))
					mu.Unlock()
					break
				}
				if time.Since(back) > 10*time.Second {
					mu.Lock()
					injectErr = errors.Join(injectErr, errors.New("store still failing 10s after restart: "+err.Error()))
					mu.Unlock()
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	})
	// Run histories in batches until the server has crashed three times.
	opts := options()
	batch := opts
	batch.Histories = 5
	var rep storetest.LinReport
	var err error
	for deadline := time.Now().Add(2 * time.Minute); err == nil && time.Now().Before(deadline); {
		var r storetest.LinReport
		r, err = storetest.CheckHistories(context.Background(), store, batch)
		rep = merge(rep, r)
		mu.Lock()
		done := restarts >= 3 || injectErr != nil
		mu.Unlock()
		if done && rep.Histories >= opts.Histories {
			break
		}
	}
	stop()
	wg.Wait()
	opts.Histories = rep.Histories
	require.NoError(t, injectErr)
	require.NoError(t, err)
	require.Positive(t, restarts, "the server must have been restarted during the run")
	t.Logf("restarts: %d, store serving again after %v", restarts, recoveries)
	for _, d := range recoveries {
		require.Less(t, d, 5*time.Second, "the store must serve within 5 s of the server coming back")
	}
	report(t, "pg_ctl restart -m immediate", rep, opts)
}

// merge adds up two reports.
func merge(a, b storetest.LinReport) storetest.LinReport {
	a.Histories += b.Histories
	a.Operations += b.Operations
	a.Failed += b.Failed
	a.Unknown += b.Unknown
	a.Slowest = max(a.Slowest, b.Slowest)
	a.Illegal += b.Illegal
	if a.Visualization == "" {
		a.Visualization = b.Visualization
	}
	return a
}

// falseSuccess is the fault the checker must catch: a store that, when the
// connection fails, reports the write as done. It guesses the version from
// the last one it saw, so only the final state can give it away.
type falseSuccess struct {
	*pgstore.Store
	mu   sync.Mutex
	seen map[string]int64
}

func (s *falseSuccess) Transition(ctx context.Context, req tasklife.TransitionRequest) (tasklife.TransitionResult, error) {
	res, err := s.Store.Transition(ctx, req)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.seen[req.GUID] = res.Task.Version
		return res, nil
	}
	if !errors.Is(err, tasklife.ErrUnavailable) {
		return res, err
	}
	v := s.seen[req.GUID]
	if v == 0 {
		v = 1
	}
	s.seen[req.GUID] = v + 1
	return tasklife.TransitionResult{Task: &tasklife.Task{GUID: req.GUID, State: req.To, Version: v + 1}, From: req.From[0], Applied: true}, nil
}

// TestFalseSuccessIsCaught shows the fault checker is live: the same load
// and injector against a store that lies about failed writes must produce
// histories porcupine rejects.
func TestFalseSuccessIsCaught(t *testing.T) {
	store := &falseSuccess{Store: faultStore(t), seen: map[string]int64{}}
	killer := pgtest.Pool(t)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			_, _ = killer.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE application_name = $1 AND pid <> pg_backend_pid()`, loadApp)
			time.Sleep(15 * time.Millisecond)
		}
	})
	opts := options()
	opts.Histories = 15
	rep, err := storetest.CheckHistories(context.Background(), store, opts)
	stop()
	wg.Wait()
	require.NoError(t, err)
	t.Logf("lying store: %d of %d histories illegal; first: %s", rep.Illegal, rep.Histories, rep.Visualization)
	require.Positive(t, rep.Illegal, "porcupine must reject a store that reports failed writes as done")
	require.FileExists(t, rep.Visualization)
	require.NoError(t, os.Remove(rep.Visualization))
}

// TestMain fails the package if a test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
