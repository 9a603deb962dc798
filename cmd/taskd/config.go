package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore"
)

// Environment variables taskd reads.
const (
	tokenEnv       = "TASKD_TOKEN"    // the bearer token
	databaseURLEnv = "DATABASE_URL"   // -database-url's default
	instanceEnv    = "TASKD_INSTANCE" // -instance's default
)

// maxInstanceBytes bounds an instance name, which every task it creates
// carries in an annotation.
const maxInstanceBytes = 253

// config is what the flags and the environment say.
type config struct {
	addr       string
	grace      time.Duration
	maxRunning int
	baseURL    string
	token      string
	generated  bool // the token was generated, not given

	databaseURL    string // "": the in-memory store
	databaseSchema string
	instance       string // names this instance's tasks; set with a database
	stateDir       string // "": no process records
	reconcile      time.Duration

	// What ends a task whoever dies; see runner.Config.
	lease          time.Duration
	cancelDeadline time.Duration
	pendingExpiry  time.Duration
	maxRunTime     time.Duration
	affinity       bool

	runAs string // -run-as; "": taskd's user, or nobody for root
	// metricsAddr is where Prometheus metrics are served; "": nowhere.
	metricsAddr string
	// console serves the web console at /console/ (console.go).
	console bool
	logs    logsConfig // bounds on the task output kept (tasklogs.go)

	cf cfFront // the org, space and apps CF clients see (cf.go)

	limits      // bounds on clients, tasks and the database (limits.go)
	retention   // how long ended tasks are kept (retention.go)
	secretFiles // secrets from files, never the command line (secrets.go)
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("taskd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "`host:port` to listen on; beyond loopback only with "+tokenEnv+" set")
	fs.StringVar(&c.baseURL, "base-url", "", "absolute `URL` clients reach taskd at, for links in responses (default: the listen address; on every interface: the request's Host)")
	fs.DurationVar(&c.grace, "cancel-grace", 10*time.Second, "how long a canceled task has between SIGTERM and SIGKILL")
	fs.IntVar(&c.maxRunning, "max-running", 4*runtime.NumCPU(), "how many tasks may run at once; the rest wait, PENDING, in creation order")
	fs.StringVar(&c.databaseURL, "database-url", "", "PostgreSQL `URL` to keep tasks in (default $"+databaseURLEnv+"); without one, tasks live in memory")
	fs.StringVar(&c.databaseSchema, "database-schema", pgstore.DefaultSchema, "PostgreSQL `schema` for taskd's tables; instances that share tasks share it")
	fs.StringVar(&c.instance, "instance", "", "`name` of this instance among those sharing the database, the same across its restarts (default $"+instanceEnv+", else host name:state directory)")
	fs.StringVar(&c.stateDir, "state-dir", "", "`directory` where taskd records its tasks' processes, to kill what is left of them after a crash; one per instance (default with a database: $XDG_STATE_HOME/taskd[/<instance>])")
	fs.DurationVar(&c.reconcile, "reconcile-interval", 30*time.Second, "with a database: how often taskd looks for cancels it may have missed while disconnected")
	fs.DurationVar(&c.lease, "lease", 30*time.Second, "how long a running task stays this instance's without a renewal (renewed every third of it): the tasks of an instance that dies or hangs longer end FAILED \"Unable to determine completion status\"")
	fs.DurationVar(&c.cancelDeadline, "cancel-deadline", 0, "how long a task may stay CANCELING before any instance ends it FAILED \"task was cancelled\" and its own hard-stops it (default: -cancel-grace plus -lease)")
	fs.DurationVar(&c.pendingExpiry, "pending-expiry", 0, "how long a task may wait PENDING before it ends FAILED \"Task expired in PENDING state\" (default: no limit)")
	fs.DurationVar(&c.maxRunTime, "max-run-time", 0, "how long a task's command may run before it is stopped as a cancel is and ends FAILED \""+tasklife.ReasonTimedOut+"\" (default: no limit)")
	fs.BoolVar(&c.affinity, "affinity", false, "with a database: run only the tasks created through this instance (default: any instance runs any task)")
	fs.StringVar(&c.runAs, "run-as", "", "`user` (name or uid) to run tasks as; switching needs root (default: taskd's user; for root, "+defaultRunAs+")")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "`host:port` to serve Prometheus metrics on, at /metrics, apart from the API (default: no metrics)")
	fs.BoolVar(&c.console, "console", true, "serve the web console at /console/")
	c.logs.flags(fs)
	c.cf = defaultFront()
	fs.StringVar(&c.cf.org, "org", c.cf.org, "`name` of the one Cloud Foundry org CF clients target (cf target -o)")
	fs.StringVar(&c.cf.space, "space", c.cf.space, "`name` of the one space in it (cf target -s), where apps live")
	fs.BoolVar(&c.cf.strictApps, "strict-apps", false, "answer a task for an app taskd does not keep 404 \"App not found\", as Cloud Controller does (default: the task registers its app, named after its guid)")
	c.limits.flags(fs)
	c.retention.flags(fs)
	c.secretFiles.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: taskd [flags]\n\nServes the Cloud Foundry v3 tasks API and runs each task's command with /bin/sh -c.\nThe bearer token is $%s (letters, digits and -._~+/=), or a random one printed at start.\n\n", tokenEnv)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.grace < 0 {
		return nil, errors.New("-cancel-grace must not be negative")
	}
	if c.cf.org == "" || c.cf.space == "" {
		return nil, errors.New("-org and -space must not be empty")
	}
	if c.maxRunning < 1 {
		return nil, errors.New("-max-running must be at least 1")
	}
	if c.reconcile <= 0 {
		return nil, errors.New("-reconcile-interval must be positive")
	}
	if c.lease <= 0 {
		return nil, errors.New("-lease must be positive")
	}
	for name, d := range map[string]time.Duration{"-cancel-deadline": c.cancelDeadline, "-pending-expiry": c.pendingExpiry, "-max-run-time": c.maxRunTime} {
		if d < 0 {
			return nil, fmt.Errorf("%s must not be negative", name)
		}
	}
	if err := errors.Join(c.limits.check(), c.retention.check(), c.logs.check()); err != nil {
		return nil, err
	}
	if err := c.secretFiles.load(c, getenv); err != nil {
		return nil, err
	}
	if err := c.storeDefaults(getenv); err != nil {
		return nil, err
	}
	if c.token == "" {
		c.token = getenv(tokenEnv)
	}
	if i := strings.IndexFunc(c.token, notTokenChar); i >= 0 {
		// The token goes into the printed curl lines between '...'.
		r, _ := utf8.DecodeRuneInString(c.token[i:])
		return nil, fmt.Errorf("%s holds %q, which a bearer token may not: use only letters, digits and . _ ~ + / = -", tokenEnv, r)
	}
	if c.token == "" {
		if !isLoopback(c.addr) {
			return nil, fmt.Errorf("refusing to listen on %s, beyond loopback, with a generated token: set %s", c.addr, tokenEnv)
		}
		var b [32]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails.
		c.token, c.generated = hex.EncodeToString(b[:]), true
	}
	return c, nil
}

// notTokenChar reports whether r may not appear in a bearer token: RFC
// 6750's b64token is letters, digits and -._~+/ with = (as padding).
func notTokenChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("-._~+/=", r)
}

// storeDefaults fills in the database, instance and state directory from
// the environment. The default instance name is the host name and the state
// directory: both stay the same across restarts, and two instances on one
// host need two state directories anyway.
func (c *config) storeDefaults(getenv func(string) string) error {
	if c.databaseURL == "" {
		c.databaseURL = getenv(databaseURLEnv)
	}
	if c.instance == "" {
		c.instance = getenv(instanceEnv)
	}
	if c.databaseURL == "" {
		c.instance = "" // Nothing to share tasks with.
	} else if c.stateDir == "" {
		c.stateDir = defaultStateDir(getenv, c.instance)
	}
	if c.stateDir != "" {
		abs, err := filepath.Abs(c.stateDir)
		if err != nil {
			return fmt.Errorf("-state-dir: %w", err)
		}
		c.stateDir = abs
	}
	if c.databaseURL != "" && c.instance == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "localhost"
		}
		c.instance = host + ":" + c.stateDir
	}
	switch {
	case len(c.instance) > maxInstanceBytes:
		return fmt.Errorf("-instance must be at most %d bytes", maxInstanceBytes)
	case !utf8.ValidString(c.instance) || strings.ContainsRune(c.instance, 0):
		return errors.New("-instance must be UTF-8 text without NUL")
	}
	return nil
}

// defaultStateDir is $XDG_STATE_HOME/taskd (or ~/.local/state/taskd, or
// ./.taskd-state without a home), with the instance name below it when one
// was given, so that instances on one host do not share it.
func defaultStateDir(getenv func(string) string, instance string) string {
	dir := ".taskd-state"
	if base := getenv("XDG_STATE_HOME"); base != "" {
		dir = filepath.Join(base, "taskd")
	} else if home := getenv("HOME"); home != "" {
		dir = filepath.Join(home, ".local", "state", "taskd")
	}
	if instance != "" {
		name := strings.Map(func(r rune) rune {
			if r == '/' || r == filepath.Separator {
				return '_'
			}
			return r
		}, instance)
		if name == "." || name == ".." {
			name = "_" + name
		}
		dir = filepath.Join(dir, name)
	}
	return dir
}

// isLoopback reports whether addr only listens on the loopback interface.
// An empty host means every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
