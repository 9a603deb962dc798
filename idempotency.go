package tasklife

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultIdempotencyTTL is how long an idempotency key is kept: a day, as
// Stripe keeps its keys. A key older than that is as if it had never been
// used.
const DefaultIdempotencyTTL = 24 * time.Hour

// MaxIdempotencyKeyBytes bounds a key, as it bounds what a store keeps per
// key (Stripe's limit).
const MaxIdempotencyKeyBytes = 255

// Errors of idempotent creates and cancels. Match them with errors.Is.
var (
	// ErrIdempotencyKeyReused: the key was first used for another request
	// (another fingerprint). Nothing was changed.
	ErrIdempotencyKeyReused = errors.New("tasklife: idempotency key was used for another request")
	// ErrIdempotencyKeyExists is what a Store returns when the key it was
	// asked to record is already recorded: it changed nothing, and the
	// Service answers with the recorded result instead.
	ErrIdempotencyKeyExists = errors.New("tasklife: idempotency key already recorded")
)

// IdempotencyKey is a client's key for one create or cancel (the
// Idempotency-Key header), scoped by the caller who sent it: keys of
// different callers never meet.
type IdempotencyKey struct {
	// Caller identifies who sent the key; the host decides how.
	Caller string
	// Key is the client's key, 1 to MaxIdempotencyKeyBytes bytes.
	Key string
	// Fingerprint identifies the request, so that the key's reuse for
	// another request is refused (ErrIdempotencyKeyReused).
	Fingerprint string
}

// IdempotencyRecord is what a store keeps with a key: the task as the
// first request's operation left it, from which the first response was
// rendered and every repeat's is.
type IdempotencyRecord struct {
	IdempotencyKey
	// Task is the task as written by the operation (or, for a cancel that
	// changed nothing, as it was then). Owner and LeaseExpiresAt are not
	// kept: no response shows them.
	Task *Task
	// CreatedAt is when the key was recorded, by the store's clock.
	CreatedAt time.Time
}

func (k *IdempotencyKey) check() error {
	if k.Key == "" || len(k.Key) > MaxIdempotencyKeyBytes {
		return &InputError{Field: "idempotency_key", Reason: fmt.Sprintf("must be 1 to %d bytes", MaxIdempotencyKeyBytes)}
	}
	if err := checkText("idempotency_key", k.Key); err != nil {
		return err
	}
	if err := checkText("idempotency_caller", k.Caller); err != nil {
		return err
	}
	return checkText("idempotency_fingerprint", k.Fingerprint)
}

// WithIdempotencyTTL sets how long idempotency keys are kept; the default
// is DefaultIdempotencyTTL.
func WithIdempotencyTTL(d time.Duration) Option {
	return func(s *Service) { s.keyTTL = d }
}

// keyAttempts bounds how often a keyed operation starts over after the
// store found its key recorded but the record then was gone: expired (the
// lookup removes it) or never committed. Each needs a concurrent request
// with the same key.
const keyAttempts = 4

// recorded returns the task recorded with k, if a live record holds it:
// ok=false when there is none, ErrIdempotencyKeyReused when it is for
// another request.
func (s *Service) recorded(ctx context.Context, k *IdempotencyKey) (*Task, bool, error) {
	rec, err := s.store.IdempotencyRecord(ctx, k.Caller, k.Key, time.Now().Add(-s.keyTTL))
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if rec.Fingerprint != k.Fingerprint {
		return nil, false, ErrIdempotencyKeyReused
	}
	return rec.Task, true, nil
}

// createKeyed stores t with key in one store operation; a key already
// recorded answers with its task instead.
func (s *Service) createKeyed(ctx context.Context, t *Task, audit *AuditEvent, key *IdempotencyKey) (*Task, bool, error) {
	for range keyAttempts {
		created, err := s.store.CreateWithKey(ctx, t, audit, key)
		if !errors.Is(err, ErrIdempotencyKeyExists) {
			return created, false, err
		}
		if first, ok, err := s.recorded(ctx, key); ok || err != nil {
			return first, ok, err
		}
	}
	return nil, false, fmt.Errorf("tasklife: idempotency key %q kept changing under create", key.Key)
}

// CancelKeyed is CancelBy with the client's idempotency key: the first
// cancel with key records the task it answers with, in the same store
// operation as the change (also when the task was already CANCELING and
// nothing changed), and every repeat within the key's TTL answers with
// that task, even after the task has ended. The key's reuse for another
// request fails with ErrIdempotencyKeyReused. A cancel that fails records
// nothing: a repeat is judged afresh.
func (s *Service) CancelKeyed(ctx context.Context, guid string, by Actor, reason string, key IdempotencyKey) (*Task, error) {
	if err := checkActor(by, reason); err != nil {
		return nil, err
	}
	if err := key.check(); err != nil {
		return nil, err
	}
	audit := &AuditEvent{Type: AuditTaskCancel, Actor: by, Reason: reason}
	for range keyAttempts {
		t, err := s.stepKeyed(ctx, guid, EventCancel, "", "", audit, &key)
		// A cancel refused because the task has ended may be the repeat
		// of one that took effect: its answer is recorded.
		if !errors.Is(err, ErrIdempotencyKeyExists) && !errors.Is(err, ErrInvalidTransition) {
			return t, err
		}
		first, ok, rerr := s.recorded(ctx, &key)
		switch {
		case rerr != nil:
			return nil, rerr
		case ok:
			return first, nil
		case errors.Is(err, ErrInvalidTransition):
			return nil, err
		}
	}
	return nil, fmt.Errorf("tasklife: idempotency key %q kept changing under cancel of %s", key.Key, guid)
}

// purgeBatch is how many keys one Store.DeleteIdempotencyKeys call
// deletes, for the reason deleteBatch is what it is.
const purgeBatch = 1000

// DeleteExpiredKeys deletes the idempotency keys recorded before now minus
// the TTL, in batches, and returns how many it deleted: what a host runs
// periodically, with DeleteEnded. Expired keys are ignored whether or not
// they were deleted.
func (s *Service) DeleteExpiredKeys(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n, err := s.store.DeleteIdempotencyKeys(ctx, now.Add(-s.keyTTL), purgeBatch)
		total += n
		if err != nil || n < purgeBatch {
			return total, err
		}
	}
}
