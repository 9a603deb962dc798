package tasklife

import "github.com/tasklife/tasklife/internal/lifecycle"

// State is the state of a task. The strings are Cloud Foundry's.
type State string

// The states of a task. A task starts PENDING; SUCCEEDED and FAILED are
// terminal: nothing leaves them. The lifecycle is declared once, as
// looplab/fsm event descriptions, in internal/lifecycle; these constants,
// the transition table and docs/contract.md's diagram come from it.
const (
	StatePending   State = lifecycle.Pending
	StateRunning   State = lifecycle.Running
	StateCanceling State = lifecycle.Canceling
	StateSucceeded State = lifecycle.Succeeded
	StateFailed    State = lifecycle.Failed
)

// Event is a lifecycle event.
type Event string

// The lifecycle events. An event whose target is the task's current state is
// an idempotent no-op: it succeeds without writing. Any other event the
// lifecycle does not allow fails with a *TransitionError.
const (
	// EventStart: PENDING to RUNNING.
	EventStart Event = lifecycle.Start
	// EventCancel: PENDING or RUNNING to CANCELING, the request to stop.
	EventCancel Event = lifecycle.Cancel
	// EventSucceed: RUNNING or CANCELING to SUCCEEDED.
	EventSucceed Event = lifecycle.Succeed
	// EventFail: PENDING, RUNNING or CANCELING to FAILED, with a reason.
	EventFail Event = lifecycle.Fail
	// EventCanceled: CANCELING to FAILED with ReasonCanceled, once the work
	// has stopped.
	EventCanceled Event = lifecycle.Canceled
)

// EventCreate names the creation of a task in a Change: a task comes into
// being PENDING. It is not a transition, so Apply refuses it and Events does
// not list it.
const EventCreate Event = "create"

// States lists every state in lifecycle order.
func States() []State { return typed[State](lifecycle.States()) }

// Events lists every event in declaration order.
func Events() []Event { return typed[Event](lifecycle.Events()) }

func typed[T ~string](names []string) []T {
	out := make([]T, len(names))
	for i, n := range names {
		out[i] = T(n)
	}
	return out
}

// Valid reports whether s is one of the lifecycle's states.
func (s State) Valid() bool { return lifecycle.StateIndex(string(s)) >= 0 }

// Terminal reports whether nothing leaves s: SUCCEEDED and FAILED.
func (s State) Terminal() bool { return lifecycle.Terminal(string(s)) }

// rule is an event's guard in the Store's terms, derived once from the
// declaration so that a transition allocates nothing to build it.
type rule struct {
	from []State
	to   State
}

// rules is indexed by lifecycle.EventIndex.
var rules = func() []rule {
	var out []rule
	for _, ev := range lifecycle.Events() {
		from, to, _ := lifecycle.Rule(ev)
		out = append(out, rule{from: typed[State](from), to: State(to)})
	}
	return out
}()

// ruleFor returns ev's rule, and false for an unknown event.
func ruleFor(ev Event) (*rule, bool) {
	i := lifecycle.EventIndex(string(ev))
	if i < 0 {
		return nil, false
	}
	return &rules[i], true
}

// decide reports what ev does to a task in state s.
func decide(ev Event, s State) lifecycle.Outcome {
	o, _ := lifecycle.Decide(string(ev), string(s))
	return o
}
