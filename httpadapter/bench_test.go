package httpadapter_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmarks
// measure the handlers rather than a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkCancel compares the cancel route with its baseline in the same
// run: a bare handler writing a body of the same size. The cancel repeats on
// a CANCELING task, so every iteration does the same work (auth, load,
// guarded no-op transition, render).
func BenchmarkCancel(b *testing.B) {
	svc := tasklife.New(memstore.New())
	h := httpadapter.New(svc, httpadapter.BearerToken("s3cret"), httpadapter.WithBaseURL("https://api.example.com"))
	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "sleep 60", DropletGUID: "d"})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/v3/tasks/"+task.GUID+"/actions/cancel", nil)
	r.Header.Set("Authorization", "bearer s3cret")
	probe := httptest.NewRecorder()
	h.ServeHTTP(probe, r)
	if probe.Code != http.StatusAccepted {
		b.Fatalf("status %d: %s", probe.Code, probe.Body)
	}
	body := probe.Body.Bytes()
	bare := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(body)
	})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare", bare}, {"adapter", h}} {
		b.Run(bc.name, func(b *testing.B) {
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				bc.h.ServeHTTP(w, r)
			}
		})
		// Over loopback, as a client sees it: one keep-alive connection.
		b.Run(bc.name+"-http", func(b *testing.B) {
			srv := httptest.NewServer(bc.h)
			defer srv.Close()
			client := srv.Client()
			target := srv.URL + r.URL.Path
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, target, nil)
				req.Header.Set("Authorization", "bearer s3cret")
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusAccepted {
					b.Fatal(res.Status)
				}
			}
		})
	}
}
