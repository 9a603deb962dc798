package main

import (
	"context"
	"errors"
	"os"
	"syscall"
)

// gateScript is the task's shell's start gate: the command runs only once
// the shell has read a line on descriptor 3, and the shell exits 125 if the
// pipe ends first. The command then runs in that same shell, as `sh -c`
// would run it: no positional parameters, none of the gate's variables, $0
// the shell, and $$ the process group id. (It used to exec a second shell:
// one more program started per task, a third of taskd's cost per task.)
const gateScript = `read -r _taskd_go <&3 || exit 125; exec 3<&-; unset _taskd_go; _taskd_cmd=$1; shift; eval "unset _taskd_cmd; $_taskd_cmd"`

// gateLine lets the command run: one byte, which either the shell or a
// cancel reads, never a part of it each.
var gateLine = []byte{'\n'}

// gate is taskd's side of a task's start gate: a task cancelled before its
// shell passed the gate never runs its command.
//
// Unless held, the line is in the pipe before the fork, so the shell never
// waits at its gate for taskd to run again after the fork: under load half
// the shells did, a sleep and a wakeup of about 30 µs of CPU each. A cancel
// then takes the line back the moment it comes (in its own goroutine,
// context.AfterFunc), unless the shell has read it: one that comes before
// the shell reads it, even during the fork or before it, still keeps the
// command from running. A held gate gets its line from pass: for taskd to
// record the process group before anything of the task runs (see
// stateDir), while Pdeathsig alone can kill it.
type gate struct {
	fd   int // taskd's end, -1 once closed: the write end if held, else the read end
	held bool
	// stop ends the cancel's claim on the line (nil once settled);
	// taken has its result once it ran, took once settled.
	stop  func() bool
	taken chan bool
	took  bool
}

// newGate makes a task's gate and returns the end its shell reads (its
// descriptor 3), which taskd closes after the fork only if held: otherwise
// it is g.fd.
func newGate(ctx context.Context, held bool) (g *gate, shellEnd int, err error) {
	r, w, err := taskPipe(false)
	if err != nil {
		return nil, -1, err
	}
	if held {
		return &gate{fd: w, held: true}, r, nil
	}
	// The pipe holds the line, and then its end: reading it back never
	// blocks.
	err = writeAll(w, gateLine)
	_ = syscall.Close(w)
	if err != nil {
		_ = syscall.Close(r)
		return nil, -1, os.NewSyscallError("write", err)
	}
	g = &gate{fd: r, taken: make(chan bool, 1)}
	g.stop = context.AfterFunc(ctx, func() { g.taken <- takeLine(r) })
	return g, r, nil
}

// pass lets the command run unless the task was cancelled (ctx) before its
// shell passed the gate, and reports whether the command runs; in either
// case taskd is done with the gate. A command that runs may still be
// cancelled afterwards: its work stops it.
func (g *gate) pass(ctx context.Context) bool {
	defer g.close()
	if !g.held {
		return !g.settle()
	}
	if ctx.Err() != nil {
		return false // closed without its line: the shell exits 125
	}
	_ = writeAll(g.fd, gateLine) // EPIPE: the shell is gone
	return true
}

// settle ends a cancel's claim on the line from now on (waiting for one
// under way) and reports whether a cancel took it.
func (g *gate) settle() bool {
	if g.stop != nil {
		if !g.stop() {
			g.took = <-g.taken
		}
		g.stop = nil
	}
	return g.took
}

// close closes taskd's end of the gate, once: only the work's goroutine
// calls it (pass, finish, a failed start). A held gate closed without its
// line stops the shell.
func (g *gate) close() {
	g.settle()
	if g.fd >= 0 {
		_ = syscall.Close(g.fd)
		g.fd = -1
	}
}

// takeLine reads the gate's line from fd, the read end of a pipe whose
// write end is closed, and reports whether it was still there.
func takeLine(fd int) bool {
	var b [1]byte
	n, _ := readFD(fd, b[:])
	return n == 1
}

// readFD reads from fd once, again if a signal interrupts it.
func readFD(fd int, b []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, b)
		if !errors.Is(err, syscall.EINTR) {
			return n, err
		}
	}
}

// writeAll writes b to fd, a pipe with room for it.
func writeAll(fd int, b []byte) error {
	for {
		_, err := syscall.Write(fd, b)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
