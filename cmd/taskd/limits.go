package main

import (
	"errors"
	"flag"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// limits bound what a client, a task or a hung database can make taskd
// hold: connections, time, log volume. They are flags with safe defaults.
type limits struct {
	maxConns    int
	readTimeout time.Duration
	idleTimeout time.Duration
	dbTimeout   time.Duration
	logRate     int64 // bytes/s for tasks created without a limit; -1: unlimited
	logLines    int   // lines/s logged per task, whatever its limit; 0: uncapped
}

func (l *limits) flags(fs *flag.FlagSet) {
	fs.IntVar(&l.maxConns, "max-connections", 512, "how many client connections taskd holds at once; more wait to be accepted")
	fs.DurationVar(&l.readTimeout, "read-timeout", 30*time.Second, "how long a client may take to send a whole request, headers and body")
	fs.DurationVar(&l.idleTimeout, "idle-timeout", 60*time.Second, "how long an idle keep-alive connection is kept")
	fs.Int64Var(&l.logRate, "log-rate-limit", 16<<10, "`bytes` per second of output taskd logs for a task created without log_rate_limit_in_bytes_per_second; -1: unlimited")
	fs.IntVar(&l.logLines, "log-lines-per-second", 200, "`lines` per second of output taskd logs for any task, whatever its byte limit; 0: no cap")
	fs.DurationVar(&l.dbTimeout, "database-timeout", 5*time.Second, "how long a request may wait for the task store (and a connection for PostgreSQL) before it is answered 503")
}

func (l *limits) check() error {
	switch {
	case l.maxConns < 1:
		return errors.New("-max-connections must be at least 1")
	case l.readTimeout <= 0, l.idleTimeout <= 0:
		return errors.New("-read-timeout and -idle-timeout must be positive")
	case l.dbTimeout <= 0:
		return errors.New("-database-timeout must be positive")
	case l.logRate < -1:
		return errors.New("-log-rate-limit must be -1 (unlimited) or more")
	case l.logLines < 0:
		return errors.New("-log-lines-per-second must not be negative")
	}
	return nil
}

// withConnectTimeout adds connect_timeout (whole seconds, rounded up) to a
// PostgreSQL URL or keyword/value string that does not set one, so that a
// connection attempt to a server that accepts and never answers ends.
func withConnectTimeout(dsn string, d time.Duration) string {
	secs := strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
	if strings.Contains(dsn, "connect_timeout") {
		return dsn
	}
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("connect_timeout", secs)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " connect_timeout=" + secs
}
