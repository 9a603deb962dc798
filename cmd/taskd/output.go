package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/tasklife/tasklife/internal/logname"
)

// A task's output goes to taskd's log, a record per line. What one task can
// make taskd write is bounded twice over:
//
//   - a line is logged up to maxLogLine bytes; the rest of it is dropped and
//     the record says truncated=true, so one endless line is one record;
//   - the task's log_rate_limit_in_bytes_per_second is enforced as Diego's
//     executor does (cloudfoundry/executor depot/log_streamer/
//     log_rate_limiter.go): a token bucket filled at the limit, holding at
//     most one second's worth, shared by stdout and stderr; a line that does
//     not fit is dropped whole, and "app instance exceeded log rate limit
//     (N bytes/sec)" is logged instead, at most once per
//     rateReportInterval (the executor's LogRateLimitExceededLogInterval),
//     with how much was dropped since the last report. A limit of 0 logs no
//     output at all; -1 is unlimited;
//   - a log record costs taskd more than the bytes of its line, so a task
//     writing empty lines would still make it write a lot: like the
//     executor's maxLogLinesPerSecond, taskd's -log-lines-per-second caps
//     the lines logged per task whatever its byte limit ("app instance
//     exceeded log rate limit (N log-lines/sec) set by platform operator").

// maxLogLine is the longest piece of a line that is logged.
const maxLogLine = 16 << 10

// rateReportInterval is how often, at most, dropped output is reported.
const rateReportInterval = time.Second

// Once a task's process group is gone, its output is read until the pipes
// reach their end. If they do not, a process outside the group holds them:
// they are closed once they are empty (pipeUnread) and reading has stalled
// for outputDrain, or after outputDrainMax whatever they hold, which is
// then reported lost. A loaded taskd can take a while to log what the pipes
// held (64 KiB, more if the task enlarged them).
const (
	outputDrain    = 250 * time.Millisecond
	outputDrainMax = 5 * time.Second
)

// outputLog logs one task's output within its log rate limit.
type outputLog struct {
	// log returns the task's logger, made the first time it is asked for.
	log func() *slog.Logger

	limit      int64         // bytes per second; -1: unlimited
	bucket     *rate.Limiter // nil when unlimited
	lineLimit  int           // lines per second; 0: uncapped
	lineBucket *rate.Limiter // nil when uncapped
	now        func() time.Time
	mu         sync.Mutex
	lines      int64        // dropped since the last report
	bytes      int64        // dropped since the last report
	why        string       // the report for the last line dropped
	warned     time.Time    // when the last report was logged
	reports    int          // logged so far
	read       atomic.Int64 // bytes read, for drainOutput to see progress
	// logs, when set, keeps the lines logged, and the reports, as the
	// task guid's output (tasklogs.go).
	logs *taskLogs
	guid string
}

// newOutputLog logs through log() at most limit bytes (-1: unlimited) and
// lineLimit lines (0: uncapped) per second, and a second's worth at once.
func newOutputLog(log func() *slog.Logger, limit int64, lineLimit int) *outputLog {
	o := &outputLog{log: log, limit: limit, lineLimit: lineLimit, now: time.Now}
	if limit >= 0 {
		o.bucket = rate.NewLimiter(rate.Limit(limit), int(min(limit, 1<<30)))
	}
	if lineLimit > 0 {
		o.lineBucket = rate.NewLimiter(rate.Limit(lineLimit), lineLimit)
	}
	return o
}

// lineReaders holds the readers copyLines has finished with: two buffers of
// maxLogLine per task were most of what taskd allocated, and so most of
// its garbage collection.
var lineReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, maxLogLine) }}

// copyLines logs each line read from r until it ends.
func (o *outputLog) copyLines(r io.Reader, stream string) {
	br := lineReaders.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil)
		lineReaders.Put(br)
	}()
	for {
		line, err := br.ReadSlice('\n')
		o.read.Add(int64(len(line)))
		truncated := errors.Is(err, bufio.ErrBufferFull)
		if len(line) > 0 {
			o.line(stream, strings.TrimRight(string(line), "\r\n"), truncated)
		}
		if truncated {
			err = o.skipLine(br)
		}
		if err != nil {
			return
		}
	}
}

// skipLine discards the rest of a line longer than maxLogLine.
func (o *outputLog) skipLine(br *bufio.Reader) error {
	for {
		rest, err := br.ReadSlice('\n')
		o.read.Add(int64(len(rest)))
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// line logs one line, or counts it dropped when it is over the limit. It
// costs its bytes and its newline, as the task wrote them.
func (o *outputLog) line(stream, text string, truncated bool) {
	cost := len(text) + 1
	now := o.now()
	if o.bucket != nil && !o.bucket.AllowN(now, cost) {
		o.drop(cost, fmt.Sprintf("app instance exceeded log rate limit (%d bytes/sec)", o.limit))
		return
	}
	if o.lineBucket != nil && !o.lineBucket.AllowN(now, 1) {
		o.drop(cost, fmt.Sprintf("app instance exceeded log rate limit (%d log-lines/sec) set by platform operator", o.lineLimit))
		return
	}
	o.keep(now, stream, text, truncated)
	if truncated {
		o.log().Info("task output", "stream", stream, "line", text, "truncated", true)
		return
	}
	o.log().Info("task output", "stream", stream, "line", text)
}

// keep tees a line into the task's log, if it has one.
func (o *outputLog) keep(now time.Time, stream, text string, truncated bool) {
	if o.logs != nil {
		o.logs.add(o.guid, logLine{time: now, stream: stream, text: text, truncated: truncated})
	}
}

// drop counts a dropped line and reports it with why, unless a report was
// logged less than rateReportInterval ago.
func (o *outputLog) drop(cost int, why string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lines++
	o.bytes += int64(cost)
	o.why = why
	if now := o.now(); o.reports == 0 || now.Sub(o.warned) >= rateReportInterval {
		o.warned = now
		o.report()
	}
}

// report logs what was dropped since the last report. o.mu is held.
func (o *outputLog) report() {
	o.reports++
	o.log().Warn(o.why, "dropped_lines", o.lines, "dropped_bytes", o.bytes)
	o.keep(o.now(), "taskd", fmt.Sprintf("%s: dropped %d lines, %d bytes", o.why, o.lines, o.bytes), false)
	o.lines, o.bytes = 0, 0
}

// close reports what was dropped since the last report, once the output has
// ended: every dropped byte is accounted for.
func (o *outputLog) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.lines > 0 {
		o.report()
	}
	if o.logs != nil {
		o.logs.end(o.guid)
	}
}

// drainOutput waits for the output readers to reach the end of the pipes,
// or closes the pipes (see outputDrain).
func (p *process) drainOutput(log *logname.Task) {
	drained := p.drained
	tick := time.NewTicker(outputDrain)
	defer tick.Stop()
	deadline := time.Now().Add(outputDrainMax)
	last := p.out.read.Load()
	for {
		select {
		case <-drained:
			return
		case now := <-tick.C:
			n, unread := p.out.read.Load(), 0
			for _, st := range p.streams {
				unread += st.unread()
			}
			if (n == last && unread == 0) || now.After(deadline) {
				for _, st := range p.streams {
					st.close()
				}
				<-drained
				if unread > 0 {
					log.Warn("task's output could not all be read: a process that left its group still writes", slog.Int("unread_bytes", unread))
				}
				return
			}
			last = n
		}
	}
}
