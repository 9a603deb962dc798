package runner

import (
	"errors"
	"fmt"
)

// Why a task's work has its context cancelled, as context.Cause reports it.
var (
	// ErrCanceled: someone cancelled the task (it is CANCELING).
	ErrCanceled = errors.New("runner: the task was cancelled")
	// ErrShutdown: the runner is stopping; it records the task canceled.
	ErrShutdown = errors.New("runner: the runner is stopping")
	// ErrTaskEnded: the task was ended by someone else (it is SUCCEEDED or
	// FAILED already), so the work's outcome will not be recorded.
	ErrTaskEnded = errors.New("runner: the task was ended elsewhere")
)

// Failure returns an error whose text is reason, the failure reason a Work
// returns to choose the task's failure_reason exactly (for instance Cloud
// Foundry's "Exited with status 3") while keeping cause, which the runner
// logs, for errors.Is and errors.As. cause may be nil.
func Failure(reason string, cause error) error {
	return &failure{reason: reason, cause: cause}
}

type failure struct {
	reason string
	cause  error
}

func (f *failure) Error() string { return f.reason }
func (f *failure) Unwrap() error { return f.cause }

// reasonOf is the failure reason for a Work's error.
func reasonOf(err error) string {
	var f *failure
	if errors.As(err, &f) {
		return f.reason
	}
	if s := err.Error(); s != "" {
		return s
	}
	return fmt.Sprintf("work failed: %T", err)
}
