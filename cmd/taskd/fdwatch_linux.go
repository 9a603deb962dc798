package main

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// fdWatcher waits, in one goroutine for all of taskd's tasks, until a
// task's descriptors are readable or hung up: its output pipes and its
// group leader's pidfd. Each of those used to have a goroutine of its own,
// parked in Go's poller for the task's whole life, so a task whose command
// writes nothing (most of them) paid three goroutines, three registrations
// with the poller and three finalizers only to learn that they had ended:
// a tenth of taskd's CPU per task. A descriptor is watched once
// (EPOLLONESHOT): its ready func then says what comes next, such as a
// reader goroutine for a pipe that has output (outStream).
//
// The watcher's goroutine runs while something is watched: it waits on an
// epoll instance of its own, itself in Go's poller.
type fdWatcher struct {
	once sync.Once
	err  error
	epfd int
	poll syscall.RawConn // epfd, in Go's poller
	wake int             // an eventfd: wakes the loop once nothing is watched

	mu      sync.Mutex
	next    uint64
	watched map[uint64]func() // by token
	running bool
}

// fds is taskd's watcher.
var fds fdWatcher

// wakeToken is the eventfd's token; a descriptor's tokens start at 1.
const wakeToken = 0

func (w *fdWatcher) init() error {
	w.once.Do(func() {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			w.err = os.NewSyscallError("epoll_create1", err)
			return
		}
		wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err == nil {
			err = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN})
		}
		if err == nil {
			// The poller takes only a non-blocking descriptor.
			err = unix.SetNonblock(epfd, true)
		}
		var rc syscall.RawConn
		if err == nil {
			rc, err = os.NewFile(uintptr(epfd), "epoll").SyscallConn()
		}
		if err != nil {
			w.err = err
			return
		}
		w.epfd, w.wake, w.poll = epfd, wake, rc
		w.next, w.watched = wakeToken+1, make(map[uint64]func())
	})
	return w.err
}

// watch calls ready, once, from the watcher's goroutine, when fd is
// readable or hung up, unless forget(token) comes first. ready must not
// block. Which of ready and the caller's own close of fd acts is for the
// caller to settle (under a lock of its own): an event taken just before
// forget may still call ready.
func (w *fdWatcher) watch(fd int, ready func()) (token uint64, err error) {
	if err := w.init(); err != nil {
		return 0, err
	}
	w.mu.Lock()
	token = w.next
	w.next++
	w.watched[token] = ready
	if !w.running {
		w.running = true
		go w.loop()
	}
	w.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(uint32(token)), Pad: int32(uint32(token >> 32))}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		w.forget(token)
		return 0, os.NewSyscallError("epoll_ctl", err)
	}
	return token, nil
}

// forget stops watching token, whose descriptor is about to be closed.
func (w *fdWatcher) forget(token uint64) {
	w.mu.Lock()
	delete(w.watched, token)
	idle := len(w.watched) == 0 && w.running
	w.mu.Unlock()
	if idle {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(w.wake, one[:])
	}
}

// loop calls the ready funcs of the descriptors whose events come, until
// nothing is watched.
func (w *fdWatcher) loop() {
	events := make([]unix.EpollEvent, 32)
	var ready []func()
	for {
		n := 0
		err := w.poll.Read(func(uintptr) bool {
			var err error
			n, err = unix.EpollWait(w.epfd, events, 0)
			for errors.Is(err, unix.EINTR) {
				n, err = unix.EpollWait(w.epfd, events, 0)
			}
			if err != nil {
				n = 0
			}
			return n > 0
		})
		w.mu.Lock()
		for _, ev := range events[:n] {
			token := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if token == wakeToken {
				var b [8]byte
				_, _ = unix.Read(w.wake, b[:])
				continue
			}
			if f, ok := w.watched[token]; ok {
				delete(w.watched, token)
				ready = append(ready, f)
			}
		}
		if err != nil {
			// The poller gave up on epfd (never seen): every ready
			// func is called, and each falls back to a goroutine of
			// its own (a pipe's read finds nothing yet, a leader has
			// not exited).
			for token, f := range w.watched {
				delete(w.watched, token)
				ready = append(ready, f)
			}
		}
		stop := len(w.watched) == 0
		if stop {
			w.running = false
		}
		w.mu.Unlock()
		for i, f := range ready {
			f()
			ready[i] = nil
		}
		ready = ready[:0]
		if stop {
			return
		}
	}
}
