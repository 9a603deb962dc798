package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
)

// firstChunk is how much of a pipe's first output the watcher reads before
// it hands the pipe to a reader goroutine.
const firstChunk = 4 << 10

// firstChunks holds ready's buffers: most pipes have nothing to read.
var firstChunks = sync.Pool{New: func() any { return new([firstChunk]byte) }}

// outStream is the read end (non-blocking) of a task's stdout or stderr.
// Until the task writes to it, the watcher (fds) waits for it; a pipe that
// only ends, as most do, is closed there and needs no goroutine. Once it
// has output it is read by a goroutine of its own, through Go's poller.
type outStream struct {
	out  *outputLog
	name string // "stdout" or "stderr"
	done func() // called once the stream has ended: read to its end, or closed

	mu    sync.Mutex
	fd    int      // -1 once closed, or once file has it
	file  *os.File // once output came
	token uint64   // in fds, while watched
}

// startStream watches fd, the read end of name's pipe, and logs what comes
// through out.
func startStream(fd int, name string, out *outputLog, done func()) *outStream {
	s := &outStream{out: out, name: name, done: done, fd: fd}
	s.mu.Lock()
	defer s.mu.Unlock()
	token, err := fds.watch(fd, s.ready)
	if err != nil {
		s.readLocked(nil) // a goroutine, as without a watcher
		return s
	}
	s.token = token
	return s
}

// ready is the watcher's: the pipe is readable, or its writers are gone.
func (s *outStream) ready() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 || s.file != nil {
		return // closed first
	}
	buf := firstChunks.Get().(*[firstChunk]byte)
	defer firstChunks.Put(buf)
	n, err := readFD(s.fd, buf[:])
	switch {
	case n > 0:
		s.readLocked(bytes.Clone(buf[:n]))
	case errors.Is(err, syscall.EAGAIN):
		s.readLocked(nil) // not readable after all: read it as any other
	default: // the end, or an error: nothing more to read
		_ = syscall.Close(s.fd)
		s.fd = -1
		s.done()
	}
}

// readLocked hands the pipe to a goroutine that logs its lines, first
// those of head, until it ends or is closed.
func (s *outStream) readLocked(head []byte) {
	// os.NewFile registers a non-blocking descriptor with the poller.
	s.file, s.fd = os.NewFile(uintptr(s.fd), "|0"), -1
	var r io.Reader = s.file
	if len(head) > 0 {
		r = io.MultiReader(bytes.NewReader(head), s.file)
	}
	go func() {
		s.out.copyLines(r, s.name)
		s.done()
	}()
}

// unread returns how many bytes wait in the pipe.
func (s *outStream) unread() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.file != nil:
		rc, err := s.file.SyscallConn()
		if err != nil {
			return 0
		}
		n := 0
		_ = rc.Control(func(fd uintptr) { n = pipeUnread(int(fd)) })
		return n
	case s.fd >= 0:
		return pipeUnread(s.fd)
	}
	return 0
}

// close ends the stream whatever it still holds: a watched pipe is closed
// here, one being read is closed under its reader, which then returns.
func (s *outStream) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.file != nil:
		_ = s.file.Close()
	case s.fd >= 0:
		fds.forget(s.token)
		_ = syscall.Close(s.fd)
		s.fd = -1
		s.done()
	}
}
