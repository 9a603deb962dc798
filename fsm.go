package tasklife

import (
	"fmt"

	"github.com/looplab/fsm"
)

// Lifecycle is the task lifecycle, declared once. Everything else in the
// library (the transition table used on every call, the Mermaid diagram in
// the README, the property tests) is derived from this declaration.
//
// An event whose target is the state a task is already in is an idempotent
// no-op; looplab/fsm reports such a self-transition as NoTransitionError.
// Any other (event, state) pair not listed here is an invalid transition.
//
// Lifecycle returns a fresh copy on each call, so callers cannot change the
// declaration the library uses.
func Lifecycle() fsm.Events {
	return fsm.Events{
		{Name: string(EventStart), Src: []string{string(StatePending)}, Dst: string(StateRunning)},
		{Name: string(EventCancel), Src: []string{string(StatePending), string(StateRunning)}, Dst: string(StateCanceling)},
		{Name: string(EventSucceed), Src: []string{string(StateRunning), string(StateCanceling)}, Dst: string(StateSucceeded)},
		{Name: string(EventFail), Src: []string{string(StatePending), string(StateRunning), string(StateCanceling)}, Dst: string(StateFailed)},
		{Name: string(EventCanceled), Src: []string{string(StateCanceling)}, Dst: string(StateFailed)},
	}
}

// Outcome says what an event does to a task in a given state.
type Outcome int

const (
	// Invalid means the event is not allowed in that state.
	Invalid Outcome = iota
	// Apply means the event moves the task to the event's target state.
	Apply
	// NoOp means the task is already in the event's target state: the event
	// succeeds without writing anything.
	NoOp
)

// Rule is one event of the lifecycle in the form the hot path uses.
type Rule struct {
	Event Event
	// From lists the states the event may leave, in declaration order.
	From []State
	// To is the state the event leads to.
	To State
	// allowed is From as a bitmask over state indexes.
	allowed uint8
}

// Outcome reports what the rule's event does to a task in state s.
func (r Rule) Outcome(s State) Outcome {
	i := s.index()
	switch {
	case i < 0:
		return Invalid
	case s == r.To:
		return NoOp
	case r.allowed&(1<<i) != 0:
		return Apply
	default:
		return Invalid
	}
}

// table is the lifecycle as a lookup table indexed by event.
var table = buildTable(Lifecycle())

// buildTable derives the lookup table from a looplab declaration. It panics
// if the declaration names an unknown state or event, which a unit test
// rules out for the one declaration the library ships.
func buildTable(events fsm.Events) [numEvents]Rule {
	var t [numEvents]Rule
	for _, desc := range events {
		ev := Event(desc.Name)
		ei := ev.index()
		if ei < 0 {
			panic(fmt.Sprintf("tasklife: lifecycle declares unknown event %q", desc.Name))
		}
		to := State(desc.Dst)
		if to.index() < 0 {
			panic(fmt.Sprintf("tasklife: lifecycle declares unknown state %q", desc.Dst))
		}
		r := &t[ei]
		r.Event, r.To = ev, to
		for _, src := range desc.Src {
			s := State(src)
			si := s.index()
			if si < 0 {
				panic(fmt.Sprintf("tasklife: lifecycle declares unknown state %q", src))
			}
			r.From = append(r.From, s)
			r.allowed |= 1 << si
		}
	}
	return t
}

// RuleFor returns the rule for ev, and false if ev is not a lifecycle event.
func RuleFor(ev Event) (Rule, bool) {
	i := ev.index()
	if i < 0 {
		return Rule{}, false
	}
	r := table[i]
	// Copy From so callers cannot change the table.
	r.From = append([]State(nil), r.From...)
	return r, true
}

// Decide reports what ev does to a task in state from, and the state the
// task is in afterwards. It allocates nothing: it is the lookup every
// operation makes. An unknown event or state is Invalid.
func Decide(ev Event, from State) (Outcome, State) {
	i := ev.index()
	if i < 0 {
		return Invalid, from
	}
	r := &table[i]
	o := r.Outcome(from)
	if o == Apply {
		return o, r.To
	}
	return o, from
}

// MermaidDiagram returns the lifecycle as a Mermaid state diagram, rendered
// by looplab/fsm's visualizer from the declaration.
func MermaidDiagram() string {
	f := fsm.NewFSM(string(StatePending), Lifecycle(), nil)
	out, err := fsm.VisualizeForMermaidWithGraphType(f, fsm.StateDiagram)
	if err != nil {
		// Only an unknown diagram type makes the visualizer fail.
		panic(err)
	}
	return out
}
