package storetest

import (
	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/lifecycle"
)

// contract is the transition table of docs/contract.md section 1, written out
// independently of the library's own declaration (internal/lifecycle) so
// that the suite checks the contract, not the code: contract[event][from] is
// the target state of a write. A missing entry is a no-op when from is the
// event's target, and an invalid transition otherwise. It is the one place
// in the suite that lists states and events by hand, on purpose;
// contract_test.go ties it to the declaration.
//
// It is unexported because nothing outside the suite needs a second copy of
// the table: tests in this module ask lifecycle.Decide, and tests that need
// a task in some state use CreateIn.
var contract = map[tasklife.Event]map[tasklife.State]tasklife.State{
	tasklife.EventStart:    {tasklife.StatePending: tasklife.StateRunning},
	tasklife.EventCancel:   {tasklife.StatePending: tasklife.StateCanceling, tasklife.StateRunning: tasklife.StateCanceling},
	tasklife.EventSucceed:  {tasklife.StateRunning: tasklife.StateSucceeded, tasklife.StateCanceling: tasklife.StateSucceeded},
	tasklife.EventFail:     {tasklife.StatePending: tasklife.StateFailed, tasklife.StateRunning: tasklife.StateFailed, tasklife.StateCanceling: tasklife.StateFailed},
	tasklife.EventCanceled: {tasklife.StateCanceling: tasklife.StateFailed},
}

// contractTarget is the state every row of an event leads to.
func contractTarget(ev tasklife.Event) tasklife.State {
	for _, to := range contract[ev] {
		return to
	}
	panic("no rows for " + ev)
}

// expect returns what the contract says ev does in state from: the model
// the transition table, the property tests, the racing-events check and the
// linearizability model judge a store by.
func expect(ev tasklife.Event, from tasklife.State) (lifecycle.Outcome, tasklife.State) {
	if to, ok := contract[ev][from]; ok {
		return lifecycle.Apply, to
	}
	if contractTarget(ev) == from {
		return lifecycle.NoOp, from
	}
	return lifecycle.Invalid, from
}
