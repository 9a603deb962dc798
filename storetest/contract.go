package storetest

import (
	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/lifecycle"
)

// Contract is the transition table of CONTRACT.md section 1, written out
// independently of the library's own declaration so that the suite checks
// the contract, not the code: Contract[event][from] is the target state of
// a write. A missing entry is a no-op when from is the event's target, and
// an invalid transition otherwise.
var Contract = map[tasklife.Event]map[tasklife.State]tasklife.State{
	tasklife.EventStart:    {tasklife.StatePending: tasklife.StateRunning},
	tasklife.EventCancel:   {tasklife.StatePending: tasklife.StateCanceling, tasklife.StateRunning: tasklife.StateCanceling},
	tasklife.EventSucceed:  {tasklife.StateRunning: tasklife.StateSucceeded, tasklife.StateCanceling: tasklife.StateSucceeded},
	tasklife.EventFail:     {tasklife.StatePending: tasklife.StateFailed, tasklife.StateRunning: tasklife.StateFailed, tasklife.StateCanceling: tasklife.StateFailed},
	tasklife.EventCanceled: {tasklife.StateCanceling: tasklife.StateFailed},
}

// contractTarget is the state every row of an event leads to.
func contractTarget(ev tasklife.Event) tasklife.State {
	for _, to := range Contract[ev] {
		return to
	}
	panic("no rows for " + ev)
}

// Expect returns what the contract says ev does in state from.
func Expect(ev tasklife.Event, from tasklife.State) (lifecycle.Outcome, tasklife.State) {
	if to, ok := Contract[ev][from]; ok {
		return lifecycle.Apply, to
	}
	if contractTarget(ev) == from {
		return lifecycle.NoOp, from
	}
	return lifecycle.Invalid, from
}
