package runner

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// storeBounds hands out the contexts that bound the runner's store calls:
// StoreTimeout, and the end of a stop's retries (its parent, giveUp).
//
// A context of its own per call (context.WithTimeout) cost a fifth of the
// runner's time per task: a timer and a registration with the parent,
// each made and then undone, twice a task. Instead, the calls that start
// within a quarter of StoreTimeout of each other share one context, whose
// deadline is StoreTimeout after the last of them may start: each call is
// bounded by StoreTimeout to 1.25 times it. A shared context is never
// cancelled early; its own deadline releases it.
type storeBounds struct {
	parent  context.Context
	timeout time.Duration

	cur atomic.Pointer[storeBound]
	mu  sync.Mutex // serializes making the next one
}

// storeBound is one shared context, for the calls that start before until.
type storeBound struct {
	ctx    context.Context
	cancel context.CancelFunc // unused: the deadline ends ctx
	until  time.Time
}

// get returns the context for a store call starting now.
func (b *storeBounds) get() context.Context {
	now := time.Now()
	if cur := b.cur.Load(); cur != nil && now.Before(cur.until) {
		return cur.ctx
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now = time.Now() // the lock may have taken a while
	if cur := b.cur.Load(); cur != nil && now.Before(cur.until) {
		return cur.ctx
	}
	until := now.Add(b.timeout / 4)
	ctx, cancel := context.WithDeadline(b.parent, until.Add(b.timeout))
	b.cur.Store(&storeBound{ctx: ctx, cancel: cancel, until: until})
	return ctx
}
