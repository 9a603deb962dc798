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
	"github.com/tasklife/tasklife/internal/lifecycle"
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
	// Illegal counts histories porcupine proved not linearizable.
	Illegal int
	// Visualization is the path of porcupine's HTML rendering of the first
	// illegal history, or "".
	Visualization string
}

// RunLinearizability records concurrent histories of events and reads on a
// few tasks of store, and fails t unless porcupine finds every one
// linearizable against the contract's lifecycle, partitioned by task. On
// failure it names the HTML visualization of the offending history.
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
	t.Logf("linearizability: %d histories, %d operations (%d unknown), %d illegal",
		rep.Histories, rep.Operations, rep.Unknown, rep.Illegal)
	return rep
}

// linInput is one operation as called: an event on a task, or a read.
type linInput struct {
	task  int
	event tasklife.Event // "" for a read
}

// linOutput is what the operation returned.
type linOutput struct {
	kind    outKind
	state   tasklife.State
	version int64
}

type outKind int

const (
	outOK      outKind = iota // returned a task
	outInvalid                // *TransitionError
	outUnknown                // may or may not have happened
)

// linState is the model's view of one task.
type linState struct {
	state   tasklife.State
	version int64
}

// LinModel is the contract's lifecycle as a porcupine model over one task,
// partitioned by task. Operations whose outcome is unknown may or may not
// have taken effect.
func LinModel() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Init: func() []interface{} {
			return []interface{}{linState{tasklife.StatePending, 1}}
		},
		Step: func(st, in, out interface{}) []interface{} {
			s, i, o := st.(linState), in.(linInput), out.(linOutput)
			if i.event == "" { // a read
				if o.kind == outUnknown || (o.kind == outOK && o.state == s.state && o.version == s.version) {
					return []interface{}{s}
				}
				return nil
			}
			outcome, to := expect(i.event, s.state)
			next := s
			if outcome == lifecycle.Apply {
				next = linState{to, s.version + 1}
			}
			switch {
			case o.kind == outUnknown:
				return []interface{}{s, next}
			case outcome == lifecycle.Invalid:
				if o.kind == outInvalid && o.state == s.state {
					return []interface{}{s}
				}
			case o.kind == outOK && o.state == next.state && o.version == next.version:
				return []interface{}{next}
			}
			return nil
		},
		Equal: func(a, b interface{}) bool { return a.(linState) == b.(linState) },
		DescribeOperation: func(in, out interface{}) string {
			i, o := in.(linInput), out.(linOutput)
			op := "get"
			if i.event != "" {
				op = string(i.event)
			}
			switch o.kind {
			case outInvalid:
				return fmt.Sprintf("task%d.%s -> invalid in %s", i.task, op, o.state)
			case outUnknown:
				return fmt.Sprintf("task%d.%s -> unknown", i.task, op)
			}
			return fmt.Sprintf("task%d.%s -> %s v%d", i.task, op, o.state, o.version)
		},
		DescribeState: func(st interface{}) string {
			s := st.(linState)
			return fmt.Sprintf("%s v%d", s.state, s.version)
		},
	}
	m := nm.ToModel()
	m.Partition = func(history []porcupine.Operation) [][]porcupine.Operation {
		byTask := map[int][]porcupine.Operation{}
		var order []int
		for _, op := range history {
			k := op.Input.(linInput).task
			if _, ok := byTask[k]; !ok {
				order = append(order, k)
			}
			byTask[k] = append(byTask[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, k := range order {
			out = append(out, byTask[k])
		}
		return out
	}
	return m
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
	events := tasklife.Events()
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
					in := linInput{task: rng.IntN(opts.Tasks)}
					if rng.IntN(4) > 0 { // three events for each read
						in.event = events[rng.IntN(len(events))]
					}
					opCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
					call := clock()
					var task *tasklife.Task
					var err error
					if in.event == "" {
						task, err = store.Get(opCtx, guids[in.task])
					} else {
						task, err = svc.Apply(opCtx, guids[in.task], in.event, "boom")
					}
					ret := clock()
					cancel()
					took := time.Duration(ret - call)
					var out linOutput
					var te *tasklife.TransitionError
					switch {
					case err == nil:
						out = linOutput{kind: outOK, state: task.State, version: task.Version}
					case errors.As(err, &te):
						out = linOutput{kind: outInvalid, state: te.State}
					case opts.Classify(err) && in.event == "":
						mu.Lock()
						rep.Failed++
						rep.Slowest = max(rep.Slowest, took)
						mu.Unlock()
						continue // a failed read tells nothing
					case opts.Classify(err):
						// It may take effect at any time after the call.
						out, ret = linOutput{kind: outUnknown}, math.MaxInt64
						mu.Lock()
						rep.Failed++
						mu.Unlock()
					default:
						mu.Lock()
						runErr = errors.Join(runErr, fmt.Errorf("history %d: %s: %w", h, in.event, err))
						mu.Unlock()
						return
					}
					mu.Lock()
					history = append(history, porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret})
					if out.kind == outUnknown {
						rep.Unknown++
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
