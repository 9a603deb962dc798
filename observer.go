package tasklife

import "context"

// Change is a committed change, as observers see it: a transition, or the
// creation of a task (Event EventCreate, From empty, To PENDING).
type Change struct {
	// Task is the task as written. Observers share it and must not modify it.
	Task  *Task
	From  State
	To    State
	Event Event
	// Actor is who asked for the change, when the caller said (CancelBy,
	// NewTask.Actor); nil for the changes a runner or a sweep makes.
	Actor *Actor
	// Reason is the actor's reason, if any.
	Reason string
}

// Observer is called after each committed change (every create and every
// transition), never after a no-op or a failed operation, in the goroutine
// of the operation that committed it.
// When a store loses the answer to a write (ErrUnavailable) and the
// Service's retry finds the change already made, the observers hear of it
// then, with an empty From: they may have heard of it from the call that
// made it too, so an observer must be idempotent.
// Observers run in registration order; each should return quickly and hand
// long work to a goroutine of its own. A panicking observer is recovered and
// logged: it cannot change the task or the operation's result.
type Observer func(ctx context.Context, c Change)

// WithObserver registers an observer; see Service.Observe.
func WithObserver(o Observer) Option {
	return func(s *Service) { s.Observe(o) }
}

// Observe registers o to be called after every committed change from now
// on. It is safe to call at any time, also while operations run.
func (s *Service) Observe(o Observer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next []Observer
	if cur := s.observers.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, o)
	s.observers.Store(&next)
}

// Deliver calls the registered observers with changes, as if the Service had
// just committed them. It is for changes committed outside the Service's own
// calls, such as those of a store bound to the host's transaction (see
// pgstore's WithTx): run the transaction through a Service without
// observers, commit, then Deliver the changes it collected. Nothing is
// delivered for a rolled-back transaction.
func (s *Service) Deliver(ctx context.Context, changes ...Change) {
	for _, c := range changes {
		s.notify(ctx, c)
	}
}

func (s *Service) notify(ctx context.Context, c Change) {
	s.waits.wake(c.Task.GUID)
	obs := s.observers.Load()
	if obs == nil {
		return
	}
	// Observers get their own copy, so the caller's task is safe from them,
	// and a context that outlives the caller's cancellation: the change is
	// committed whatever the caller does next.
	c.Task = c.Task.Clone()
	ctx = context.WithoutCancel(ctx)
	for _, o := range *obs {
		s.callObserver(ctx, o, c)
	}
}

func (s *Service) callObserver(ctx context.Context, o Observer, c Change) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.ErrorContext(ctx, "tasklife: observer panicked",
				"panic", r, "task", c.Task.GUID, "event", string(c.Event))
		}
	}()
	o(ctx, c)
}
