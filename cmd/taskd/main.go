// Command taskd is a task service you can run: it serves the Cloud Foundry
// v3 tasks API on the in-memory store, really runs each task's command with
// /bin/sh -c in a process group of its own, and really stops it on cancel
// (SIGTERM to the group, SIGKILL after a grace period).
//
//	go run ./cmd/taskd
//	curl -X POST -H "Authorization: bearer $TOKEN" -d '{"command":"sleep 60"}' http://127.0.0.1:8080/v3/apps/demo/tasks
//	curl -X POST -H "Authorization: bearer $TOKEN" http://127.0.0.1:8080/v3/tasks/$GUID/actions/cancel
//
// It prints the token and ready-to-paste curl lines when it starts. The
// token comes from TASKD_TOKEN, or is generated when that is unset; taskd
// refuses to listen beyond loopback without TASKD_TOKEN. Each line a task
// writes is logged with the task's guid and name. SIGINT or SIGTERM cancels
// every task and exits once they have stopped.
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
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// tokenEnv names the environment variable that holds the bearer token.
const tokenEnv = "TASKD_TOKEN"

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
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("taskd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "`host:port` to listen on; beyond loopback only with "+tokenEnv+" set")
	fs.StringVar(&c.baseURL, "base-url", "", "absolute `URL` clients reach taskd at, for links in responses (default: the listen address; on every interface: the request's Host)")
	fs.DurationVar(&c.grace, "cancel-grace", 10*time.Second, "how long a canceled task has between SIGTERM and SIGKILL")
	fs.IntVar(&c.maxRunning, "max-running", 4*runtime.NumCPU(), "how many tasks may run at once; the rest wait, PENDING, in creation order")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: taskd [flags]\n\nServes the Cloud Foundry v3 tasks API and runs each task's command with /bin/sh -c.\nThe bearer token is $%s, or a random one printed at start.\n\n", tokenEnv)
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
	c.token = getenv(tokenEnv)
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

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	base, linkBase := baseURLs(ln.Addr(), cfg.baseURL)

	svc := tasklife.New(memstore.New(), tasklife.WithLogger(log))
	exec := newExecutor(svc, log, cfg.grace, cfg.maxRunning)
	srv := &http.Server{
		Handler:           newHandler(svc, exec, cfg.token, linkBase, log),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	printBanner(stdout, base, cfg)

	// Signals stay caught until serve returns: a second Ctrl-C must not
	// kill taskd halfway through stopping its tasks, and the shutdown is
	// bounded by the grace period anyway.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: canceling tasks", "grace", cfg.grace)
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
func printBanner(w io.Writer, base string, cfg *config) {
	source := "from $" + tokenEnv
	if cfg.generated {
		source = "generated; set " + tokenEnv + " to choose one"
	}
	auth := fmt.Sprintf("-H 'Authorization: bearer %s'", cfg.token)
	fmt.Fprintf(w, "taskd listening on %s (in-memory store: tasks are forgotten on exit)\n", base)
	fmt.Fprintf(w, "token: %s (%s)\n", cfg.token, source)
	fmt.Fprintf(w, "create a task, then get it, then cancel it:\n")
	fmt.Fprintf(w, "  TASK=$(curl -s -X POST %s -d '{\"command\":\"echo hello; sleep 600\"}' %s/v3/apps/demo/tasks | grep -o '\"guid\": *\"[^\"]*\"' | head -n1 | cut -d'\"' -f4); echo $TASK\n", auth, base)
	fmt.Fprintf(w, "  curl -s -w '\\n' %s %s/v3/tasks/$TASK\n", auth, base)
	fmt.Fprintf(w, "  curl -s -w '\\n' -X POST %s %s/v3/tasks/$TASK/actions/cancel\n", auth, base)
}
