package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// FuzzCreateBody sends arbitrary bodies and credentials to the create route:
// never a panic, never a 5xx, every refusal in the CF error envelope and
// with nothing stored, every 202 a stored task.
func FuzzCreateBody(f *testing.F) {
	for _, body := range []string{
		`{"command":"true"}`,
		`{"command":"echo hi","name":"n","memory_in_mb":256,"disk_in_mb":1024,"metadata":{"labels":{"a":"b"},"annotations":{"c":"d"}}}`,
		`{"command":`, `[]`, `null`, ``, `{"foo":1}`, `{"command":"a\u0000b"}`,
		`{"command":"true","memory_in_mb":1e400}`, `{"command":"true","metadata":{"labels":{"":"x"}}}`,
	} {
		f.Add(body, true)
	}
	f.Add(`{"command":"true"}`, false)
	f.Fuzz(func(t *testing.T, body string, authorized bool) {
		svc := tasklife.New(memstore.New())
		h := newHandler(svc, storeOnly{svc}, "secret", "http://taskd.test", slog.New(slog.DiscardHandler))
		r := httptest.NewRequest(http.MethodPost, "/v3/apps/app-1/tasks", strings.NewReader(body))
		if authorized {
			r.Header.Set("Authorization", "bearer secret")
		} else {
			r.Header.Set("Authorization", "bearer wrong")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		page, err := svc.List(context.Background(), tasklife.ListQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if w.Code >= 500 {
			t.Fatalf("5xx for body %q: %d %s", body, w.Code, w.Body)
		}
		if w.Code == http.StatusAccepted {
			var task struct {
				GUID, Command string
			}
			if err := json.Unmarshal(w.Body.Bytes(), &task); err != nil || task.GUID == "" {
				t.Fatalf("202 without a task: %s", w.Body)
			}
			if !authorized || page.TotalResults != 1 || page.Tasks[0].GUID != task.GUID {
				t.Fatalf("202 must mean one stored task for an authorized caller; stored %d", page.TotalResults)
			}
			return
		}
		if page.TotalResults != 0 {
			t.Fatalf("refused with %d but stored a task", w.Code)
		}
		if !authorized && w.Code != http.StatusUnauthorized {
			t.Fatalf("a wrong token must be 401, got %d", w.Code)
		}
		var env cfError
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || len(env.Errors) != 1 ||
			env.Errors[0].Title == "" || env.Errors[0].Code == 0 || env.Errors[0].Detail == "" {
			t.Fatalf("%d without the CF envelope: %s", w.Code, w.Body)
		}
	})
}
