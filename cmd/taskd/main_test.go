package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		token   string
		wantErr string
		want    config // token and generated checked separately
	}{
		{name: "defaults", want: config{addr: "127.0.0.1:8080", grace: 10 * time.Second}},
		{name: "flags", args: []string{"-addr", "localhost:9", "-cancel-grace", "2s", "-max-running", "3"},
			want: config{addr: "localhost:9", grace: 2 * time.Second, maxRunning: 3}},
		{name: "ipv6 loopback", args: []string{"-addr", "[::1]:0"}, want: config{addr: "[::1]:0", grace: 10 * time.Second}},
		{name: "every interface needs a token", args: []string{"-addr", ":8080"}, wantErr: "set TASKD_TOKEN"},
		{name: "a public address needs a token", args: []string{"-addr", "192.0.2.1:8080"}, wantErr: "set TASKD_TOKEN"},
		{name: "a host name needs a token", args: []string{"-addr", "example.com:8080"}, wantErr: "set TASKD_TOKEN"},
		{name: "beyond loopback with a token", args: []string{"-addr", "0.0.0.0:8080"}, token: "t0k",
			want: config{addr: "0.0.0.0:8080", grace: 10 * time.Second}},
		{name: "a token as base64", token: "aB3-._~+/xy==", want: config{addr: "127.0.0.1:8080", grace: 10 * time.Second}},
		{name: "a token with a quote", token: "it's", wantErr: `TASKD_TOKEN holds '\'', which a bearer token may not`},
		{name: "a token with a space", token: "two words", wantErr: `TASKD_TOKEN holds ' '`},
		{name: "a token with a newline", token: "line\n", wantErr: `TASKD_TOKEN holds '\n'`},
		{name: "a token beyond ASCII", token: "jeton-é", wantErr: `TASKD_TOKEN holds 'é'`},
		{name: "no slots", args: []string{"-max-running", "0"}, wantErr: "-max-running must be at least 1"},
		{name: "negative grace", args: []string{"-cancel-grace", "-1s"}, wantErr: "-cancel-grace must not be negative"},
		{name: "log rate below -1", args: []string{"-log-rate-limit", "-2"}, wantErr: "-log-rate-limit must be -1 (unlimited) or more"},
		{name: "negative line cap", args: []string{"-log-lines-per-second", "-1"}, wantErr: "-log-lines-per-second must not be negative"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected arguments"},
		{name: "unknown flag", args: []string{"-port", "1"}, wantErr: "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			getenv := func(k string) string {
				if k == tokenEnv {
					return tc.token
				}
				return ""
			}
			cfg, err := parseConfig(tc.args, getenv, io.Discard)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			if tc.token != "" {
				require.Equal(t, tc.token, cfg.token)
				require.False(t, cfg.generated)
			} else {
				require.Len(t, cfg.token, 64)
				require.True(t, cfg.generated)
			}
			require.Equal(t, tc.want.addr, cfg.addr)
			require.Equal(t, tc.want.grace, cfg.grace)
			if tc.want.maxRunning != 0 {
				require.Equal(t, tc.want.maxRunning, cfg.maxRunning)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	exited := func(code int) syscall.WaitStatus { return syscall.WaitStatus(code << 8) }
	killedBy := func(sig syscall.Signal) syscall.WaitStatus { return syscall.WaitStatus(sig) }
	for _, tc := range []struct {
		name     string
		ws       syscall.WaitStatus
		signaled bool
		event    tasklife.Event
		reason   string
	}{
		{"exit 0", exited(0), false, tasklife.EventSucceed, ""},
		{"exit 0 before the cancel signal: it finished first", exited(0), false, tasklife.EventSucceed, ""},
		{"exit 0 after the cancel signal: a trap stopped it early", exited(0), true, tasklife.EventCanceled, ""},
		{"exit 3 after the cancel signal", exited(3), true, tasklife.EventCanceled, ""},
		{"exit 3", exited(3), false, tasklife.EventFail, "Exited with status 3"},
		{"died of SIGTERM we sent", killedBy(syscall.SIGTERM), true, tasklife.EventCanceled, ""},
		{"shell exit 143 after our SIGTERM", exited(143), true, tasklife.EventCanceled, ""},
		{"died of SIGKILL we sent", killedBy(syscall.SIGKILL), true, tasklife.EventCanceled, ""},
		{"killed by someone else", killedBy(syscall.SIGKILL), false, tasklife.EventFail, "Exited with status 137"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, reason := outcome(tc.ws, tc.signaled)
			require.Equal(t, tc.event, ev)
			require.Equal(t, tc.reason, reason)
		})
	}
}

func TestParseConfigStore(t *testing.T) {
	t.Parallel()
	host, err := os.Hostname()
	require.NoError(t, err)
	cwd, err := os.Getwd()
	require.NoError(t, err)
	for _, tc := range []struct {
		name     string
		args     []string
		env      map[string]string
		wantErr  string
		url      string
		instance string
		stateDir string
	}{
		{name: "in memory by default", env: map[string]string{"HOME": "/home/u"}},
		{name: "in memory: no instance, no records", env: map[string]string{"TASKD_INSTANCE": "a"}},
		{name: "in memory with records", args: []string{"-state-dir", "/s"}, stateDir: "/s"},
		{name: "database from the environment", env: map[string]string{"DATABASE_URL": "postgres://db", "XDG_STATE_HOME": "/xdg"},
			url: "postgres://db", instance: host + ":/xdg/taskd", stateDir: "/xdg/taskd"},
		{name: "the flag wins over the environment", args: []string{"-database-url", "postgres://flag"}, env: map[string]string{"DATABASE_URL": "postgres://env", "HOME": "/home/u"},
			url: "postgres://flag", instance: host + ":/home/u/.local/state/taskd", stateDir: "/home/u/.local/state/taskd"},
		{name: "a named instance gets a state directory of its own", args: []string{"-database-url", "postgres://db", "-instance", "web/1"}, env: map[string]string{"XDG_STATE_HOME": "/xdg"},
			url: "postgres://db", instance: "web/1", stateDir: "/xdg/taskd/web_1"},
		{name: "instance from the environment", args: []string{"-database-url", "postgres://db", "-state-dir", "rel"}, env: map[string]string{"TASKD_INSTANCE": "b"},
			url: "postgres://db", instance: "b", stateDir: filepath.Join(cwd, "rel")},
		{name: "no home", args: []string{"-database-url", "postgres://db"},
			url: "postgres://db", instance: host + ":" + filepath.Join(cwd, ".taskd-state"), stateDir: filepath.Join(cwd, ".taskd-state")},
		{name: "an instance named ..", args: []string{"-database-url", "postgres://db", "-instance", ".."}, env: map[string]string{"XDG_STATE_HOME": "/xdg"},
			url: "postgres://db", instance: "..", stateDir: "/xdg/taskd/_.."},
		{name: "instance too long", args: []string{"-database-url", "postgres://db", "-instance", strings.Repeat("x", 254)}, wantErr: "-instance must be at most 253 bytes"},
		{name: "instance not text", args: []string{"-database-url", "postgres://db", "-instance", "a\x00b"}, wantErr: "-instance must be UTF-8 text without NUL"},
		{name: "reconcile never", args: []string{"-reconcile-interval", "0s"}, wantErr: "-reconcile-interval must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			getenv := func(k string) string { return tc.env[k] }
			cfg, err := parseConfig(tc.args, getenv, io.Discard)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.url, cfg.databaseURL)
			require.Equal(t, tc.instance, cfg.instance)
			require.Equal(t, tc.stateDir, cfg.stateDir)
			require.Equal(t, "tasklife", cfg.databaseSchema)
		})
	}
}
