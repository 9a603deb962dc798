package tasklife

import (
	"context"
	"time"
)

// Store persists tasks. The Service is the only caller a host needs; a Store
// is what a host implements to keep tasks somewhere new. memstore and pgstore
// are the stores this module ships, and storetest.Run is the conformance
// suite every Store must pass.
//
// Error contract, for every method:
//   - A task that does not exist: an error matching ErrNotFound, and nothing
//     else happens.
//   - The store cannot be reached (connection refused or lost, server
//     restarting): an error matching ErrUnavailable. It must mean that nothing
//     was committed, or that the outcome is unknown; never a false success.
//   - A context that is done before the store commits: the context's error,
//     and nothing is committed.
//   - Every other error is a system fault, passed through to the caller.
//
// Stores never alias caller memory: maps are copied in and out, and the
// *Task a method returns belongs to the caller.
type Store interface {
	// Create stores a new task built from t and returns it. The store
	// assigns GUID (a UUID v4), SequenceID (the next one for t.AppGUID,
	// starting at 1, unique and gap-free per app, assigned atomically),
	// CreatedAt and UpdatedAt (equal), State (PENDING), Version (1) and an
	// empty FailureReason. It keeps every other field of t as given. When
	// audit is not nil, the store records audit.For(created, a new UUID v4)
	// in the same atomic operation: both are committed, or neither.
	Create(ctx context.Context, t *Task, audit *AuditEvent) (*Task, error)

	// Get returns the task with the given GUID.
	Get(ctx context.Context, guid string) (*Task, error)

	// List returns the tasks that match q, one page of them, and how many
	// match in all. q has passed ListQuery.Normalize: Page and PerPage
	// are at least 1 and OrderBy is set.
	List(ctx context.Context, q ListQuery) (*Page, error)

	// Transition applies one lifecycle step as ONE guarded operation: if and
	// only if the task's current state is one of req.From, it sets State to
	// req.To, FailureReason to req.FailureReason, UpdatedAt to the current
	// time (always later than the previous UpdatedAt, by at least a
	// microsecond if the clock has not moved on) and increments
	// Version by one, all atomically with the check. A step to a terminal
	// state also ends the task's lease (LeaseExpiresAt becomes zero; Owner
	// stays, to say who ran it), and the store notes when a task enters
	// CANCELING, for Expire's cancel deadline. It then returns the task as
	// written and Applied=true.
	//
	// If the state is not one of req.From, the store writes nothing and
	// returns the task with Applied=false: as it is now, or as it was at
	// some moment during the call (a statement's snapshot, say). Either is
	// linearizable. A snapshot from before a concurrent writer committed
	// may show a state that allows the event; the Service then asks again,
	// so a store need not lock the row to read the winner's write.
	Transition(ctx context.Context, req TransitionRequest) (TransitionResult, error)

	// Claim takes PENDING tasks for req.Owner to run: up to req.Limit of
	// them, oldest first (by CreatedAt, ties in creation order), or only
	// among req.GUIDs when that is set. Each claimed task moves to RUNNING
	// as one guarded step, exactly as Transition applies EventStart, and
	// also gets Owner req.Owner and a lease until the store's now plus
	// req.Lease. Concurrent claims, from any number of processes, never
	// take the same task; a claim skips a task that another operation (a
	// claim, a write) holds rather than wait for it, so it may take fewer
	// than req.Limit while more are PENDING. It returns the claimed tasks
	// as written, oldest first: none when nothing is PENDING.
	Claim(ctx context.Context, req ClaimRequest) ([]*Task, error)

	// Renew extends to the store's now plus lease the lease of every
	// RUNNING or CANCELING task whose Owner is owner and whose lease has
	// not run out, in one operation, and returns their GUIDs. A renewal is
	// not a change: Version and UpdatedAt stay as they are.
	Renew(ctx context.Context, owner string, lease time.Duration) ([]string, error)

	// Expire ends up to req.Limit tasks whose time has run out, each by
	// one guarded step as Transition makes it, and returns the changes it
	// committed. In order of precedence:
	//   - CANCELING for longer than req.CancelDeadline (when it is
	//     positive): EventCanceled, FAILED with ReasonCanceled;
	//   - RUNNING or CANCELING with a lease that has run out: EventFail,
	//     FAILED with ReasonUnknownOutcome;
	//   - PENDING for longer than req.PendingExpiry since it was created
	//     (when it is positive): EventFail, FAILED with ReasonExpired.
	// A task with no lease (started by Transition rather than claimed)
	// never expires by lease. Expire must cost little when nothing has run
	// out: an index, not a scan of every task.
	Expire(ctx context.Context, req ExpireRequest) ([]Change, error)

	// UpdateMetadata applies patch (see MetadataPatch.Apply) to the task's
	// labels and annotations as ONE guarded operation, like Transition: the
	// read of the current maps and the write are atomic, so concurrent
	// patches and transitions on one task lose nothing. When the patch
	// changes something it moves UpdatedAt (as Transition does) and
	// increments Version; when it changes nothing it writes nothing. It
	// returns the task as it is after the call. The patch has passed the
	// Service's checks.
	UpdateMetadata(ctx context.Context, guid string, patch MetadataPatch) (*Task, error)

	// AuditEvents returns the audit events q selects, one page of them,
	// ordered by CreatedAt (ties in the order they were recorded), and how
	// many match in all. q has passed AuditQuery.Normalize.
	AuditEvents(ctx context.Context, q AuditQuery) (*AuditPage, error)

	// DeleteEnded deletes up to limit SUCCEEDED and FAILED tasks whose
	// UpdatedAt (when they ended) is before before, oldest first, and
	// returns how many it deleted. A deleted task is not found afterwards;
	// the sequence ids of its app are never handed out again. One call is
	// one bounded step: it must not hold other writers for longer than its
	// limit of deletions takes.
	DeleteEnded(ctx context.Context, before time.Time, limit int) (int, error)

	// CreateWithKey is Create that also records key with the created task
	// (an IdempotencyRecord whose Task is the task as returned, CreatedAt
	// the store's now) in the same atomic operation. If a record for
	// key.Caller and key.Key exists, whatever its age, it creates nothing
	// and returns an error matching ErrIdempotencyKeyExists; of concurrent
	// calls with one key, at most one succeeds.
	CreateWithKey(ctx context.Context, t *Task, audit *AuditEvent, key *IdempotencyKey) (*Task, error)

	// IdempotencyRecord returns the record of the caller's key, or an error
	// matching ErrNotFound if there is none or it was recorded before
	// notBefore. An expired record it finds, it deletes, so that the key
	// can be recorded again.
	IdempotencyRecord(ctx context.Context, caller, key string, notBefore time.Time) (*IdempotencyRecord, error)

	// DeleteIdempotencyKeys deletes up to limit records made before
	// before, oldest first, and returns how many it deleted: one bounded
	// step, as DeleteEnded is.
	DeleteIdempotencyKeys(ctx context.Context, before time.Time, limit int) (int, error)
}

// TransitionRequest is one guarded step for Store.Transition.
type TransitionRequest struct {
	GUID  string
	Event Event
	// From is the set of states the event may leave; never empty.
	From []State
	// To is the state to write.
	To State
	// FailureReason is written with the state: non-empty exactly when To is
	// FAILED, already truncated to MaxFailureReasonBytes.
	FailureReason string
	// Owner, when set, fences the step: the guard holds only if the task's
	// Owner is Owner too (see Claim), so an owner that lost a task can no
	// longer write it. A refused step returns the task, Applied=false.
	Owner string
	// Audit, when set, is recorded as Audit.For(the task as written, a new
	// UUID v4) in the same atomic operation as the step, and only if the
	// step is applied.
	Audit *AuditEvent
	// Idempotency, when set, is recorded in the same atomic operation as
	// the step, with the task as written, if the step is applied; and also
	// if the guard refused it because the task is already in To (with
	// Owner, if set, its owner): the idempotent no-op, whose answer is the
	// task as it is. If a record for its Caller and Key exists, whatever
	// its age, the store changes and records nothing and returns an error
	// matching ErrIdempotencyKeyExists.
	Idempotency *IdempotencyKey
}

// TransitionResult is what Store.Transition reports.
type TransitionResult struct {
	// Task is the task after the operation: as written when Applied, as it
	// currently is otherwise.
	Task *Task
	// From is the state the write left; meaningful only when Applied.
	From State
	// Applied reports whether the guard held and the write happened.
	Applied bool
}
