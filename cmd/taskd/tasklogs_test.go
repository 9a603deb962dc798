package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func testLogs(lines int, taskBytes, total int64) *taskLogs {
	return newTaskLogs(logsConfig{taskLines: lines, taskBytes: taskBytes, total: total})
}

func texts(r logRead) []string {
	var out []string
	for _, l := range r.lines {
		out = append(out, l.text)
	}
	return out
}

func addN(s *taskLogs, guid string, n int, size int) {
	for i := range n {
		s.add(guid, logLine{time: time.Now(), stream: "stdout", text: strconv.Itoa(i) + strings.Repeat("x", size)})
	}
}

func TestTaskLogsKeepsTheLastLinesOfATask(t *testing.T) {
	t.Parallel()
	s := testLogs(3, 1<<20, 1<<20)
	s.begin("a")
	addN(s, "a", 5, 0)
	r := s.read("a", 0)
	require.True(t, r.found)
	require.Equal(t, []string{"2", "3", "4"}, texts(r))
	require.EqualValues(t, 2, r.dropped, "lines 1 and 2 were dropped")
	require.EqualValues(t, 3, r.lines[0].n)
	require.Equal(t, []string{"4"}, texts(s.read("a", 4)))
	require.EqualValues(t, 0, s.read("a", 4).dropped)
	require.EqualValues(t, taskOverhead+3*(1+lineOverhead), s.size())
}

func TestTaskLogsBoundsATasksBytes(t *testing.T) {
	t.Parallel()
	s := testLogs(1000, 3*(lineOverhead+10), 1<<20)
	s.begin("a")
	addN(s, "a", 10, 9) // each costs lineOverhead+10
	require.Equal(t, []string{"7xxxxxxxxx", "8xxxxxxxxx", "9xxxxxxxxx"}, texts(s.read("a", 0)))
	// A line longer than the bound is cut to fit, alone.
	s.add("a", logLine{text: strings.Repeat("y", 1000)})
	r := s.read("a", 0)
	require.Len(t, r.lines, 1)
	require.True(t, r.lines[0].truncated)
	require.LessOrEqual(t, s.size(), int64(taskOverhead+3*(lineOverhead+10)))
}

func TestTaskLogsEvictsTheTasksThatEndedFirst(t *testing.T) {
	t.Parallel()
	per := int64(lineOverhead + 10)
	s := testLogs(1000, 10*per, 3*taskOverhead+6*per)
	for _, g := range []string{"old", "new", "running"} {
		s.begin(g)
	}
	addN(s, "old", 2, 9)
	addN(s, "new", 2, 9)
	s.end("old")
	s.end("new")
	addN(s, "running", 2, 9)
	require.Equal(t, 3*taskOverhead+6*per, s.size())
	addN(s, "running", 1, 9)
	require.False(t, s.read("old", 0).found, "the log of the task that ended first goes first, whole")
	require.True(t, s.read("new", 0).found)
	require.Equal(t, 2*taskOverhead+5*per, s.size())
	fits := int((taskOverhead + per) / per) // the room old left
	addN(s, "running", fits, 9)
	require.True(t, s.read("new", 0).found, "it fits still")
	addN(s, "running", 1, 9)
	require.False(t, s.read("new", 0).found)
	require.Len(t, s.read("running", 0).lines, 4+fits)
	require.Equal(t, taskOverhead+int64(4+fits)*per, s.size())
}

func TestTaskLogsRunningTasksMakeRoomInTheirOwn(t *testing.T) {
	t.Parallel()
	per := int64(lineOverhead + 10)
	s := testLogs(1000, 4*per, 2*taskOverhead+6*per)
	s.begin("big")
	s.begin("small")
	addN(s, "big", 4, 9)
	addN(s, "small", 2, 9)
	// Nothing has ended: a new line pushes out its own task's oldest.
	addN(s, "small", 3, 9)
	require.Len(t, s.read("big", 0).lines, 4, "another running task's lines stay")
	r := s.read("small", 0)
	require.Equal(t, []string{"1xxxxxxxxx", "2xxxxxxxxx"}, texts(r))
	require.EqualValues(t, 3, r.dropped)
	require.Equal(t, 2*taskOverhead+6*per, s.size())
}

func TestTaskLogsKeepsNothingWithATotalOfZero(t *testing.T) {
	t.Parallel()
	s := testLogs(10, 1<<10, 0)
	s.begin("a")
	addN(s, "a", 3, 0)
	require.False(t, s.read("a", 0).found)
	require.Zero(t, s.size())
}

func TestTaskLogsIgnoresATaskThatDidNotBegin(t *testing.T) {
	t.Parallel()
	s := testLogs(10, 1<<10, 1<<20)
	addN(s, "a", 1, 0)
	r := s.read("a", 0)
	require.False(t, r.found)
	s.begin("a")
	select {
	case <-r.wake:
	default:
		t.Fatal("a follower of a task whose log had not begun was not woken when it began")
	}
}

func TestTaskLogsWakesFollowers(t *testing.T) {
	t.Parallel()
	s := testLogs(10, 1<<10, 1<<20)
	s.begin("a")
	r := s.read("a", 0)
	addN(s, "a", 1, 0)
	<-r.wake
	r = s.read("a", 1)
	require.False(t, r.ended)
	s.end("a")
	<-r.wake
	require.True(t, s.read("a", 1).ended)
}

func TestTaskLogsDropsWhatRetentionDeleted(t *testing.T) {
	t.Parallel()
	s := testLogs(10, 1<<10, 1<<20)
	s.begin("a")
	s.begin("b")
	addN(s, "a", 1, 0)
	s.end("a")
	cut := time.Now()
	s.end("b")
	s.dropEndedBefore(cut)
	require.False(t, s.read("a", 0).found)
	require.True(t, s.read("b", 0).found)
	require.EqualValues(t, taskOverhead, s.size())
	s.dropEndedBefore(time.Now().Add(time.Second))
	require.False(t, s.read("b", 0).found)
	require.Empty(t, s.ended)
	require.Zero(t, s.size())
}

func TestTaskLogsBoundsTasksThatWriteNothing(t *testing.T) {
	t.Parallel()
	s := testLogs(10, 1<<10, 4*taskOverhead)
	for i := range 100 {
		g := strconv.Itoa(i)
		s.begin(g)
		s.end(g)
	}
	require.EqualValues(t, 4*taskOverhead, s.size())
	require.Len(t, s.tasks, 4)
	require.True(t, s.read("99", 0).found)
	require.False(t, s.read("95", 0).found)
}

func TestTaskLogsConfig(t *testing.T) {
	t.Parallel()
	require.NoError(t, (&logsConfig{taskLines: 1, taskBytes: lineOverhead, total: 0}).check())
	require.NoError(t, (&logsConfig{taskLines: 1, taskBytes: lineOverhead, total: lineOverhead}).check())
	require.Error(t, (&logsConfig{taskLines: 0, taskBytes: lineOverhead, total: lineOverhead}).check())
	require.Error(t, (&logsConfig{taskLines: 1, taskBytes: lineOverhead - 1, total: lineOverhead}).check())
	require.Error(t, (&logsConfig{taskLines: 1, taskBytes: 2 * lineOverhead, total: lineOverhead}).check())
}
