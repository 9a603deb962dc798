package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
)

// cfErrorListener answers, in the CF error envelope, the errors net/http
// writes by itself before any handler runs (431 for headers over the limit,
// 400 for a malformed request line, a bad %-escape in the path, a missing
// Host or a duplicate Content-Length, 501 for an unknown transfer
// encoding), so that clients can parse every error the same way.
type cfErrorListener struct{ net.Listener }

func (l cfErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return cfErrorConn{c}, nil
}

// cfErrorConn rewrites net/http's own error answers as they are written.
type cfErrorConn struct{ net.Conn }

// plainHeaders are the headers net/http gives its own error answers, and
// only those: it writes each such answer, whole, with one Write. Answers
// written through a handler carry their headers in sorted order, so
// Connection would come before Content-Type.
const plainHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

var plainError = regexp.MustCompile(`(?s)^HTTP/1\.1 ([45]\d\d) [^\r\n]*` + regexp.QuoteMeta(plainHeaders) + `(?:\d\d\d )?(.*)$`)

func (c cfErrorConn) Write(p []byte) (int, error) {
	if !bytes.Contains(p, []byte(plainHeaders)) {
		return c.Conn.Write(p)
	}
	m := plainError.FindSubmatch(p)
	if m == nil {
		return c.Conn.Write(p)
	}
	status, _ := strconv.Atoi(string(m[1]))
	body, _ := json.Marshal(map[string][]map[string]any{"errors": {{
		"detail": "The request is invalid: " + string(m[2]), "title": "CF-InvalidRequest", "code": 10004,
	}}})
	answer := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
	if _, err := c.Conn.Write([]byte(answer)); err != nil {
		return 0, err
	}
	return len(p), nil
}
