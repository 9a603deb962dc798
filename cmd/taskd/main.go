// Command taskd is a task service you can run: it serves the Cloud Foundry
// v3 tasks API, really runs each task's command with /bin/sh -c in a process
// group of its own, and really stops it on cancel (SIGTERM to the group,
// SIGKILL after a grace period).
//
//	go run ./cmd/taskd
//	curl -X POST -H "Authorization: bearer $TOKEN" -d '{"command":"sleep 60"}' http://127.0.0.1:8080/v3/apps/demo/tasks
//	curl -X POST -H "Authorization: bearer $TOKEN" http://127.0.0.1:8080/v3/tasks/$GUID/actions/cancel
//
// It prints the token and ready-to-paste curl lines when it starts. The
// token comes from TASKD_TOKEN (letters, digits and -._~+/=, as RFC 6750
// allows), or is generated when that is unset; taskd refuses to listen
// beyond loopback without TASKD_TOKEN. Each line a task
// writes is logged with the task's guid and name. SIGINT or SIGTERM cancels
// every running task and exits once they have stopped.
//
// Tasks live in memory unless -database-url (or DATABASE_URL) names a
// PostgreSQL database. Then they survive a restart, and several taskd
// instances may share the database: each runs the tasks created through it,
// and a cancel sent to any instance stops the task wherever it runs. An
// instance that was killed finds, when it starts again, what was left of its
// tasks' processes (recorded in its -state-dir) and kills it, marks the tasks
// that were running FAILED "Unable to determine completion status" (and
// those canceled before they ever started FAILED "task was cancelled"), and
// runs the tasks it had accepted but not started.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
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

// shutdownSlack is what a shutdown may take beyond the cancel grace period:
// the issue promises an exit within grace plus one second.
const shutdownSlack = 900 * time.Millisecond

func main() {
	if err := serve(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "taskd:", err)
		os.Exit(1)
	}
}

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
	if c.maxRunning < 1 {
		return nil, errors.New("-max-running must be at least 1")
	}
	if c.reconcile <= 0 {
		return nil, errors.New("-reconcile-interval must be positive")
	}
	if err := c.storeDefaults(getenv); err != nil {
		return nil, err
	}
	c.token = getenv(tokenEnv)
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

// serve runs taskd until a signal stops it.
func serve(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := becomeSubreaper(); err != nil {
		log.Warn("cannot become a subreaper: orphans of tasks go to init", "error", err)
	}

	// Signals stay caught until serve returns: a second Ctrl-C must not
	// kill taskd halfway through stopping its tasks, and the shutdown is
	// bounded by the grace period anyway.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	base, linkBase := baseURLs(ln.Addr(), cfg.baseURL)

	// Before anything runs: what a killed predecessor left must die first.
	var state *stateDir
	// Without process records, any task of this instance may have run.
	mayHaveRun := func(string) bool { return true }
	switch {
	case cfg.stateDir == "":
	case !canRecover:
		log.Warn("process records need Linux: processes of tasks may outlive a crash of taskd")
	default:
		if state, err = openStateDir(cfg.stateDir); err != nil {
			return err
		}
		defer state.Close()
		if recorded := state.killLeftovers(log); recorded != nil {
			mayHaveRun = func(guid string) bool { return recorded[guid] }
		}
	}

	var store tasklife.Store = memstore.New()
	storeText := "in-memory store: tasks are forgotten on exit"
	var pg *pgstore.Store
	if cfg.databaseURL != "" {
		var pool *pgxpool.Pool
		var where string
		pg, pool, where, err = openPostgres(ctx, cfg.databaseURL, cfg.databaseSchema)
		if err != nil {
			return err
		}
		defer pool.Close()
		store = pg
		storeText = fmt.Sprintf("PostgreSQL store at %s, instance %q: tasks survive a restart", where, cfg.instance)
	}
	svc := tasklife.New(store, tasklife.WithLogger(log))
	exec := newExecutor(svc, log, cfg.grace, cfg.maxRunning)
	exec.state = state
	stopListening := func() {}
	if pg != nil {
		exec.owner, exec.keepPending = cfg.instance, true
		pending, err := recoverTasks(ctx, svc, cfg.instance, mayHaveRun, log)
		if err != nil {
			return err
		}
		exec.Enqueue(pending)
		// Listening after the recovery: the listener's first pass over the
		// CANCELING tasks catches a cancel made meanwhile.
		stopListening = listenForCancels(pg, exec, cfg.reconcile, log)
		defer stopListening() // before the pool closes
	}
	srv := &http.Server{
		Handler:           newHandler(svc, exec, cfg.token, linkBase, log),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	printBanner(stdout, base, cfg, storeText)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: canceling tasks", "grace", cfg.grace)
	stopListening()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.grace+shutdownSlack)
	defer cancel()
	// The listener closes at once; requests in flight get a short while,
	// and a create among them is refused once the executor has closed.
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		httpCtx, httpCancel := context.WithTimeout(ctx, shutdownSlack/2)
		defer httpCancel()
		if err := srv.Shutdown(httpCtx); err != nil {
			_ = srv.Close()
		}
	}()
	if err := exec.Shutdown(ctx); err != nil {
		log.Warn("tasks did not stop in time; killed", "error", err)
	}
	<-httpDone
	log.Info("stopped")
	return nil
}

// baseURLs returns the URL the printed curl lines use and the one links in
// responses start with ("" to build them from each request's Host, which
// is what a listener on every interface needs unless -base-url says better).
func baseURLs(addr net.Addr, flagURL string) (curl, links string) {
	tcp, ok := addr.(*net.TCPAddr)
	if ok && tcp.IP.IsUnspecified() {
		curl = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	} else {
		curl = "http://" + addr.String()
		links = curl
	}
	if flagURL != "" {
		links = strings.TrimRight(flagURL, "/")
	}
	return curl, links
}

// printBanner tells a newcomer what to paste next.
func printBanner(w io.Writer, base string, cfg *config, storeText string) {
	source := "from $" + tokenEnv
	if cfg.generated {
		source = "generated; set " + tokenEnv + " to choose one"
	}
	auth := fmt.Sprintf("-H 'Authorization: bearer %s'", cfg.token)
	fmt.Fprintf(w, "taskd listening on %s (%s)\n", base, storeText)
	fmt.Fprintf(w, "token: %s (%s)\n", cfg.token, source)
	fmt.Fprintf(w, "create a task, then get it, then cancel it:\n")
	fmt.Fprintf(w, "  TASK=$(curl -s -X POST %s -d '{\"command\":\"echo hello; sleep 600\"}' %s/v3/apps/demo/tasks | grep -o '\"guid\": *\"[^\"]*\"' | head -n1 | cut -d'\"' -f4); echo $TASK\n", auth, base)
	fmt.Fprintf(w, "  curl -s -w '\\n' %s %s/v3/tasks/$TASK\n", auth, base)
	fmt.Fprintf(w, "  curl -s -w '\\n' -X POST %s %s/v3/tasks/$TASK/actions/cancel\n", auth, base)
}
