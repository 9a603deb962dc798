package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Throughput of taskd against the machine's own rate of starting a shell,
// measured side by side in one run (issue 19):
//
//	go test -run '^$' -bench '^BenchmarkThroughput$' -benchtime 1000x ./cmd/taskd
//
// Each op is one task of `true`:
//
//   - floor: exec.Command("/bin/sh", "-c", "true").Run(), throughputSlots
//     at a time, in this process: what any Go program pays to run a shell
//     command and wait for it;
//   - taskd: the binary TestMain built, started afresh with the in-memory
//     store and -max-running throughputSlots, is sent b.N creates over HTTP
//     by throughputClients clients; the clock stops once no task is left
//     unended (a long poll, GET /v3/tasks/{guid}?wait=, on the newest one
//     left, until a list finds none). So it measures what
//     a user gets, create to SUCCEEDED, the HTTP server, the store, the
//     runner, the gate and the log included, in a process of its own as in
//     production; an executor driven in-process would share this process's
//     scheduler and garbage collector with the clients and hide the cost of
//     the log.
//
// Both report tasks/s; taskd also reports x-floor, its tasks/s over the
// floor's from the same run (when floor ran first, as -bench . runs them).
// scripts/bench alternates the two, COUNT times, and shows the ratio of
// their medians.
func BenchmarkThroughput(b *testing.B) {
	var floor float64
	b.Run("floor", func(b *testing.B) {
		floor = throughputFloor(b)
	})
	b.Run("taskd", func(b *testing.B) {
		rate := throughputTaskd(b)
		if floor > 0 {
			b.ReportMetric(rate/floor, "x-floor")
		}
	})
}

// throughputSlots is how many tasks run at once (taskd's -max-running), and
// throughputClients how many clients send creates.
const (
	throughputSlots   = 8
	throughputClients = 16
)

// throughputFloor runs b.N shells, throughputSlots at a time, and reports
// and returns the rate.
func throughputFloor(b *testing.B) float64 {
	b.ResetTimer()
	start := time.Now()
	if err := eachOfN(b.N, throughputSlots, func() error {
		return exec.Command("/bin/sh", "-c", "true").Run()
	}); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	return reportRate(b, elapsed)
}

// eachOfN calls op n times in all, from workers goroutines, and returns the
// first error (a worker that meets one stops).
func eachOfN(n, workers int, op func() error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := op(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when the channel is empty
}

// throughputTaskd starts taskd, has throughputClients clients create b.N
// tasks of `true`, waits for all of them to succeed, and reports and
// returns the rate.
func throughputTaskd(b *testing.B) float64 {
	b.StopTimer()
	d := startBenchTaskd(b)
	body := `{"command":"true"}`

	b.StartTimer()
	start := time.Now()
	if err := eachOfN(b.N, throughputClients, func() error {
		status, resp, err := d.send("POST", "/v3/apps/bench/tasks", body)
		if err == nil && status != http.StatusAccepted {
			err = fmt.Errorf("create: %d %s", status, resp)
		}
		return err
	}); err != nil {
		b.Fatal(err)
	}
	// The clients wait for their tasks without polling: a long poll on
	// the newest task not ended yet (among the last to end), until none
	// is left. The clock stops within a list request of the last end.
	for {
		n, guid, err := d.first("states=PENDING,RUNNING,CANCELING&order_by=-created_at")
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		status, resp, err := d.send("GET", "/v3/tasks/"+guid+"?wait=60s", "")
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("long poll: %d %s", status, resp)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if failed, _, err := d.first("states=FAILED"); err != nil || failed > 0 {
		b.Fatalf("%d tasks of `true` failed (%v)", failed, err)
	}
	return reportRate(b, elapsed)
}

func reportRate(b *testing.B, elapsed time.Duration) float64 {
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "tasks/s")
	return rate
}

// benchTaskd is a taskd started for a benchmark, and the client that
// sends it requests: one connection per client kept alive, as a busy
// client would (http.DefaultClient keeps two per host).
type benchTaskd struct {
	*taskd
	client *http.Client
}

// startBenchTaskd starts taskd as the tests do, with -max-running
// throughputSlots; it is killed when b ends.
func startBenchTaskd(b *testing.B) *benchTaskd {
	b.Helper()
	d := startTaskdWith(b, nil, nil, "-max-running", fmt.Sprint(throughputSlots))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: throughputClients}}
	b.Cleanup(client.CloseIdleConnections)
	return &benchTaskd{taskd: d, client: client}
}

func (d *benchTaskd) send(method, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, d.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "bearer "+d.token)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// first returns how many tasks the list query (without per_page) finds,
// and the guid of the first, from one list request.
func (d *benchTaskd) first(query string) (int, string, error) {
	status, body, err := d.send("GET", "/v3/tasks?per_page=1&"+query, "")
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("list: %d %s", status, body)
	}
	if err != nil {
		return 0, "", err
	}
	var page struct {
		Pagination struct {
			TotalResults int `json:"total_results"`
		} `json:"pagination"`
		Resources []struct {
			GUID string `json:"guid"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return 0, "", err
	}
	if len(page.Resources) == 0 {
		return page.Pagination.TotalResults, "", nil
	}
	return page.Pagination.TotalResults, page.Resources[0].GUID, nil
}
