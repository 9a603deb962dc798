package tasklife

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tasklife/tasklife/internal/lifecycle"
)

// Service runs the lifecycle on top of a Store. It is safe for concurrent
// use.
type Service struct {
	store     Store
	logger    *slog.Logger
	mu        sync.Mutex // serialises Observe
	observers atomic.Pointer[[]Observer]
	waits     waiters       // the Waits under way
	keyTTL    time.Duration // see idempotency.go
}

// Option configures a Service.
type Option func(*Service)

// WithLogger sets where the Service logs recovered observer panics. The
// default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *Service) { s.logger = l }
}

// New returns a Service over store.
func New(store Store, opts ...Option) *Service {
	s := &Service{store: store, logger: slog.Default(), keyTTL: DefaultIdempotencyTTL}
	s.waits.recheck = DefaultWaitRecheck
	for _, o := range opts {
		o(s)
	}
	return s
}

// Store returns the store the Service runs on.
func (s *Service) Store() Store { return s.store }

// Create validates nt and stores it as a new PENDING task. Observers hear
// of it as a Change with Event EventCreate.
func (s *Service) Create(ctx context.Context, nt NewTask) (*Task, error) {
	if nt.AppGUID == "" {
		return nil, &InputError{Field: "app_guid", Reason: "must not be empty"}
	}
	if nt.Command == "" {
		return nil, &InputError{Field: "command", Reason: "must not be empty"}
	}
	if nt.MemoryInMB < 0 {
		return nil, &InputError{Field: "memory_in_mb", Reason: "must be 0 or more"}
	}
	if nt.DiskInMB != nil && *nt.DiskInMB < 0 {
		return nil, &InputError{Field: "disk_in_mb", Reason: "must be 0 or more"}
	}
	logRate := int64(-1)
	if nt.LogRateLimitInBytesPerSecond != nil {
		logRate = *nt.LogRateLimitInBytesPerSecond
		if logRate < -1 {
			return nil, &InputError{Field: "log_rate_limit_in_bytes_per_second", Reason: "must be -1 (unlimited) or more"}
		}
	}
	for field, v := range map[string]string{
		"app_guid": nt.AppGUID, "name": nt.Name, "command": nt.Command,
		"user": nt.User, "droplet_guid": nt.DropletGUID,
	} {
		if err := checkText(field, v); err != nil {
			return nil, err
		}
	}
	if err := checkMetadata(pointers(nt.Labels), pointers(nt.Annotations)); err != nil {
		return nil, err
	}
	if nt.IdempotencyKey != nil {
		if err := nt.IdempotencyKey.check(); err != nil {
			return nil, err
		}
	}
	var audit *AuditEvent
	if nt.Actor != nil {
		if err := checkActor(*nt.Actor, ""); err != nil {
			return nil, err
		}
		audit = &AuditEvent{Type: AuditTaskCreate, Actor: *nt.Actor}
	}
	name := nt.Name
	if name == "" {
		name = randomName()
	}
	t := &Task{
		AppGUID:                      nt.AppGUID,
		Name:                         name,
		Command:                      nt.Command,
		User:                         nt.User,
		MemoryInMB:                   nt.MemoryInMB,
		LogRateLimitInBytesPerSecond: logRate,
		DropletGUID:                  nt.DropletGUID,
		Labels:                       cloneMap(nt.Labels),
		Annotations:                  cloneMap(nt.Annotations),
	}
	if nt.DiskInMB != nil {
		d := *nt.DiskInMB
		t.DiskInMB = &d
	}
	var (
		created *Task
		err     error
	)
	if nt.IdempotencyKey != nil {
		var replayed bool
		created, replayed, err = s.createKeyed(ctx, t, audit, nt.IdempotencyKey)
		if replayed {
			return created, err // announced when it was created
		}
	} else {
		created, err = s.store.Create(ctx, t, audit)
	}
	if err != nil {
		return nil, err
	}
	s.notify(ctx, Change{Task: created, To: StatePending, Event: EventCreate, Actor: actorOf(audit)})
	return created, nil
}

// checkText rejects what no store can keep faithfully: invalid UTF-8 and NUL
// bytes (PostgreSQL text refuses both).
func checkText(field, v string) error {
	if !utf8.ValidString(v) {
		return &InputError{Field: field, Reason: "must be valid UTF-8"}
	}
	if strings.IndexByte(v, 0) >= 0 {
		return &InputError{Field: field, Reason: "must not contain NUL bytes"}
	}
	return nil
}

func randomName() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails.
	return hex.EncodeToString(b[:])
}

// Get returns the task with the given GUID, or an error matching ErrNotFound.
func (s *Service) Get(ctx context.Context, guid string) (*Task, error) {
	if guid == "" {
		return nil, fmt.Errorf("%w: empty guid", ErrNotFound)
	}
	return s.store.Get(ctx, guid)
}

// List returns one page of the tasks q selects. It normalises q first (see
// ListQuery.Normalize); the page's Query is the query the store ran.
func (s *Service) List(ctx context.Context, q ListQuery) (*Page, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, err
	}
	p, err := s.store.List(ctx, q)
	if err != nil {
		return nil, err
	}
	p.Query = q
	return p, nil
}

// Start moves a PENDING task to RUNNING.
func (s *Service) Start(ctx context.Context, guid string) (*Task, error) {
	return s.transition(ctx, guid, EventStart, "")
}

// Cancel requests that a PENDING or RUNNING task stop: it moves to
// CANCELING, and the executor, told by its observer, must stop the work and
// then call Canceled (or Succeed, if the work finished first). Cancel on a
// CANCELING task is a no-op; on a terminal task it fails with a
// *TransitionError whose message is Cloud Foundry's.
func (s *Service) Cancel(ctx context.Context, guid string) (*Task, error) {
	return s.transition(ctx, guid, EventCancel, "")
}

// Succeed moves a RUNNING or CANCELING task to SUCCEEDED.
func (s *Service) Succeed(ctx context.Context, guid string) (*Task, error) {
	return s.transition(ctx, guid, EventSucceed, "")
}

// Fail moves a PENDING, RUNNING or CANCELING task to FAILED with reason,
// which must not be empty and is truncated to MaxFailureReasonBytes.
func (s *Service) Fail(ctx context.Context, guid, reason string) (*Task, error) {
	if reason == "" {
		return nil, &InputError{Field: "failure_reason", Reason: "must not be empty"}
	}
	if err := checkText("failure_reason", reason); err != nil {
		return nil, err
	}
	return s.transition(ctx, guid, EventFail, TruncateFailureReason(reason))
}

// Canceled confirms that the work of a CANCELING task has stopped: the task
// moves to FAILED with ReasonCanceled.
func (s *Service) Canceled(ctx context.Context, guid string) (*Task, error) {
	return s.transition(ctx, guid, EventCanceled, ReasonCanceled)
}

// Apply runs ev on the task; reason is used only by EventFail. It is the
// generic form of Start, Cancel, Succeed, Fail and Canceled.
func (s *Service) Apply(ctx context.Context, guid string, ev Event, reason string) (*Task, error) {
	switch ev {
	case EventFail:
		return s.Fail(ctx, guid, reason)
	case EventCanceled:
		return s.Canceled(ctx, guid)
	}
	if _, ok := ruleFor(ev); !ok {
		return nil, &InputError{Field: "event", Reason: fmt.Sprintf("unknown event %q", ev)}
	}
	return s.transition(ctx, guid, ev, "")
}

// staleRetries bounds how often transition asks again when a store refused
// a write while reporting a state that allows it: a snapshot read from
// before a concurrent writer committed. Each retry needs another concurrent
// commit on the same task to fail again.
const staleRetries = 8

// unavailableRetries is how often transition repeats a write whose answer
// was lost (ErrUnavailable): every event is idempotent, so a repeat either
// makes the change or finds it made, and the caller gets a definite answer.
const unavailableRetries = 2

func (s *Service) transition(ctx context.Context, guid string, ev Event, reason string) (*Task, error) {
	return s.step(ctx, guid, ev, reason, "")
}

// step runs ev on the task, fenced by owner when it is set.
func (s *Service) step(ctx context.Context, guid string, ev Event, reason, owner string) (*Task, error) {
	return s.stepAudited(ctx, guid, ev, reason, owner, nil)
}

// actorOf is the actor an audit template names, for a Change.
func actorOf(audit *AuditEvent) *Actor {
	if audit == nil {
		return nil
	}
	a := audit.Actor
	return &a
}

// stepAudited is step that records audit with the change, when it is set.
func (s *Service) stepAudited(ctx context.Context, guid string, ev Event, reason, owner string, audit *AuditEvent) (*Task, error) {
	return s.stepKeyed(ctx, guid, ev, reason, owner, audit, nil)
}

// stepKeyed is stepAudited that records key with the result, when it is
// set (see Service.CancelKeyed).
func (s *Service) stepKeyed(ctx context.Context, guid string, ev Event, reason, owner string, audit *AuditEvent, key *IdempotencyKey) (*Task, error) {
	if guid == "" {
		return nil, fmt.Errorf("%w: empty guid", ErrNotFound)
	}
	rule, _ := ruleFor(ev)
	req := TransitionRequest{GUID: guid, Event: ev, From: rule.from, To: rule.to, FailureReason: reason, Owner: owner, Audit: audit, Idempotency: key}
	changed := func(c Change) Change {
		c.Actor = actorOf(audit)
		if audit != nil {
			c.Reason = audit.Reason
		}
		return c
	}
	lost := false // an earlier attempt may have committed without saying so
	for stale, unavailable := 0, 0; stale < staleRetries; {
		res, err := s.store.Transition(ctx, req)
		if err != nil {
			if errors.Is(err, ErrUnavailable) && unavailable < unavailableRetries && pause(ctx, unavailable) {
				unavailable++
				lost = true
				continue
			}
			return nil, err
		}
		if res.Task == nil {
			return nil, fmt.Errorf("tasklife: store returned no task for %s %s", ev, guid)
		}
		if res.Applied {
			s.notify(ctx, changed(Change{Task: res.Task, From: res.From, To: rule.to, Event: ev}))
			return res.Task, nil
		}
		switch decide(ev, res.Task.State) {
		case lifecycle.NoOp:
			if lost {
				// The change is made, and perhaps by the attempt whose
				// answer was lost: announce it, or no observer ever would.
				// Its From is unknown.
				s.notify(ctx, changed(Change{Task: res.Task, To: rule.to, Event: ev}))
			}
			return res.Task, nil
		case lifecycle.Invalid:
			return nil, &TransitionError{GUID: guid, Event: ev, State: res.Task.State}
		}
		if owner != "" && res.Task.Owner != owner {
			return nil, fmt.Errorf("%w: %s is held by %q", ErrNotOwner, guid, res.Task.Owner)
		}
		// Apply: the store refused a write its own answer allows (a
		// snapshot read from before a concurrent commit). Ask again.
		stale++
	}
	return nil, fmt.Errorf("tasklife: store kept refusing %s on %s in a state that allows it", ev, guid)
}

// pause waits before retry n (20ms, 40ms, ...) and reports false if ctx ended
// first.
func pause(ctx context.Context, n int) bool {
	t := time.NewTimer(20 * time.Millisecond << n)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
