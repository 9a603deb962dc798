package storetest

import (
	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/lifecycle"
)

// Request returns the TransitionRequest the Service sends a store for ev on
// the task guid, for tests that call Store.Transition directly. reason is
// the failure reason the request carries (the Service sends one for fail
// and canceled, and none otherwise). It panics on an unknown event.
func Request(guid string, ev tasklife.Event, reason string) tasklife.TransitionRequest {
	from, to, ok := lifecycle.Rule(string(ev))
	if !ok {
		panic("storetest: unknown event " + string(ev))
	}
	req := tasklife.TransitionRequest{GUID: guid, Event: ev, To: tasklife.State(to), FailureReason: reason}
	for _, s := range from {
		req.From = append(req.From, tasklife.State(s))
	}
	return req
}
