// Package lifecycle holds the task lifecycle's one declaration: the names of
// the states and events, and which event leads where, as looplab/fsm event
// descriptions. Everything else (the root package's typed constants, the
// lookup table every transition uses, which states are terminal, the
// idempotent no-ops, Cloud Controller's error wording, the diagram) is
// derived from it here.
//
// The package is internal so that hosts see only the root package's typed
// vocabulary; the stores, the conformance suite and the benchmarks use the
// table directly.
package lifecycle

import (
	"fmt"

	"github.com/looplab/fsm"
)

// The states, named as Cloud Foundry names them.
const (
	Pending   = "PENDING"
	Running   = "RUNNING"
	Canceling = "CANCELING"
	Succeeded = "SUCCEEDED"
	Failed    = "FAILED"
)

// The events.
const (
	Start    = "start"
	Cancel   = "cancel"
	Succeed  = "succeed"
	Fail     = "fail"
	Canceled = "canceled"
)

// states is every state in lifecycle order: the order of lists, of the SQL
// CHECK constraint, of the OpenAPI enum and of Cloud Controller's "States
// can only be" message. A new task starts in the first.
var states = [...]string{Pending, Running, Canceling, Succeeded, Failed}

// event is one event of the declaration and the verb Cloud Controller's
// refusal uses for it.
type event struct {
	desc fsm.EventDesc
	// pastTense ends "Task state is S and therefore cannot be ...".
	pastTense string
}

// declaration is the lifecycle. A source equal to the destination declares
// an idempotent no-op (looplab/fsm answers NoTransitionError for it): the
// event succeeds without writing anything, so that executors and HTTP
// clients may retry. Every (event, state) pair not listed is invalid.
var declaration = [...]event{
	{fsm.EventDesc{Name: Start, Src: []string{Pending, Running}, Dst: Running}, "started"},
	{fsm.EventDesc{Name: Cancel, Src: []string{Pending, Running, Canceling}, Dst: Canceling}, "canceled"},
	{fsm.EventDesc{Name: Succeed, Src: []string{Running, Canceling, Succeeded}, Dst: Succeeded}, "succeeded"},
	{fsm.EventDesc{Name: Fail, Src: []string{Pending, Running, Canceling, Failed}, Dst: Failed}, "failed"},
	{fsm.EventDesc{Name: Canceled, Src: []string{Canceling, Failed}, Dst: Failed}, "marked as canceled"},
}

// Outcome says what an event does to a task in a given state.
type Outcome uint8

const (
	// Invalid: the event is not allowed in that state.
	Invalid Outcome = iota
	// Apply: the event moves the task to the event's destination.
	Apply
	// NoOp: the task is already where the event leads; nothing is written.
	NoOp
)

// String names the outcome, for test messages.
func (o Outcome) String() string {
	switch o {
	case Apply:
		return "apply"
	case NoOp:
		return "no-op"
	}
	return "invalid"
}

// rule is one event in the form the hot path uses.
type rule struct {
	name, to, pastTense string
	// from lists the states the event moves out of (its sources without
	// the no-op), in declaration order.
	from []string
	// applies and noop are bitmasks over state indexes.
	applies, noop uint8
}

var table = build(declaration[:])

// build derives the lookup table. It panics on a name the declaration does
// not know, which the package's tests rule out for the one it ships.
func build(decl []event) []rule {
	t := make([]rule, len(decl))
	for i, e := range decl {
		r := &t[i]
		r.name, r.to, r.pastTense = e.desc.Name, e.desc.Dst, e.pastTense
		if StateIndex(r.to) < 0 {
			panic(fmt.Sprintf("lifecycle: event %q leads to unknown state %q", r.name, r.to))
		}
		for _, src := range e.desc.Src {
			si := StateIndex(src)
			switch {
			case si < 0:
				panic(fmt.Sprintf("lifecycle: event %q leaves unknown state %q", r.name, src))
			case src == r.to:
				r.noop |= 1 << si
			default:
				r.applies |= 1 << si
				r.from = append(r.from, src)
			}
		}
	}
	return t
}

// States returns every state in lifecycle order.
func States() []string { return append([]string(nil), states[:]...) }

// Events returns every event in declaration order.
func Events() []string {
	out := make([]string, len(table))
	for i := range table {
		out[i] = table[i].name
	}
	return out
}

// StateIndex returns s's position in States, or -1.
func StateIndex(s string) int {
	for i := range states {
		if states[i] == s {
			return i
		}
	}
	return -1
}

// EventIndex returns e's position in Events, or -1.
func EventIndex(e string) int {
	for i := range table {
		if table[i].name == e {
			return i
		}
	}
	return -1
}

// Decide reports what ev does to a task in state s, and the state the task
// is in afterwards. It allocates nothing. An unknown event or state is
// Invalid.
func Decide(ev, s string) (Outcome, string) {
	ei, si := EventIndex(ev), StateIndex(s)
	if ei < 0 || si < 0 {
		return Invalid, s
	}
	r := &table[ei]
	switch {
	case r.applies&(1<<si) != 0:
		return Apply, r.to
	case r.noop&(1<<si) != 0:
		return NoOp, s
	}
	return Invalid, s
}

// Rule returns the states ev moves out of (not its no-op) and the state it
// leads to, and false for an unknown event. from is a fresh copy.
func Rule(ev string) (from []string, to string, ok bool) {
	i := EventIndex(ev)
	if i < 0 {
		return nil, "", false
	}
	r := &table[i]
	return append([]string(nil), r.from...), r.to, true
}

// Terminal reports whether no event leads out of s: SUCCEEDED and FAILED.
func Terminal(s string) bool {
	si := StateIndex(s)
	if si < 0 {
		return false
	}
	for i := range table {
		if table[i].applies&(1<<si) != 0 {
			return false
		}
	}
	return true
}

// PastTense returns the verb Cloud Controller's refusal uses for ev, as in
// "Task state is FAILED and therefore cannot be canceled".
func PastTense(ev string) string {
	if i := EventIndex(ev); i >= 0 {
		return table[i].pastTense
	}
	return "changed by " + ev
}

// PathTo returns the shortest list of events that takes a new task to s,
// and nil for the first state or an unreachable one. Tests use it to put a
// task in any state.
func PathTo(s string) []string {
	type step struct {
		state string
		path  []string
	}
	seen := map[string]bool{states[0]: true}
	queue := []step{{state: states[0]}}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur.state == s {
			return cur.path
		}
		for _, r := range table {
			if o, to := Decide(r.name, cur.state); o == Apply && !seen[to] {
				seen[to] = true
				queue = append(queue, step{to, append(append([]string(nil), cur.path...), r.name)})
			}
		}
	}
	return nil
}

// Declaration returns the lifecycle as looplab/fsm event descriptions, a
// fresh copy on each call.
func Declaration() fsm.Events {
	out := make(fsm.Events, len(declaration))
	for i, e := range declaration {
		out[i] = fsm.EventDesc{Name: e.desc.Name, Src: append([]string(nil), e.desc.Src...), Dst: e.desc.Dst}
	}
	return out
}

// Mermaid returns the lifecycle's transitions as a Mermaid state diagram,
// rendered by looplab/fsm's visualizer from the declaration. The no-ops are
// left out: a loop on every state an event leads to says nothing a reader
// needs drawn.
func Mermaid() string {
	var moves fsm.Events
	for _, e := range Declaration() {
		from, _, _ := Rule(e.Name)
		moves = append(moves, fsm.EventDesc{Name: e.Name, Src: from, Dst: e.Dst})
	}
	f := fsm.NewFSM(states[0], moves, nil)
	out, err := fsm.VisualizeForMermaidWithGraphType(f, fsm.StateDiagram)
	if err != nil {
		// Only an unknown diagram type makes the visualizer fail.
		panic(err)
	}
	return out
}
