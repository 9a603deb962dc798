//go:build unix && !linux

package main

import "errors"

// fdWatcher needs epoll: elsewhere each descriptor gets a goroutine of its
// own (see outStream, watchLeader).
type fdWatcher struct{}

var fds fdWatcher

func (*fdWatcher) watch(int, func()) (uint64, error) {
	return 0, errors.ErrUnsupported
}

func (*fdWatcher) forget(uint64) {}
