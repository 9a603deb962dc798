package runner

import (
	"errors"
	"fmt"
	"strings"
)

// Why a task's work has its context cancelled, as context.Cause reports it.
var (
	// ErrCanceled: someone cancelled the task (it is CANCELING).
	ErrCanceled = errors.New("runner: the task was cancelled")
	// ErrShutdown: the runner is stopping; it records the task canceled.
	ErrShutdown = errors.New("runner: the runner is stopping")
	// ErrTaskEnded: the task was ended by someone else (it is SUCCEEDED or
	// FAILED already: its lease or its cancel deadline ran out, say), so
	// the work's outcome will not be recorded.
	ErrTaskEnded = errors.New("runner: the task was ended elsewhere")
	// ErrTimedOut: the work ran longer than its maximum run time (see
	// Config.MaxRunTime); the runner records the task FAILED with
	// tasklife.ReasonTimedOut.
	ErrTimedOut = errors.New("runner: the task ran longer than its maximum run time")
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

// Completed marks err (nil for success) as a result the work had reached
// before its context was cancelled, so that the runner records it rather
// than canceled. taskd returns it for a process that exited by itself just
// before the cancel reached it: its exit status is the truth. A cancel
// that reached the work first makes its result canceled whatever it
// returns, as the contract says.
func Completed(err error) error { return &completed{err: err} }

type completed struct{ err error }

func (c *completed) Error() string {
	if c.err == nil {
		return "completed"
	}
	return c.err.Error()
}
func (c *completed) Unwrap() error { return c.err }

// unmark reports whether a Work's result has Completed's mark, and returns
// it without the mark.
func unmark(err error) (bool, error) {
	var c *completed
	if errors.As(err, &c) {
		return true, c.err
	}
	return false, err
}

// reasonUnstorable is the failure reason of a task whose own reason the
// store refused.
const reasonUnstorable = "work failed; its reason could not be stored"

// reasonOf is the failure reason for a Work's error, made storable: valid
// UTF-8 without NUL bytes (what PostgreSQL's text refuses), never empty.
func reasonOf(err error) string {
	s := err.Error()
	var f *failure
	if errors.As(err, &f) {
		s = f.reason
	}
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if strings.TrimSpace(s) == "" {
		return fmt.Sprintf("work failed: %T", err)
	}
	return s
}
