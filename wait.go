package tasklife

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultWaitRecheck is how often a Wait reads its task again when nothing
// woke it; see WithWaitRecheck.
const DefaultWaitRecheck = 30 * time.Second

// WaitFor says what Service.Wait waits for. At least one field must be set;
// Wait returns as soon as either holds.
type WaitFor struct {
	// States: the task is in one of them, or has ended (nothing leaves a
	// terminal state, so waiting longer could never succeed).
	States []State
	// AfterVersion: the task's Version is greater than it, that is, the
	// task changed after the caller saw that version.
	AfterVersion int64
}

func (w WaitFor) met(t *Task) bool {
	if w.AfterVersion > 0 && t.Version > w.AfterVersion {
		return true
	}
	return len(w.States) > 0 && (slices.Contains(w.States, t.State) || t.State.Terminal())
}

// WithWaitRecheck sets how often Wait reads its task again when no change
// woke it: the most a change it was never told of (a notification from
// another process that was lost) can delay it. Default DefaultWaitRecheck;
// with pgstore, use Listen's ReconcileInterval.
func WithWaitRecheck(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.waits.recheck = d
		}
	}
}

// Wait returns the task once it is as until asks, without polling: it reads
// the task, then sleeps until a change to it wakes it and reads it again.
// Every change committed through this Service wakes it; a change committed
// by another process wakes it when the host passes it on with Notify (with
// pgstore, from Store.Listen). A wake-up that never comes costs at most the
// recheck interval (WithWaitRecheck).
//
// When ctx ends first, Wait returns the task as it last read it (nil if it
// never read it), with ctx's error. A task that does not exist is an error matching ErrNotFound. A
// waiter costs one small struct, no goroutine, and is forgotten when Wait
// returns.
func (s *Service) Wait(ctx context.Context, guid string, until WaitFor) (*Task, error) {
	if guid == "" {
		return nil, fmt.Errorf("%w: empty guid", ErrNotFound)
	}
	if len(until.States) == 0 && until.AfterVersion <= 0 {
		return nil, &InputError{Field: "wait", Reason: "name states or a version to wait after"}
	}
	for _, st := range until.States {
		if !st.Valid() {
			return nil, &InputError{Field: "states", Reason: fmt.Sprintf("unknown state %q", st)}
		}
	}
	w := s.waits.add(guid)
	defer s.waits.remove(w)
	recheck := time.NewTimer(s.waits.recheck)
	defer recheck.Stop()
	var last *Task
	for {
		// Registered before reading: a change that commits after this
		// read has already found the waiter.
		t, err := s.store.Get(ctx, guid)
		if err != nil {
			if ctx.Err() != nil && last != nil {
				return last, ctx.Err()
			}
			return nil, err
		}
		if until.met(t) {
			return t, nil
		}
		last = t
		w.read.Store(true)
		select {
		case <-w.wake:
			if !recheck.Stop() {
				<-recheck.C
			}
		case <-recheck.C:
		case <-ctx.Done():
			return last, ctx.Err()
		}
		recheck.Reset(s.waits.recheck)
	}
}

// Notify tells the Service that the task guid changed where it could not
// see: in another process. Its waiters read the task again. It never
// blocks. With pgstore:
//
//	go store.Listen(ctx, pgstore.ListenOptions{Handle: func(_ context.Context, n pgstore.Notification) {
//		svc.Notify(n.GUID)
//	}})
func (s *Service) Notify(guid string) { s.waits.wake(guid) }

// waiters are the Waits under way, by task.
type waiters struct {
	recheck time.Duration
	// n counts the waiters, so that a change with none to wake (the usual
	// case, on every write's path) takes no lock. A waiter is counted
	// before it reads the task, and a change is announced after it
	// commits: a change its read missed sees the count.
	n      atomic.Int64
	mu     sync.RWMutex
	byGUID map[string][]*waiter
}

type waiter struct {
	guid string
	// wake holds at most one wake-up: a waiter that is reading the task
	// already will read what the wake-up announces, or be woken again.
	wake chan struct{}
	// read is set once the waiter has read the task (tests wait for it
	// before they make the change it waits for).
	read atomic.Bool
}

func (ws *waiters) add(guid string) *waiter {
	w := &waiter{guid: guid, wake: make(chan struct{}, 1)}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.n.Add(1)
	if ws.byGUID == nil {
		ws.byGUID = make(map[string][]*waiter)
	}
	ws.byGUID[guid] = append(ws.byGUID[guid], w)
	return w
}

func (ws *waiters) remove(w *waiter) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.n.Add(-1)
	list := slices.DeleteFunc(ws.byGUID[w.guid], func(x *waiter) bool { return x == w })
	if len(list) == 0 {
		delete(ws.byGUID, w.guid)
	} else {
		ws.byGUID[w.guid] = list
	}
}

func (ws *waiters) wake(guid string) {
	if ws.n.Load() == 0 {
		return
	}
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	for _, w := range ws.byGUID[guid] {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}
