package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

func TestRetentionFlag(t *testing.T) {
	t.Parallel()
	getenv := func(string) string { return "" }
	cfg, err := parseConfig(nil, getenv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 31*24*time.Hour, cfg.retention.keep, "Cloud Controller's default")
	require.Equal(t, time.Hour, cfg.retention.every())
	cfg, err = parseConfig([]string{"-retention", "0"}, getenv, io.Discard)
	require.NoError(t, err)
	require.Zero(t, cfg.retention.keep)
	_, err = parseConfig([]string{"-retention", "-1s"}, getenv, io.Discard)
	require.ErrorContains(t, err, "-retention must not be negative")
}

// TestRetentionDeletesEndedTasks: the loop deletes what ended longer ago
// than the retention, and leaves the rest.
func TestRetentionDeletesEndedTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := tasklife.New(memstore.New())
	ended, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "true"})
	require.NoError(t, err)
	_, err = svc.Fail(ctx, ended.GUID, "boom")
	require.NoError(t, err)
	pending, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "true"})
	require.NoError(t, err)

	r := retention{keep: time.Microsecond}
	stop := r.start(svc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer stop()
	require.Eventually(t, func() bool {
		_, err := svc.Get(ctx, ended.GUID)
		return err != nil
	}, time.Minute, time.Millisecond)
	_, err = svc.Get(ctx, ended.GUID)
	require.ErrorIs(t, err, tasklife.ErrNotFound)
	_, err = svc.Get(ctx, pending.GUID)
	require.NoError(t, err)
}
