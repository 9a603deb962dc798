package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// serveTest serves the test handler as taskd does (newServer, boundListener)
// on a loopback port and returns its address.
func serveTest(t *testing.T, l limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := newServer(newTestHandler(t), l, slog.New(slog.DiscardHandler))
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(boundListener(ln, l.maxConns))
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
	})
	return ln.Addr().String()
}

// exchange sends raw on a new connection and reads until the server closes
// it: the answer and how long the close took.
func exchange(t *testing.T, addr, raw string) (*http.Response, []byte, time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	start := time.Now()
	require.NoError(t, c.SetDeadline(start.Add(20*time.Second)))
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	_, err = br.ReadByte()
	var ne net.Error
	// EOF, or a reset when the server closed with input unread.
	require.False(t, err == nil || errors.As(err, &ne) && ne.Timeout(), "the server must close the connection: %v", err)
	return resp, body, time.Since(start)
}

var testLimits = limits{maxConns: 16, readTimeout: 30 * time.Second, idleTimeout: 30 * time.Second, dbTimeout: 5 * time.Second}

// TestUnreadBodyIsNotAwaited: a request refused before its body is read is
// answered at once and its connection closed, however long the read timeout:
// net/http alone would wait for up to 256 KiB of body before answering.
func TestUnreadBodyIsNotAwaited(t *testing.T) {
	t.Parallel()
	addr := serveTest(t, testLimits)
	for _, tc := range []struct {
		name, raw string
		status    int
	}{
		{"declared body never sent", "POST /v3/apps/a/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", 401},
		{"chunked body that never ends", "POST /v3/apps/a/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nabc", 401},
		{"wrong token", "POST /v3/apps/a/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: bearer no\r\nContent-Length: 1000\r\n\r\n{", 401},
		{"a body on a GET", "GET /v3/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: bearer secret\r\nContent-Length: 1000\r\n\r\n", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body, took := exchange(t, addr, tc.raw)
			require.Equal(t, tc.status, resp.StatusCode, "%s", body)
			require.Less(t, took, testLimits.readTimeout/2, "answered and closed long before the read timeout")
		})
	}
}

// TestNetHTTPErrorsInCFEnvelope: what net/http answers by itself, before any
// handler, comes in the CF envelope.
func TestNetHTTPErrorsInCFEnvelope(t *testing.T) {
	t.Parallel()
	addr := serveTest(t, testLimits)
	for _, tc := range []struct {
		name, raw string
		status    int
		detail    string
	}{
		{"headers over the limit", "GET /v3/tasks HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", maxHeaderBytes+8<<10) + "\r\n\r\n", 431, "Request Header Fields Too Large"},
		{"bad escape in the path", "GET /v3/tasks/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Bad Request"},
		{"no Host", "GET /v3/tasks HTTP/1.1\r\n\r\n", 400, "Bad Request: missing required Host header"},
		{"two Content-Lengths", "POST /v3/apps/a/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, "Bad Request"},
		{"unknown transfer encoding", "POST /v3/apps/a/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "Unsupported transfer encoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body, _ := exchange(t, addr, tc.raw)
			require.Equal(t, tc.status, resp.StatusCode, "%s", body)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var got cfError
			require.NoError(t, json.Unmarshal(body, &got), "%s", body)
			require.Len(t, got.Errors, 1)
			require.Equal(t, "CF-InvalidRequest", got.Errors[0].Title)
			require.Equal(t, 10004, got.Errors[0].Code)
			require.True(t, strings.HasPrefix(got.Errors[0].Detail, "The request is invalid: "+tc.detail), got.Errors[0].Detail)
		})
	}
	// An ordinary answer passes untouched.
	resp, body, _ := exchange(t, addr, "GET /v3/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.JSONEq(t, `{"errors":[{"detail":"Unknown request","title":"CF-NotFound","code":10000}]}`, string(body))
}

// TestKeepAliveAfterAReadBody: a request whose body was read keeps its
// connection.
func TestKeepAliveAfterAReadBody(t *testing.T) {
	t.Parallel()
	addr := serveTest(t, testLimits)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
	br := bufio.NewReader(c)
	for range 2 {
		_, err = io.WriteString(c, "POST /v3/apps/a/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: bearer secret\r\nContent-Length: 18\r\n\r\n{\"command\":\"true\"}")
		require.NoError(t, err)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		require.False(t, resp.Close)
	}
	require.False(t, errors.Is(err, io.EOF))
}
