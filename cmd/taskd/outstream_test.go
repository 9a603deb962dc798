package main

import (
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pipeStream starts an outStream on a new pipe, as startProcess does, and
// returns the write end and a channel closed once the stream has ended.
func pipeStream(t *testing.T) (s *outStream, w int, ended chan struct{}, log *syncBuffer) {
	t.Helper()
	r, w, err := taskPipe(true)
	require.NoError(t, err)
	log = &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(log, nil))
	ended = make(chan struct{})
	s = startStream(r, "stdout", newOutputLog(func() *slog.Logger { return logger }, -1, 0), func() { close(ended) })
	return s, w, ended, log
}

func awaitEnded(t *testing.T, ended chan struct{}) {
	t.Helper()
	select {
	case <-ended:
	case <-time.After(time.Minute):
		t.Fatal("the stream did not end")
	}
}

// TestStreamWithoutOutputEnds: a pipe whose writers leave without writing
// ends, and logs nothing.
func TestStreamWithoutOutputEnds(t *testing.T) {
	t.Parallel()
	s, w, ended, log := pipeStream(t)
	require.NoError(t, syscall.Close(w))
	awaitEnded(t, ended)
	require.Empty(t, log.String())
	s.close() // after the end: nothing left to do
}

// TestStreamLogsEveryLine: what comes first and what comes after are all
// logged, in order, up to the end.
func TestStreamLogsEveryLine(t *testing.T) {
	t.Parallel()
	_, w, ended, log := pipeStream(t)
	write := func(s string) {
		_, err := syscall.Write(w, []byte(s))
		require.NoError(t, err)
	}
	write("first\nsec")
	require.Eventually(t, func() bool { return strings.Contains(log.String(), "line=first") }, time.Minute, time.Millisecond)
	write("ond\n" + strings.Repeat("x", 3*firstChunk) + "\nlast")
	require.NoError(t, syscall.Close(w))
	awaitEnded(t, ended)
	var lines []string
	for rec := range strings.Lines(log.String()) {
		_, line, _ := strings.Cut(strings.TrimSpace(rec), "line=")
		lines = append(lines, line)
	}
	require.Equal(t, []string{"first", "second", strings.Repeat("x", 3*firstChunk), "last"}, lines)
}

// TestStreamClosedWhileWatched: a pipe still held open by a writer (a
// process that left its task's group, say) and never written to ends when
// taskd closes it, and the watcher lets it go.
func TestStreamClosedWhileWatched(t *testing.T) {
	t.Parallel()
	s, w, ended, _ := pipeStream(t)
	defer syscall.Close(w)
	s.close()
	awaitEnded(t, ended)
	require.Equal(t, -1, s.fd)
	s.close() // twice: nothing more
}

// TestStreamClosedWhileRead: once output has come, closing the pipe ends
// its reader.
func TestStreamClosedWhileRead(t *testing.T) {
	t.Parallel()
	s, w, ended, log := pipeStream(t)
	defer syscall.Close(w)
	_, err := syscall.Write(w, []byte("one\n"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(log.String(), "line=one") }, time.Minute, time.Millisecond)
	require.Equal(t, 1, strings.Count(log.String(), "\n"))
	s.close()
	awaitEnded(t, ended)
}
