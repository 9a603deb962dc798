package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// taskOutput is what taskd logged of one task's output.
type taskOutput struct {
	lines, bytes           int // logged: lines, and their bytes with newlines
	truncated              int // logged lines cut at maxLogLine
	reports                []string
	droppedL, droppedBytes int // summed over the reports
}

var (
	outputRecord = regexp.MustCompile(`msg="task output" .*? line=("(?:[^"\\]|\\.)*"|\S*)( truncated=true)?$`)
	reportRecord = regexp.MustCompile(`level=WARN msg="(app instance exceeded log rate limit [^"]*)" .* dropped_lines=(\d+) dropped_bytes=(\d+)$`)
)

// outputOf parses the records log holds for the task guid.
func outputOf(t *testing.T, log, guid string) taskOutput {
	t.Helper()
	var o taskOutput
	for rec := range strings.Lines(log) {
		rec = strings.TrimSuffix(rec, "\n")
		if !strings.Contains(rec, "task_guid="+guid+" ") {
			continue
		}
		if m := outputRecord.FindStringSubmatch(rec); m != nil {
			line := m[1]
			if strings.HasPrefix(line, `"`) {
				var err error
				line, err = strconv.Unquote(line)
				require.NoError(t, err, "%s", rec)
			}
			o.lines++
			o.bytes += len(line) + 1
			if m[2] != "" {
				o.truncated++
			}
		}
		if m := reportRecord.FindStringSubmatch(rec); m != nil {
			o.reports = append(o.reports, m[1])
			n, _ := strconv.Atoi(m[2])
			b, _ := strconv.Atoi(m[3])
			o.droppedL += n
			o.droppedBytes += b
		}
	}
	return o
}

// createWith creates a task from a JSON body and waits until it succeeds;
// it returns the task and how long that took, at most.
func (d *taskd) createWith(body string, within time.Duration) (task, time.Duration) {
	d.t.Helper()
	start := time.Now()
	status, b := d.do("POST", "/v3/apps/app-1/tasks", body)
	require.Equal(d.t, http.StatusAccepted, status, "%s", b)
	created := decodeTask(d.t, b)
	d.await(created.GUID, "SUCCEEDED", within)
	return created, time.Since(start)
}

func logSize(t *testing.T, d *taskd) int64 {
	t.Helper()
	fi, err := os.Stat(d.log.path)
	require.NoError(t, err)
	return fi.Size()
}

// TestOutputOverTheLimitIsDroppedAndReported: a task that writes 10 MB,
// far more than its 2000 bytes/s, grows taskd's log by about what the
// limit allows for the time it ran, and every byte it wrote is either
// logged or counted in a report; reports come at most once a second.
func TestOutputOverTheLimitIsDroppedAndReported(t *testing.T) {
	t.Parallel()
	const limit, total = 2000, 10_000_000
	d := startTaskd(t, nil, "-log-rate-limit", strconv.Itoa(limit))
	before := logSize(t, d)
	line := strings.Repeat("0123456789", 10)[:99] // 100 bytes with its newline
	tk, took := d.createWith(fmt.Sprintf(`{"command":"yes %s | head -c %d"}`, line, total), 60*time.Second)
	require.Equal(t, int64(limit), d.getLogRate(tk.GUID), "the default applies to a task created without a limit")
	grown := logSize(t, d) - before

	o := outputOf(t, d.log.String(), tk.GUID)
	secs := took.Seconds()
	allowed := limit * (secs + 1) // a second's worth at once, then the rate
	t.Logf("ran %.2fs: logged %d lines (%d bytes), %d reports, log grew %d bytes", secs, o.lines, o.bytes, len(o.reports), grown)
	require.LessOrEqual(t, float64(o.bytes), allowed)
	require.Positive(t, o.lines)
	require.Equal(t, total, o.bytes+o.droppedBytes, "every byte logged or reported dropped")
	require.Equal(t, total/100, o.lines+o.droppedL)
	require.Contains(t, o.reports, fmt.Sprintf("app instance exceeded log rate limit (%d bytes/sec)", limit))
	require.LessOrEqual(t, float64(len(o.reports)), secs+2, "at most one report a second, and a last one")
	// A record carries its line and about 150 bytes of time, level, guid
	// and name: for 100-byte lines, less than 3 times the line.
	require.Less(t, float64(grown), 3*allowed+float64(300*len(o.reports))+2000)
}

// TestOutputWithinTheLimitLosesNothing: a task that writes less than its
// limit in a second, in fewer lines than the line cap, has every line
// logged and no report.
func TestOutputWithinTheLimitLosesNothing(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil, "-log-rate-limit", "0")
	tk, _ := d.createWith(`{"command":"seq 1 150","log_rate_limit_in_bytes_per_second":1000}`, 10*time.Second)
	require.Equal(t, int64(1000), d.getLogRate(tk.GUID))
	o := outputOf(t, d.log.String(), tk.GUID)
	require.Equal(t, 150, o.lines)
	require.Equal(t, len(seq(150)), o.bytes)
	require.Empty(t, o.reports)
}

func seq(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintln(&b, i)
	}
	return b.String()
}

// TestOutputLongLineIsTruncated: a task without a limit that writes one
// 10 MB line gets one record of maxLogLine bytes, not 10 MB of them.
func TestOutputLongLineIsTruncated(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	before := logSize(t, d)
	tk, _ := d.createWith(`{"command":"head -c 10000000 /dev/zero | tr '\\0' x; echo; echo after","log_rate_limit_in_bytes_per_second":-1}`, 60*time.Second)
	require.Equal(t, int64(-1), d.getLogRate(tk.GUID))
	grown := logSize(t, d) - before
	o := outputOf(t, d.log.String(), tk.GUID)
	require.Equal(t, 2, o.lines, "the long line, cut, and the next one")
	require.Equal(t, 1, o.truncated)
	require.Equal(t, maxLogLine+1+len("after\n"), o.bytes)
	require.Less(t, grown, int64(maxLogLine+4000))
}

// TestOutputLinesAreCapped: a task without a byte limit that writes empty
// lines, each of which costs taskd a whole record, is held to
// -log-lines-per-second.
func TestOutputLinesAreCapped(t *testing.T) {
	t.Parallel()
	const perSecond, total = 50, 100_000
	d := startTaskd(t, nil, "-log-lines-per-second", strconv.Itoa(perSecond))
	tk, took := d.createWith(fmt.Sprintf(`{"command":"yes '' | head -c %d","log_rate_limit_in_bytes_per_second":-1}`, total), 60*time.Second)
	o := outputOf(t, d.log.String(), tk.GUID)
	require.LessOrEqual(t, float64(o.lines), perSecond*(took.Seconds()+1))
	require.Equal(t, total, o.lines+o.droppedL)
	require.Contains(t, o.reports, fmt.Sprintf("app instance exceeded log rate limit (%d log-lines/sec) set by platform operator", perSecond))
}

// TestOutputLogReportsOncePerInterval drives the limiter on a fake clock: a
// line over the budget is dropped whole and reported, later drops within
// the interval are only counted, and the budget refills with time.
func TestOutputLogReportsOncePerInterval(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	o := newOutputLog(func() *slog.Logger { return log }, 100, 0)
	now := time.Unix(1000, 0)
	o.now = func() time.Time { return now }
	line := strings.Repeat("x", 59)
	o.line("stdout", line, false)                     // 60 of 100
	o.line("stdout", line, false)                     // dropped, reported
	now = now.Add(500 * time.Millisecond)             // +50: 90
	o.line("stdout", strings.Repeat("y", 99), false)  // 100 > 90: dropped, counted
	o.line("stdout", line, false)                     // 60 of 90: logged
	now = now.Add(600 * time.Millisecond)             // +60: 90
	o.line("stdout", strings.Repeat("z", 100), false) // over the burst: never fits
	o.close()
	logged := buf.String()
	require.Equal(t, 2, strings.Count(logged, `msg="task output"`), "%s", logged)
	require.Contains(t, logged, `msg="app instance exceeded log rate limit (100 bytes/sec)" dropped_lines=1 dropped_bytes=60`)
	require.Contains(t, logged, `msg="app instance exceeded log rate limit (100 bytes/sec)" dropped_lines=2 dropped_bytes=201`)
	require.Equal(t, 2, strings.Count(logged, "exceeded log rate limit"), "%s", logged)
}

// getLogRate reads a task's log_rate_limit_in_bytes_per_second.
func (d *taskd) getLogRate(guid string) int64 {
	d.t.Helper()
	status, b := d.do("GET", "/v3/tasks/"+guid, "")
	require.Equal(d.t, http.StatusOK, status, "%s", b)
	var got struct {
		LogRate int64 `json:"log_rate_limit_in_bytes_per_second"`
	}
	require.NoError(d.t, json.Unmarshal(b, &got))
	return got.LogRate
}
