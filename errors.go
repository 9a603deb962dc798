package tasklife

import (
	"errors"
	"fmt"

	"github.com/tasklife/tasklife/internal/lifecycle"
)

// Errors a Store and the Service return. Match them with errors.Is.
var (
	// ErrNotFound: no task has the given GUID.
	ErrNotFound = errors.New("tasklife: task not found")
	// ErrInvalidTransition: the event is not allowed in the task's current
	// state. The error is a *TransitionError carrying both.
	ErrInvalidTransition = errors.New("tasklife: invalid transition")
	// ErrInvalidInput: an argument was rejected before anything was
	// written. The error is an *InputError naming the field.
	ErrInvalidInput = errors.New("tasklife: invalid input")
	// ErrUnavailable: the store could not be reached; nothing was
	// committed, or the outcome is unknown.
	ErrUnavailable = errors.New("tasklife: store unavailable")
)

// TransitionError reports an event that is not allowed in the task's
// current state. It matches ErrInvalidTransition.
type TransitionError struct {
	GUID  string
	Event Event
	State State
}

// Error returns Cloud Foundry's wording, for cancel exactly:
// "Task state is FAILED and therefore cannot be canceled".
func (e *TransitionError) Error() string {
	return fmt.Sprintf("Task state is %s and therefore cannot be %s", e.State, lifecycle.PastTense(string(e.Event)))
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
