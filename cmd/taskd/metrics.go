package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tasklife/tasklife"
)

// metrics are taskd's Prometheus metrics, on a registry of their own, served
// on -metrics-addr. The library has no Prometheus code: an Observer gives
// the transitions and cancel latencies, a Store wrapper the store errors,
// an http.Handler wrapper the requests, and a scrape-time count the tasks
// by state.
type metrics struct {
	reg         *prometheus.Registry
	transitions *prometheus.CounterVec
	cancel      *prometheus.HistogramVec
	requests    *prometheus.CounterVec
	storeErrors *prometheus.CounterVec

	mu        sync.Mutex
	canceling map[string]time.Time // guid: when it entered CANCELING, on the store's clock
}

// maxCanceling bounds the CANCELING tasks whose start the metrics remember;
// beyond it, a cancel's latency goes unmeasured rather than memory growing.
const maxCanceling = 100_000

// newMetrics returns the metrics; attach them to the Service with attach,
// and wrap its store with countingStore.
func newMetrics() *metrics {
	m := &metrics{
		reg:       prometheus.NewRegistry(),
		canceling: make(map[string]time.Time),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tasklife_transitions_total",
			Help: "Committed changes through this instance, by event (create included).",
		}, []string{"event"}),
		cancel: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tasklife_cancel_latency_seconds",
			Help:    "From entering CANCELING to a terminal state, by the event that ended the task (canceled, succeed, fail), measured on the store's clock.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10), // 1ms .. ~4.4min
		}, []string{"outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tasklife_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status.",
		}, []string{"route", "status"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tasklife_store_errors_total",
			Help: "Store calls that failed for a reason other than a missing task, by operation and kind (unavailable, timeout, other).",
		}, []string{"op", "kind"}),
	}
	m.reg.MustRegister(m.transitions, m.cancel, m.requests, m.storeErrors)
	return m
}

// attach makes m observe svc and count its tasks by state when scraped,
// each count bounded by dbTimeout.
func (m *metrics) attach(svc *tasklife.Service, dbTimeout time.Duration) {
	m.reg.MustRegister(&stateCollector{svc: svc, timeout: dbTimeout})
	svc.Observe(m.observe)
}

// observe counts a committed change and, for a cancel's end, its latency:
// from the UpdatedAt of the change to CANCELING to that of the end, both
// seen by this instance (a cancel accepted by another instance is not
// measured here).
func (m *metrics) observe(_ context.Context, c tasklife.Change) {
	m.transitions.WithLabelValues(string(c.Event)).Inc()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case c.To == tasklife.StateCanceling:
		if _, ok := m.canceling[c.Task.GUID]; !ok && len(m.canceling) < maxCanceling {
			m.canceling[c.Task.GUID] = c.Task.UpdatedAt
		}
	case c.To.Terminal():
		if since, ok := m.canceling[c.Task.GUID]; ok {
			delete(m.canceling, c.Task.GUID)
			m.cancel.WithLabelValues(string(c.Event)).Observe(c.Task.UpdatedAt.Sub(since).Seconds())
		}
	}
}

// handler serves the metrics.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// countRequests wraps the adapter (directly: its mux sets the request's
// Pattern on the request it is given) and counts each answer.
func (m *metrics) countRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unrouted"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (flushes and
// deadlines of event streams).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// storeError counts err, if it is a fault, for op.
func (m *metrics) storeError(op string, err error) {
	switch {
	case err == nil, errors.Is(err, tasklife.ErrNotFound), errors.Is(err, context.Canceled):
		return
	case errors.Is(err, tasklife.ErrUnavailable):
		m.storeErrors.WithLabelValues(op, "unavailable").Inc()
	case errors.Is(err, context.DeadlineExceeded):
		m.storeErrors.WithLabelValues(op, "timeout").Inc()
	default:
		var ie *tasklife.InputError
		if !errors.As(err, &ie) {
			m.storeErrors.WithLabelValues(op, "other").Inc()
		}
	}
}

// stateCollector counts the tasks in each state when scraped, from the
// store: every instance's tasks, as the store has them.
type stateCollector struct {
	svc     *tasklife.Service
	timeout time.Duration
}

var tasksDesc = prometheus.NewDesc("tasklife_tasks", "Tasks in the store, by state, counted when scraped.", []string{"state"}, nil)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- tasksDesc }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	for _, s := range tasklife.States() {
		p, err := c.svc.List(ctx, tasklife.ListQuery{States: []tasklife.State{s}, PerPage: 1})
		if err != nil {
			ch <- prometheus.NewInvalidMetric(tasksDesc, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(tasksDesc, prometheus.GaugeValue, float64(p.TotalResults), string(s))
	}
}

// serveMetrics serves m on addr, without credentials (keep addr private),
// until stop.
func serveMetrics(addr string, m *metrics, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	log.Info("metrics on http://" + ln.Addr().String() + "/metrics")
	return func() {
		_ = srv.Close()
		<-done
	}, nil
}
