package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSlowClientFloodIsBounded floods taskd with clients that hold
// connections (a declared body never sent, with and without a token, a
// chunked body that never ends, headers never finished, idle keep-alive)
// while a normal client makes requests: every flood connection is closed
// by taskd within its timeouts, taskd never holds more descriptors than
// -max-connections allows, and the normal client's requests all succeed.
func TestSlowClientFloodIsBounded(t *testing.T) {
	t.Parallel()
	const (
		maxConns = 8
		timeout  = 500 * time.Millisecond
		perKind  = 10
	)
	d := startTaskd(t, nil, "-max-connections", strconv.Itoa(maxConns), "-read-timeout", timeout.String(), "-idle-timeout", timeout.String())
	pid := d.cmd.Process.Pid
	addr := strings.TrimPrefix(d.base, "http://")
	// One request first, so that the descriptors a first request opens for
	// good (the runtime's) are in the baseline; its own is closed once it
	// reads EOF.
	require.NoError(t, holdConnection(addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
	baseline := countFDs(t, pid)

	auth := "Authorization: bearer " + d.token + "\r\n"
	floods := []string{
		"POST /v3/apps/a/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
		"POST /v3/apps/a/tasks HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 1000\r\n\r\n{",
		"POST /v3/apps/a/tasks HTTP/1.1\r\nHost: x\r\n" + auth + "Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n",
		"GET /v3/tasks HTTP/1.1\r\nHost: x\r\n",
		"GET /v3/tasks HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", // then idle
	}
	start := time.Now()
	var flood sync.WaitGroup
	var lastClosed atomic.Int64
	errs := make(chan error, perKind*len(floods))
	for i := range perKind * len(floods) {
		flood.Go(func() {
			if err := holdConnection(addr, floods[i%len(floods)]); err != nil {
				errs <- err
			}
			lastClosed.Store(int64(time.Since(start)))
		})
	}

	// Descriptors and memory, sampled until the flood is over.
	var maxFDs, maxRSS int
	sampled := make(chan struct{})
	floodOver := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			maxFDs, maxRSS = max(maxFDs, countFDs(t, pid)), max(maxRSS, rssKB(pid))
			select {
			case <-floodOver:
				return
			case <-tick.C:
			}
		}
	}()

	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var slowest time.Duration
	for range 5 {
		req, err := http.NewRequest("GET", d.base+"/v3/tasks", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "bearer "+d.token)
		began := time.Now()
		resp, err := client.Do(req)
		require.NoError(t, err, "a normal request during the flood")
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		slowest = max(slowest, time.Since(began))
	}
	flood.Wait()
	close(floodOver)
	<-sampled
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	t.Logf("%d flood connections, all closed by taskd after %v; normal requests: slowest %v; taskd descriptors: %d before, at most %d during; RSS at most %d kB",
		perKind*len(floods), time.Duration(lastClosed.Load()), slowest, baseline, maxFDs, maxRSS)
	require.LessOrEqual(t, maxFDs, baseline+maxConns+1, "descriptors bounded by -max-connections")
}

// holdConnection sends raw and then nothing more, reading until taskd
// closes the connection; it fails if taskd has not within 20 s.
func holdConnection(addr, raw string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		return err
	}
	if _, err := io.WriteString(c, raw); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, bufio.NewReader(c))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("taskd kept a flood connection open for 20 s")
	}
	return nil // EOF, or a reset: closed by taskd
}

// countFDs counts the open descriptors of process pid.
func countFDs(t *testing.T, pid int) int {
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	require.NoError(t, err)
	return len(entries)
}

// rssKB is process pid's resident memory in kB, 0 if unknown.
func rssKB(pid int) int {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}
