package httpadapter_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
)

const benchToken = "s3cret"

// benchChunk is how many RUNNING tasks BenchmarkHTTPCancel prepares, timer
// stopped, before it cancels them.
const benchChunk = 4096

// BenchmarkHTTPCancel measures POST /v3/tasks/{guid}/actions/cancel over
// real loopback TCP with one keep-alive client, each request a RUNNING ->
// CANCELING transition (auth, load, guarded write, render). The baseline is
// a bare net/http handler on the same route pattern writing a pre-encoded
// body of the same size with 202.
func BenchmarkHTTPCancel(b *testing.B) {
	ctx := context.Background()
	svc := tasklife.New(memstore.New())
	h := httpadapter.New(svc, httpadapter.BearerToken(benchToken), httpadapter.WithBaseURL("https://api.example.com"))

	running := func(b *testing.B, n int) []string {
		guids := make([]string, n)
		for i := range guids {
			t, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "3f1b6d4e-2a7c-4e58-9d0b-6c1e2f3a4b5c", Command: "bin/run --job 0000001", DropletGUID: "d"})
			if err == nil {
				_, err = svc.Start(ctx, t.GUID)
			}
			if err != nil {
				b.Fatal(err)
			}
			guids[i] = t.GUID
		}
		return guids
	}

	body, baseline := baselineFor(b, h, running(b, 1)[0])
	bare := http.NewServeMux()
	bare.Handle("POST /v3/tasks/{guid}/actions/cancel", baseline)

	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"adapter", h}, {"baseline-nethttp", bare}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(bc.h)
			defer srv.Close()
			client := srv.Client()
			b.ReportAllocs()
			for done := 0; done < b.N; {
				b.StopTimer()
				guids := running(b, min(benchChunk, b.N-done))
				runtime.GC() // the setup's garbage is not the request's
				b.StartTimer()
				for _, g := range guids {
					req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v3/tasks/"+g+"/actions/cancel", nil)
					req.Header.Set("Authorization", "bearer "+benchToken)
					res, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					n, _ := io.Copy(io.Discard, res.Body)
					res.Body.Close()
					// Within a few bytes of the baseline's: sequence ids grow.
					if res.StatusCode != http.StatusAccepted || n < int64(len(body))-8 || n > int64(len(body))+8 {
						b.Fatalf("%s: %d bytes", res.Status, n)
					}
				}
				done += len(guids)
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing, so
// BenchmarkHandlerCancel measures the handlers rather than a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkHandlerCancel is the in-process view, without TCP: a repeated
// cancel of a CANCELING task (auth, load, guarded no-op, render) against a
// bare handler writing a body of the same size.
func BenchmarkHandlerCancel(b *testing.B) {
	svc := tasklife.New(memstore.New())
	h := httpadapter.New(svc, httpadapter.BearerToken(benchToken), httpadapter.WithBaseURL("https://api.example.com"))
	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "sleep 60", DropletGUID: "d"})
	if err != nil {
		b.Fatal(err)
	}
	r := cancelRequest(task.GUID)
	_, bare := baselineFor(b, h, task.GUID)
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"adapter", h}, {"baseline-bare", bare}} {
		b.Run(bc.name, func(b *testing.B) {
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				bc.h.ServeHTTP(w, r)
			}
		})
	}
}

func cancelRequest(guid string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v3/tasks/"+guid+"/actions/cancel", nil)
	r.Header.Set("Authorization", "bearer "+benchToken)
	return r
}

// baselineFor cancels guid through h once and returns the body it answered
// and a bare handler that writes that body with 202: the baseline.
func baselineFor(b *testing.B, h http.Handler, guid string) ([]byte, http.Handler) {
	b.Helper()
	probe := httptest.NewRecorder()
	h.ServeHTTP(probe, cancelRequest(guid))
	if probe.Code != http.StatusAccepted {
		b.Fatalf("status %d: %s", probe.Code, probe.Body)
	}
	body := probe.Body.Bytes()
	return body, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(body)
	})
}
