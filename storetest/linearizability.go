package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/google/uuid"

	"github.com/tasklife/tasklife"
)

// LinOptions sizes a linearizability run. Zero fields take the defaults.
type LinOptions struct {
	Histories    int           // default 100
	Clients      int           // goroutines per history; default 4
	Tasks        int           // tasks per history; default 3
	OpsPerClient int           // default 8
	Timeout      time.Duration // per operation; default 5s
	// Classify maps an operation's error to "the outcome is unknown" (the
	// connection died after the statement was sent): such an operation may
	// or may not have happened, and the checker accepts either. By default
	// errors matching tasklife.ErrUnavailable or context.DeadlineExceeded
	// are unknown; every other unexpected error fails the run.
	Classify func(error) (unknown bool)
}

func (o *LinOptions) defaults() {
	if o.Histories == 0 {
		o.Histories = 100
	}
	if o.Clients == 0 {
		o.Clients = 4
	}
	if o.Tasks == 0 {
		o.Tasks = 3
	}
	if o.OpsPerClient == 0 {
		o.OpsPerClient = 8
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Classify == nil {
		o.Classify = func(err error) bool {
			return errors.Is(err, tasklife.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
		}
	}
}

// LinReport is what CheckHistories found.
type LinReport struct {
	Histories  int // histories checked
	Operations int // operations recorded, in all
	Unknown    int
	// Failed counts operations that returned an error matching Classify.
	// Unknown counts those among them whose outcome the checker treated as
	// unknown (all but reads, which change nothing).
	Failed int
	// Slowest is the longest any operation took; with Timeout it shows
	// that no operation hung past its deadline.
	Slowest time.Duration
	// Claimed, Expired and Fenced count the operations that claimed a
	// task, that ended one by its lease or deadline, and the fenced
	// outcomes refused because the owner no longer held the task (or it
	// had ended): the races the zombie owner makes.
	Claimed, Expired, Fenced int
	// Illegal counts histories porcupine proved not linearizable.
	Illegal int
	// Visualization is the path of porcupine's HTML rendering of the first
	// illegal history, or "".
	Visualization string
}

// RunLinearizability records concurrent histories of events, reads,
// claims, fenced outcomes, renewals and expiries on a few tasks of store,
// and fails t unless porcupine finds every one linearizable against the
// contract's lifecycle, partitioned by task. Among the clients' owners is a
// zombie whose leases run out at once, so that its fenced writes race the
// expiry that ends its tasks. On failure it names the HTML visualization
// of the offending history.
func RunLinearizability(t *testing.T, store tasklife.Store, opts LinOptions) LinReport {
	t.Helper()
	rep, err := CheckHistories(context.Background(), store, opts)
	if err != nil {
		t.Fatalf("linearizability run: %v", err)
	}
	if rep.Illegal > 0 {
		t.Errorf("%d of %d histories are not linearizable; porcupine's visualization of the first: %s",
			rep.Illegal, rep.Histories, rep.Visualization)
	}
	t.Logf("linearizability: %d histories, %d operations (%d unknown; %d claims, %d expiries, %d fenced writes refused), %d illegal",
		rep.Histories, rep.Operations, rep.Unknown, rep.Claimed, rep.Expired, rep.Fenced, rep.Illegal)
	return rep
}

// CheckHistories records opts.Histories concurrent histories against store
// and checks each with porcupine. It returns an error only when the run
// itself could not proceed (a task could not be created, an operation failed
// in a way the model has no place for).
func CheckHistories(ctx context.Context, store tasklife.Store, opts LinOptions) (LinReport, error) {
	opts.defaults()
	var rep LinReport
	model := LinModel()
	svc := tasklife.New(store)
	epoch := time.Now()
	clock := func() int64 { return int64(time.Since(epoch)) } // monotonic

	for h := range opts.Histories {
		app := uuid.NewString()
		guids := make([]string, opts.Tasks)
		for i := range guids {
			task, err := retry(ctx, opts, func(ctx context.Context) (*tasklife.Task, error) {
				return svc.Create(ctx, tasklife.NewTask{AppGUID: app, Command: "true"})
			})
			if err != nil {
				return rep, fmt.Errorf("history %d: create: %w", h, err)
			}
			guids[i] = task.GUID
		}

		var (
			mu      sync.Mutex
			history []porcupine.Operation
			runErr  error
			wg      sync.WaitGroup
		)
		start := make(chan struct{})
		for c := range opts.Clients {
			rng := rand.New(rand.NewPCG(uint64(h), uint64(c)))
			wg.Go(func() {
				<-start
				for range opts.OpsPerClient {
					in := genOp(rng, opts.Tasks)
					opCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
					call := clock()
					outs, err := callOp(opCtx, svc, store, guids, in)
					ret := clock()
					cancel()
					took := time.Duration(ret - call)
					var te *tasklife.TransitionError
					switch {
					case err == nil:
					case errors.As(err, &te):
						outs = []linResult{{in.task, linOutput{kind: outInvalid, state: te.State}}}
					case errors.Is(err, tasklife.ErrNotOwner):
						outs = []linResult{{in.task, linOutput{kind: outNotOwner}}}
					case opts.Classify(err) && !in.op.writes():
						mu.Lock()
						rep.Failed++
						rep.Slowest = max(rep.Slowest, took)
						mu.Unlock()
						continue // a failed read tells nothing
					case opts.Classify(err):
						// It may take effect at any time after the call.
						outs, ret = []linResult{{in.task, linOutput{kind: outUnknown}}}, math.MaxInt64
						if in.op == opExpire { // it may have ended any of them
							outs = outs[:0]
							for k := range guids {
								outs = append(outs, linResult{k, linOutput{kind: outUnknown}})
							}
						}
						mu.Lock()
						rep.Failed++
						mu.Unlock()
					default:
						mu.Lock()
						runErr = errors.Join(runErr, fmt.Errorf("history %d: %s: %w", h, in.describe(), err))
						mu.Unlock()
						return
					}
					mu.Lock()
					for _, o := range outs {
						op := in
						op.task = o.task
						history = append(history, porcupine.Operation{ClientId: c, Input: op, Call: call, Output: o.out, Return: ret})
						switch {
						case o.out.kind == outUnknown:
							rep.Unknown++
						case in.op == opClaim && o.out.kind == outOK:
							rep.Claimed++
						case in.op == opExpire:
							rep.Expired++
						case in.op == opFenced && o.out.kind != outOK:
							rep.Fenced++
						}
					}
					rep.Slowest = max(rep.Slowest, took)
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if runErr != nil {
			return rep, runErr
		}
		// A final read of every task, once the store answers again: every
		// acknowledged write must be reflected in it.
		for i, g := range guids {
			call := clock()
			task, err := retry(ctx, opts, func(ctx context.Context) (*tasklife.Task, error) { return store.Get(ctx, g) })
			if err != nil {
				return rep, fmt.Errorf("history %d: final read: %w", h, err)
			}
			history = append(history, porcupine.Operation{
				ClientId: opts.Clients, Input: linInput{task: i}, Call: call,
				Output: linOutput{kind: outOK, state: task.State, version: task.Version}, Return: clock(),
			})
		}
		rep.Histories++
		rep.Operations += len(history)
		res, info := porcupine.CheckOperationsVerbose(model, history, time.Minute)
		if res == porcupine.Ok {
			continue
		}
		rep.Illegal++
		if rep.Visualization == "" {
			rep.Visualization = visualize(model, info)
		}
	}
	return rep, nil
}

// retry calls fn until it succeeds, fails with an error opts.Classify does
// not accept, or a minute has passed: the store is expected back by then.
func retry(ctx context.Context, opts LinOptions, fn func(context.Context) (*tasklife.Task, error)) (*tasklife.Task, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		opCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
		task, err := fn(opCtx)
		cancel()
		if err == nil || !opts.Classify(err) || time.Now().After(deadline) {
			return task, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// visualize writes porcupine's HTML for info to a temp file and returns its
// path (or why it could not).
func visualize(model porcupine.Model, info porcupine.LinearizationInfo) string {
	f, err := os.CreateTemp("", "tasklife-linearizability-*.html")
	if err != nil {
		return "(no visualization: " + err.Error() + ")"
	}
	defer f.Close()
	if err := porcupine.Visualize(model, info, f); err != nil {
		return "(no visualization: " + err.Error() + ")"
	}
	return f.Name()
}
