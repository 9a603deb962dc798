// Command taskd is a task service you can run: it serves the Cloud Foundry
// v3 tasks API, really runs each task's command with /bin/sh -c in a process
// group of its own, and really stops it on cancel (SIGTERM to the group,
// SIGKILL after a grace period).
//
//	go run ./cmd/taskd
//	curl -X POST -H "Authorization: bearer $TOKEN" -d '{"command":"sleep 60"}' http://127.0.0.1:8080/v3/apps/demo/tasks
//	curl -X POST -H "Authorization: bearer $TOKEN" http://127.0.0.1:8080/v3/tasks/$GUID/actions/cancel
//
// It prints ready-to-paste curl lines when it starts, and the token if it
// generated it (a given one stays unprinted). The token comes from
// TASKD_TOKEN (letters, digits and -._~+/=, as RFC 6750 allows) or
// -token-file, or is generated; taskd refuses to listen beyond loopback
// with a generated token. Each line a task writes is logged with the task's
// guid and name, within the task's log rate limit, and the recent lines are
// kept for GET /v3/tasks/{guid}/logs and the web console at /console/.
// SIGINT or SIGTERM cancels every running task and exits once they have
// stopped.
//
// The cf CLI drives it unchanged: taskd is its own UAA (POST /oauth/token
// issues JWTs signed with a key derived from the token, for cf auth taskd
// "$TASKD_TOKEN" --client-credentials and cf login -u admin -p
// "$TASKD_TOKEN"), and serves one org (-org) with one space (-space) and
// the apps in it, kept in the task store. A task for an app taskd does not
// keep registers it, unless -strict-apps.
//
// Tasks live in memory unless -database-url (or DATABASE_URL) names a
// PostgreSQL database. Then they survive a restart, and several taskd
// instances may share the database: any instance runs any task (-affinity:
// only those created through it), a cancel sent to any instance stops the
// task wherever it runs, and the tasks of an instance that dies or hangs
// for longer than its -lease end FAILED "Unable to determine completion
// status" on the others. An instance that was killed finds, when it starts
// again, what was left of its tasks' processes (recorded in its -state-dir)
// and kills it, and marks the tasks that were running FAILED "Unable to
// determine completion status" (and those canceled before they ever
// started FAILED "task was cancelled") at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/internal/logname"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/pgstore"
	"github.com/tasklife/tasklife/runner"
)

// shutdownSlack is what a shutdown may take beyond the cancel grace period:
// the issue promises an exit within grace plus one second.
const shutdownSlack = 900 * time.Millisecond

func main() {
	if err := serve(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "taskd:", err)
		os.Exit(1)
	}
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
	// Its records' source is never printed: a task's lines need not look
	// their callers up (logname.Sourceless).
	log := slog.New(logname.Sourceless(slog.NewTextHandler(stderr, nil)))
	as, err := resolveRunAs(cfg.runAs, os.Geteuid())
	if err != nil {
		return err
	}
	if err := hideSecrets(); err != nil {
		log.Warn("cannot make taskd undumpable: its tasks may read its memory", "error", err)
	}
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
	ln = boundListener(ln, cfg.maxConns)

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
		pg, pool, where, err = openPostgres(ctx, withConnectTimeout(cfg.databaseURL, cfg.dbTimeout), cfg.databaseSchema)
		if err != nil {
			return err
		}
		defer pool.Close()
		store = pg
		storeText = fmt.Sprintf("PostgreSQL store at %s, instance %q: tasks survive a restart", where, cfg.instance)
	}
	var m *metrics
	if cfg.metricsAddr != "" {
		m = newMetrics()
		store = countingStore{Store: store, m: m}
	}
	// A Wait rechecks as often as the listener reconciles: what a lost
	// notification costs.
	svc := tasklife.New(store, tasklife.WithLogger(log), tasklife.WithWaitRecheck(cfg.reconcile))
	exec := newExecutor(svc, log, cfg.grace, cfg.maxRunning)
	exec.shell.state, exec.shell.as = state, as
	log.Info("tasks run as " + as.String())
	exec.logRate, exec.shell.logLines = &cfg.logRate, cfg.logLines
	logs, feed := newTaskLogs(cfg.logs), newChangeFeed()
	exec.shell.logs, exec.changes = logs, feed
	svc.Observe(feed.observe)
	defer reapOrphans(exec.shell.shells)() // no zombie under taskd
	exec.leases = runner.Config{Lease: cfg.lease, CancelDeadline: cfg.cancelDeadline, PendingExpiry: cfg.pendingExpiry, MaxRunTime: cfg.maxRunTime}
	stopListening := func() {}
	if pg != nil {
		exec.instance, exec.affinity, exec.keepPending = cfg.instance, cfg.affinity, true
		exec.owner = ownerOf(cfg.instance)
		known := make(map[string]bool)
		if state != nil {
			exec.unrecorded = state.takeUnrecorded(log)
			for _, o := range exec.unrecorded {
				known[o.GUID] = true
			}
		}
		if err := recoverTasks(ctx, svc, exec, known, mayHaveRun, log); err != nil {
			return err
		}
		exec.start()
		// Listening after the recovery: the listener's first pass over the
		// CANCELING tasks catches a cancel made meanwhile.
		stopListening = listenForChanges(pg, svc, exec, cfg.reconcile, log)
		defer stopListening() // before the pool closes
	}
	exec.start()
	cfg.retention.deleted = func(before time.Time, n int) {
		logs.dropEndedBefore(before)
		if n > 0 {
			feed.bump()
		}
	}
	defer cfg.retention.start(svc, log)()
	open := newStreams(httpadapter.DefaultMaxOpenWaits, cfg.dbTimeout)
	mounts := []func(*httpadapter.Handler){func(h *httpadapter.Handler) {
		h.Handle("GET /v3/tasks/{guid}/logs", logsHandler(h, svc, logs, open))
	}}
	if cfg.console {
		mounts = append(mounts, func(h *httpadapter.Handler) { mountConsole(h, feed, open) })
	}
	cfg.cf.created = time.Now()
	handler := newCFHandler(svc, exec, cfg.token, linkBase, log, cfg.cf, mounts...)
	if m != nil {
		m.attach(svc, cfg.dbTimeout)
		handler = m.countRequests(handler)
		stopMetrics, err := serveMetrics(cfg.metricsAddr, m, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	srv := newServer(handler, cfg.limits, log)
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
	err = exec.Shutdown(ctx)
	var unrecorded *runner.UnrecordedError
	switch {
	case errors.As(err, &unrecorded) && state != nil:
		if err := state.saveUnrecorded(unrecorded.Outcomes); err != nil {
			log.Error("outcomes the store did not take could not be kept either; those tasks end as unknown", "error", err)
		} else {
			log.Warn("the store did not take every outcome: the next start records them", "tasks", len(unrecorded.Outcomes))
		}
	case errors.As(err, &unrecorded):
		log.Error("the store did not take every outcome, and there is no state directory to keep them", "error", err)
	case err != nil:
		log.Warn("tasks did not stop in time; killed", "error", err)
	}
	// Issue 15: what escaped its task's group and environment dies now.
	if n := stopAllDescendants(exec.shell.leaders()); n > 0 {
		log.Warn("processes left by tasks were still running at shutdown: killed them", "processes", n)
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

// printBanner tells a newcomer what to paste next. It prints the token only
// when taskd generated it: a token given in the environment or a file is
// the operator's secret, and the banner may end up in a log; the curl lines
// then read it from where it came.
func printBanner(w io.Writer, base string, cfg *config, storeText string) {
	token := fmt.Sprintf("%s (generated; set %s to choose one)", cfg.token, tokenEnv)
	auth := fmt.Sprintf("-H 'Authorization: bearer %s'", cfg.token)
	secret := "'" + cfg.token + "'" // for cf auth
	switch {
	case cfg.generated:
	case cfg.secretFiles.token != "":
		token = "from -token-file, not printed"
		secret = fmt.Sprintf(`"$(cat %s)"`, shellQuote(cfg.secretFiles.token))
		auth = `-H "Authorization: bearer ` + secret[1:]
	default:
		token = "from $" + tokenEnv + ", not printed"
		secret = `"$` + tokenEnv + `"`
		auth = `-H "Authorization: bearer ` + secret[1:]
	}
	fmt.Fprintf(w, "taskd listening on %s (%s)\n", base, storeText)
	fmt.Fprintf(w, "token: %s\n", token)
	fmt.Fprintf(w, "create a task, then get it, then cancel it:\n")
	fmt.Fprintf(w, "  TASK=$(curl -s -X POST %s -d '{\"command\":\"echo hello; sleep 600\"}' %s/v3/apps/demo/tasks | grep -o '\"guid\": *\"[^\"]*\"' | head -n1 | cut -d'\"' -f4); echo $TASK\n", auth, base)
	fmt.Fprintf(w, "  curl -s -w '\\n' %s %s/v3/tasks/$TASK\n", auth, base)
	fmt.Fprintf(w, "  curl -s -w '\\n' -X POST %s %s/v3/tasks/$TASK/actions/cancel\n", auth, base)
	fmt.Fprintf(w, "or with the cf CLI:\n")
	fmt.Fprintf(w, "  cf api %s && cf auth taskd %s --client-credentials && cf target -o %s -s %s\n",
		base, secret, shellQuote(cfg.cf.org), shellQuote(cfg.cf.space))
	if cfg.console {
		fmt.Fprintf(w, "or open the console: %s/console/\n", base)
	}
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
