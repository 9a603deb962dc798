// Package tasklife gives a Go service a correct task lifecycle: PENDING,
// RUNNING, CANCELING, SUCCEEDED and FAILED, with idempotent events, atomic
// guarded transitions in the store, and observers that learn of every
// committed change. It reproduces the semantics of the Cloud Foundry v3 tasks
// API; the httpadapter package serves that API over HTTP.
//
// Use it in three lines:
//
//	svc := tasklife.New(memstore.New())
//	task, _ := svc.Create(ctx, tasklife.NewTask{AppGUID: app, Command: "echo hi"})
//	task, err := svc.Cancel(ctx, task.GUID)
package tasklife

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// State is the state of a task. The strings are Cloud Foundry's.
type State string

// The states of a task. SUCCEEDED and FAILED are terminal: nothing leaves them.
const (
	StatePending   State = "PENDING"
	StateRunning   State = "RUNNING"
	StateCanceling State = "CANCELING"
	StateSucceeded State = "SUCCEEDED"
	StateFailed    State = "FAILED"
)

// States lists every state in lifecycle order.
func States() []State {
	return []State{StatePending, StateRunning, StateCanceling, StateSucceeded, StateFailed}
}

func (s State) index() int {
	switch s {
	case StatePending:
		return 0
	case StateRunning:
		return 1
	case StateCanceling:
		return 2
	case StateSucceeded:
		return 3
	case StateFailed:
		return 4
	}
	return -1
}

// Valid reports whether s is one of the five states.
func (s State) Valid() bool { return s.index() >= 0 }

// Terminal reports whether s is SUCCEEDED or FAILED.
func (s State) Terminal() bool { return s == StateSucceeded || s == StateFailed }

// Event is a lifecycle event.
type Event string

// The lifecycle events. See Lifecycle for where each may happen.
const (
	EventStart    Event = "start"
	EventCancel   Event = "cancel"
	EventSucceed  Event = "succeed"
	EventFail     Event = "fail"
	EventCanceled Event = "canceled"
	numEvents           = 5
)

// Events lists every event in declaration order.
func Events() []Event {
	return []Event{EventStart, EventCancel, EventSucceed, EventFail, EventCanceled}
}

func (e Event) index() int {
	switch e {
	case EventStart:
		return 0
	case EventCancel:
		return 1
	case EventSucceed:
		return 2
	case EventFail:
		return 3
	case EventCanceled:
		return 4
	}
	return -1
}

// Failure reasons Cloud Foundry uses, for hosts that want them. Diego's
// reason for a non-zero exit is ExitedWithStatus.
const (
	ReasonCanceled        = "task was cancelled"
	ReasonExpired         = "Task expired in PENDING state"
	ReasonUnknownOutcome  = "Unable to determine completion status"
	ReasonCannotBeStarted = "Unable to request task to be run"
)

// ExitedWithStatus returns Diego's failure reason for a non-zero exit code.
func ExitedWithStatus(code int) string { return fmt.Sprintf("Exited with status %d", code) }

// MaxFailureReasonBytes is the longest failure reason stored; longer ones are
// truncated on a rune boundary.
const MaxFailureReasonBytes = 1024

// Task is one task as stored. A *Task a function returns belongs to the
// caller.
type Task struct {
	GUID                         string
	AppGUID                      string
	SequenceID                   int64
	Name                         string
	Command                      string
	User                         string
	State                        State
	MemoryInMB                   int64
	DiskInMB                     *int64 // nil: not set
	LogRateLimitInBytesPerSecond int64  // -1: unlimited
	DropletGUID                  string
	// FailureReason is non-empty exactly when State is FAILED.
	FailureReason string
	Labels        map[string]string
	Annotations   map[string]string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// Version starts at 1 and grows by one on every write.
	Version int64
}

// Clone returns a deep copy of t. Empty maps come back nil.
func (t *Task) Clone() *Task {
	c := *t
	c.Labels = CloneMap(t.Labels)
	c.Annotations = CloneMap(t.Annotations)
	if t.DiskInMB != nil {
		d := *t.DiskInMB
		c.DiskInMB = &d
	}
	return &c
}

// CloneMap copies m; it returns nil for an empty map. Stores use it to copy
// labels and annotations in and out.
func CloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// NewTask is what a host gives Create. AppGUID and Command are required.
type NewTask struct {
	AppGUID string
	// Name defaults to 8 random lowercase hex characters.
	Name        string
	Command     string
	User        string
	MemoryInMB  int64
	DiskInMB    *int64
	DropletGUID string
	// LogRateLimitInBytesPerSecond defaults to -1 (unlimited) when nil.
	LogRateLimitInBytesPerSecond *int64
	Labels                       map[string]string
	Annotations                  map[string]string
}

// OrderBy is a list ordering field.
type OrderBy string

// List orderings. The zero value is creation order.
const (
	OrderByCreatedAt OrderBy = "created_at"
	OrderByUpdatedAt OrderBy = "updated_at"
)

// Page size limits for List.
const (
	DefaultPerPage = 50
	MaxPerPage     = 5000
)

// ListQuery selects tasks. Within a filter the values are alternatives; the
// filters combine with AND. A nil or empty filter selects everything.
type ListQuery struct {
	GUIDs    []string
	Names    []string
	States   []State
	AppGUIDs []string
	// SequenceIDs needs exactly one AppGUIDs entry: sequence ids are per app.
	SequenceIDs []int64
	// OrderBy defaults to creation order. Ties are broken by creation order,
	// in the same direction.
	OrderBy    OrderBy
	Descending bool
	// Page counts from 1 (0 means 1); PerPage defaults to DefaultPerPage and
	// may be at most MaxPerPage.
	Page    int
	PerPage int
}

// Page is one page of a list.
type Page struct {
	Tasks []*Task
	// TotalResults is how many tasks match the query across all pages.
	TotalResults int
}

// Change is a committed transition, as observers see it.
type Change struct {
	// Task is the task as written. Observers share it and must not modify it.
	Task  *Task
	From  State
	To    State
	Event Event
}

// Observer is called after each committed transition, never after a no-op
// or a failed operation, in the goroutine of the operation that committed it.
// When a store loses the answer to a write (ErrUnavailable) and the
// Service's retry finds the change already made, the observers hear of it
// then, with an empty From: they may have heard of it from the call that
// made it too, so an observer must be idempotent.
// Observers run in registration order; each should return quickly and hand
// long work to a goroutine of its own. A panicking observer is recovered and
// logged: it cannot change the task or the operation's result.
type Observer func(ctx context.Context, c Change)

// Service runs the lifecycle on top of a Store. It is safe for concurrent
// use.
type Service struct {
	store     Store
	logger    *slog.Logger
	mu        sync.Mutex // serialises Observe
	observers atomic.Pointer[[]Observer]
}

// Option configures a Service.
type Option func(*Service)

// WithObserver registers an observer; see Service.Observe.
func WithObserver(o Observer) Option {
	return func(s *Service) { s.Observe(o) }
}

// WithLogger sets where the Service logs recovered observer panics. The
// default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *Service) { s.logger = l }
}

// New returns a Service over store.
func New(store Store, opts ...Option) *Service {
	s := &Service{store: store, logger: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Store returns the store the Service runs on.
func (s *Service) Store() Store { return s.store }

// Observe registers o to be called after every committed transition from
// now on. It is safe to call at any time, also while operations run.
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

// Create validates nt and stores it as a new PENDING task.
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
	for field, m := range map[string]map[string]string{"labels": nt.Labels, "annotations": nt.Annotations} {
		for k, v := range m {
			if k == "" {
				return nil, &InputError{Field: field, Reason: "keys must not be empty"}
			}
			if err := checkText(field, k+v); err != nil {
				return nil, err
			}
		}
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
		Labels:                       CloneMap(nt.Labels),
		Annotations:                  CloneMap(nt.Annotations),
	}
	if nt.DiskInMB != nil {
		d := *nt.DiskInMB
		t.DiskInMB = &d
	}
	return s.store.Create(ctx, t)
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

// List returns one page of the tasks q selects, after validating q and
// filling in its defaults.
func (s *Service) List(ctx context.Context, q ListQuery) (*Page, error) {
	q, err := q.normalize()
	if err != nil {
		return nil, err
	}
	return s.store.List(ctx, q)
}

// normalize fills in q's defaults and rejects what no store should see.
func (q ListQuery) normalize() (ListQuery, error) {
	switch {
	case q.Page < 0:
		return q, &InputError{Field: "page", Reason: "must be a positive integer"}
	case q.Page == 0:
		q.Page = 1
	}
	switch {
	case q.PerPage == 0:
		q.PerPage = DefaultPerPage
	case q.PerPage < 1 || q.PerPage > MaxPerPage:
		return q, &InputError{Field: "per_page", Reason: fmt.Sprintf("must be between 1 and %d", MaxPerPage)}
	}
	switch q.OrderBy {
	case "":
		q.OrderBy = OrderByCreatedAt
	case OrderByCreatedAt, OrderByUpdatedAt:
	default:
		return q, &InputError{Field: "order_by", Reason: "can only be: 'created_at', 'updated_at'"}
	}
	for _, st := range q.States {
		if !st.Valid() {
			return q, &InputError{Field: "states", Reason: fmt.Sprintf("unknown state %q", st)}
		}
	}
	if len(q.SequenceIDs) > 0 && len(q.AppGUIDs) != 1 {
		return q, &InputError{Field: "sequence_ids", Reason: "needs exactly one app guid"}
	}
	return q, nil
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
	if ev.index() < 0 {
		return nil, &InputError{Field: "event", Reason: fmt.Sprintf("unknown event %q", ev)}
	}
	return s.transition(ctx, guid, ev, "")
}

// TruncateFailureReason cuts reason to at most MaxFailureReasonBytes without
// splitting a UTF-8 sequence.
func TruncateFailureReason(reason string) string {
	if len(reason) <= MaxFailureReasonBytes {
		return reason
	}
	i := MaxFailureReasonBytes
	for i > 0 && !utf8.RuneStart(reason[i]) {
		i--
	}
	return reason[:i]
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
	if guid == "" {
		return nil, fmt.Errorf("%w: empty guid", ErrNotFound)
	}
	rule := &table[ev.index()]
	req := TransitionRequest{GUID: guid, Event: ev, From: rule.From, To: rule.To, FailureReason: reason}
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
			s.notify(ctx, Change{Task: res.Task, From: res.From, To: rule.To, Event: ev})
			return res.Task, nil
		}
		switch rule.Outcome(res.Task.State) {
		case NoOp:
			if lost {
				// The change is made, and perhaps by the attempt whose
				// answer was lost: announce it, or no observer ever would.
				// Its From is unknown.
				s.notify(ctx, Change{Task: res.Task, To: rule.To, Event: ev})
			}
			return res.Task, nil
		case Invalid:
			return nil, &TransitionError{GUID: guid, Event: ev, State: res.Task.State}
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

// TransitionError reports an event that is not allowed in the task's
// current state. It matches ErrInvalidTransition.
type TransitionError struct {
	GUID  string
	Event Event
	State State
}

var pastTense = [numEvents]string{"started", "canceled", "succeeded", "failed", "marked as canceled"}

// Error returns Cloud Foundry's wording, for cancel exactly:
// "Task state is FAILED and therefore cannot be canceled".
func (e *TransitionError) Error() string {
	verb := "changed by " + string(e.Event)
	if i := e.Event.index(); i >= 0 {
		verb = pastTense[i]
	}
	return fmt.Sprintf("Task state is %s and therefore cannot be %s", e.State, verb)
}

// Is makes errors.Is(err, ErrInvalidTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrInvalidTransition }

// InputError reports an argument rejected before anything was written. It
// matches ErrInvalidInput.
type InputError struct {
	Field  string
	Reason string
}

// Error names the field and what is wrong with it.
func (e *InputError) Error() string { return fmt.Sprintf("tasklife: %s %s", e.Field, e.Reason) }

// Is makes errors.Is(err, ErrInvalidInput) true.
func (e *InputError) Is(target error) bool { return target == ErrInvalidInput }
