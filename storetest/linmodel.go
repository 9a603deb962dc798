package storetest

import (
	"fmt"

	"github.com/anishathalye/porcupine"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/lifecycle"
)

// linOp is the kind of an operation in a history.
type linOp int

const (
	opGet    linOp = iota // Store.Get
	opEvent               // Service.Apply: any event, no owner
	opClaim               // Service.Claim of the one task, by owner
	opFenced              // Service.ApplyAs: an outcome event, by owner
	opRenew               // Service.Renew, by owner: is the task held?
	opExpire              // Service.Expire: did it end the task, and why?
)

func (o linOp) writes() bool { return o != opGet && o != opRenew }

// linInput is one operation as called, on one task.
type linInput struct {
	task  int
	op    linOp
	event tasklife.Event // opEvent and opFenced
	owner string         // opClaim, opFenced, opRenew
}

func (i linInput) describe() string {
	switch i.op {
	case opGet:
		return "get"
	case opEvent:
		return string(i.event)
	case opClaim:
		return "claim by " + i.owner
	case opFenced:
		return string(i.event) + " by " + i.owner
	case opRenew:
		return "renew by " + i.owner
	}
	return "expire"
}

// linOutput is what the operation returned, for its task.
type linOutput struct {
	kind    outKind
	state   tasklife.State
	version int64
	reason  string // opExpire: the failure reason it wrote
}

type outKind int

const (
	outOK       outKind = iota // returned the task (claim: claimed it; renew: held it; expire: ended it)
	outInvalid                 // *TransitionError
	outNotOwner                // ErrNotOwner
	outNone                    // claim took nothing; renew did not hold it
	outUnknown                 // may or may not have happened
)

// linResult is an output and the task it is about.
type linResult struct {
	task int
	out  linOutput
}

// linState is the model's view of one task.
type linState struct {
	state   tasklife.State
	version int64
	owner   string
}

// linStep returns the states the task may be in after in returned out,
// from s: none if out is impossible.
func linStep(s linState, in linInput, out linOutput) []linState {
	var next []linState // what the operation does, if it does anything
	switch in.op {
	case opGet, opRenew:
	case opEvent, opFenced:
		outcome, to := expect(in.event, s.state)
		fenced := in.op == opFenced && s.owner != in.owner
		switch {
		case out.kind == outUnknown:
		case outcome == lifecycle.Invalid:
			if out.kind == outInvalid && out.state == s.state {
				return []linState{s}
			}
			return nil
		case outcome == lifecycle.Apply && fenced:
			if out.kind == outNotOwner {
				return []linState{s}
			}
			return nil
		}
		if outcome == lifecycle.Apply && !fenced {
			next = append(next, linState{to, s.version + 1, s.owner})
		} else {
			next = append(next, s) // a no-op
		}
	case opClaim:
		if out.kind == outNone {
			// Not only when the task is not PENDING: a claim skips a task
			// another operation holds rather than wait for it, and that
			// one may yet be rolled back (its connection died).
			return []linState{s}
		}
		if s.state == tasklife.StatePending {
			next = append(next, linState{tasklife.StateRunning, s.version + 1, in.owner})
		}
	case opExpire:
		for _, why := range expiries(s) {
			if out.kind == outUnknown || out.reason == why {
				next = append(next, linState{tasklife.StateFailed, s.version + 1, s.owner})
			}
		}
	}
	switch {
	case out.kind == outUnknown:
		return append(next, s)
	case in.op == opGet:
		if out.kind == outOK && out.state == s.state && out.version == s.version {
			return []linState{s}
		}
	case in.op == opRenew:
		held := (s.state == tasklife.StateRunning || s.state == tasklife.StateCanceling) && s.owner == in.owner
		if out.kind == outNone || held { // a lease may run out at any moment
			return []linState{s}
		}
	case out.kind == outOK:
		for _, n := range next {
			if out.state == n.state && out.version == n.version {
				return []linState{n}
			}
		}
	}
	return nil
}

// expiries are the failure reasons with which the histories' Expire (a
// cancel deadline, no pending expiry) may end a task in s, depending on a
// time the model does not know.
func expiries(s linState) []string {
	switch s.state {
	case tasklife.StateCanceling:
		if s.owner != "" {
			return []string{tasklife.ReasonCanceled, tasklife.ReasonUnknownOutcome}
		}
		return []string{tasklife.ReasonCanceled}
	case tasklife.StateRunning:
		if s.owner != "" {
			return []string{tasklife.ReasonUnknownOutcome}
		}
	}
	return nil
}

// LinModel is the contract's lifecycle as a porcupine model over one task,
// partitioned by task: events, claims, fenced outcomes, renewals and
// expiries. Operations whose outcome is unknown may or may not have taken
// effect; an expiry or a lease running out may happen whenever the
// contract allows it.
func LinModel() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Init: func() []interface{} {
			return []interface{}{linState{state: tasklife.StatePending, version: 1}}
		},
		Step: func(st, in, out interface{}) []interface{} {
			var next []interface{}
			for _, n := range linStep(st.(linState), in.(linInput), out.(linOutput)) {
				next = append(next, n)
			}
			return next
		},
		Equal: func(a, b interface{}) bool { return a.(linState) == b.(linState) },
		DescribeOperation: func(in, out interface{}) string {
			i, o := in.(linInput), out.(linOutput)
			switch o.kind {
			case outInvalid:
				return fmt.Sprintf("task%d.%s -> invalid in %s", i.task, i.describe(), o.state)
			case outNotOwner:
				return fmt.Sprintf("task%d.%s -> not the owner", i.task, i.describe())
			case outNone:
				return fmt.Sprintf("task%d.%s -> none", i.task, i.describe())
			case outUnknown:
				return fmt.Sprintf("task%d.%s -> unknown", i.task, i.describe())
			}
			return fmt.Sprintf("task%d.%s -> %s v%d %s", i.task, i.describe(), o.state, o.version, o.reason)
		},
		DescribeState: func(st interface{}) string {
			s := st.(linState)
			return fmt.Sprintf("%s v%d owner %q", s.state, s.version, s.owner)
		},
	}
	m := nm.ToModel()
	m.Partition = func(history []porcupine.Operation) [][]porcupine.Operation {
		byTask := map[int][]porcupine.Operation{}
		var order []int
		for _, op := range history {
			k := op.Input.(linInput).task
			if _, ok := byTask[k]; !ok {
				order = append(order, k)
			}
			byTask[k] = append(byTask[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, k := range order {
			out = append(out, byTask[k])
		}
		return out
	}
	return m
}
