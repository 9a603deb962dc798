package main

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Output lives with the instance that ran the task: another instance says
// it has none, and its follow ends when the task does.
func TestPostgresLogsLiveWithTheInstanceThatRanIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	schema := newPGSchema(t)
	a := pgInstance{schema: schema, name: "a", stateDir: filepath.Join(dir, "a")}.start(t, "-affinity")
	b := pgInstance{schema: schema, name: "b", stateDir: filepath.Join(dir, "b")}.start(t, "-affinity")

	release := filepath.Join(dir, "release")
	created := a.create("echo hello; while [ ! -e " + release + " ]; do sleep 0.05; done")
	here := bufio.NewReader(a.getLogs(created.GUID, "?follow=true").Body)
	line, err := here.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, []string{"stdout hello"}, logsText(t, line))

	resp := b.getLogs(created.GUID, "")
	require.Equal(t, "none", resp.Header.Get(logsHeader))
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Empty(t, body)

	resp = b.getLogs(created.GUID, "?follow=true")
	require.Equal(t, "none", resp.Header.Get(logsHeader))
	require.NoError(t, os.WriteFile(release, nil, 0o644))
	body, err = io.ReadAll(resp.Body)
	require.NoError(t, err, "the follow on the other instance ends with the task")
	require.Empty(t, body)
	require.Equal(t, "SUCCEEDED", b.get(created.GUID).State)
	rest, err := io.ReadAll(here)
	require.NoError(t, err)
	require.Empty(t, rest)
	a.await(created.GUID, "SUCCEEDED", 5*time.Second)
}
