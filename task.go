package tasklife

import (
	"fmt"
	"maps"
	"time"
	"unicode/utf8"
)

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
	// Owner is the runner that claimed the task (see Service.Claim); empty
	// if none did. It stays once the task has ended.
	Owner string
	// LeaseExpiresAt is when the owner's claim runs out unless renewed;
	// zero when no lease covers the task (not claimed, or ended).
	LeaseExpiresAt time.Time
}

// Clone returns a deep copy of t. Empty maps come back nil.
func (t *Task) Clone() *Task {
	c := *t
	c.Labels = cloneMap(t.Labels)
	c.Annotations = cloneMap(t.Annotations)
	if t.DiskInMB != nil {
		d := *t.DiskInMB
		c.DiskInMB = &d
	}
	return &c
}

// cloneMap copies m; it returns nil for an empty map.
func cloneMap(m map[string]string) map[string]string {
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
	// Actor, when set, is who asks: the store records an AuditTaskCreate
	// event with the task, and observers see the actor in the Change.
	Actor *Actor
	// IdempotencyKey, when set, makes the create idempotent: the store
	// records the key with the new task in the same operation, and a
	// repeat with the key answers with that task, as it was created,
	// instead of creating another (see Service.CancelKeyed for the rules).
	IdempotencyKey *IdempotencyKey
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

// TruncateFailureReason cuts reason to at most MaxFailureReasonBytes without
// splitting a UTF-8 sequence, as Fail does before it stores a reason.
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
