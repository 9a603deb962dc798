package httpadapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
)

// A Cloud Foundry client cancels a task.
func Example() {
	svc := tasklife.New(memstore.New())
	h := httpadapter.New(svc, httpadapter.BearerToken("s3cret"), httpadapter.WithBaseURL("https://api.example.com"))

	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "my-app", Command: "sleep 60"})
	if err != nil {
		log.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/v3/tasks/"+task.GUID+"/actions/cancel", nil)
	r.Header.Set("Authorization", "bearer s3cret")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)

	var got struct {
		State string `json:"state"`
		Links map[string]struct {
			Href string `json:"href"`
		} `json:"links"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.Code, got.State, got.Links["app"].Href)
	// Output: 202 CANCELING https://api.example.com/v3/apps/my-app
}

// The package documentation's three lines, which the README repeats: the
// API on port 8080, for clients that send the token. It serves until the
// server fails, so it is compiled but not run.
func Example_serve() {
	token := os.Getenv("TASKS_TOKEN")
	if token == "" {
		log.Fatal("TASKS_TOKEN must hold the token clients send as Authorization: bearer <token>")
	}
	svc := tasklife.New(memstore.New())
	h := httpadapter.New(svc, httpadapter.BearerToken(token),
		httpadapter.WithBaseURL("https://api.example.com"))
	log.Fatal(http.ListenAndServe(":8080", h))
}

// A Handler mounted under /cf of a larger server: its links carry the
// prefix, and unknown paths under it get the CF error envelope.
func Example_mount() {
	svc := tasklife.New(memstore.New())
	token := "s3cret"
	mux := http.NewServeMux()
	h := httpadapter.New(svc, httpadapter.BearerToken(token),
		httpadapter.WithBaseURL("https://example.com/cf"))
	mux.Handle("/cf/", http.StripPrefix("/cf", h))

	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "my-app", Command: "make"})
	if err != nil {
		log.Fatal(err)
	}
	get := func(path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("Authorization", "bearer "+token)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}

	w := get("/cf/v3/tasks/" + task.GUID)
	var got struct {
		Links map[string]struct {
			Href string `json:"href"`
		} `json:"links"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.Code, got.Links["app"].Href)
	w = get("/cf/v3/nope")
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// 200 https://example.com/cf/v3/apps/my-app
	// 404 {"errors":[{"detail":"Unknown request","title":"CF-NotFound","code":10000}]}
}

// A host adds a route of its own next to the adapter's, with the same
// authentication, error envelope and task JSON.
func ExampleHandler_Handle() {
	svc := tasklife.New(memstore.New())
	h := httpadapter.New(svc, httpadapter.BearerToken("s3cret"))
	h.Handle("POST /v3/apps/{guid}/tasks", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := h.AuthenticateToWrite(w, r); !ok {
			return // the 401 or 403 is written
		}
		var body struct {
			Command string `json:"command"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			h.WriteError(w, r, httpadapter.MessageParseError(err.Error()))
			return
		}
		if body.Command == "" {
			h.WriteError(w, r, httpadapter.UnprocessableEntity("No command or template provided"))
			return
		}
		t, err := svc.Create(r.Context(), tasklife.NewTask{AppGUID: r.PathValue("guid"), Command: body.Command})
		if err != nil {
			h.WriteError(w, r, err) // the one mapping from Go errors to CF errors
			return
		}
		h.WriteTask(w, r, http.StatusAccepted, t, true) // the caller wrote the command
	}))

	for _, body := range []string{`{"command":"make"}`, `{}`, `[`} {
		r := httptest.NewRequest(http.MethodPost, "/v3/apps/my-app/tasks", strings.NewReader(body))
		r.Header.Set("Authorization", "bearer s3cret")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code)
	}
	r := httptest.NewRequest(http.MethodPost, "/v3/apps/my-app/tasks", strings.NewReader(`{"command":"make"}`)) // no token
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// 202
	// 422
	// 400
	// 401 {"errors":[{"detail":"Authentication error","title":"CF-NotAuthenticated","code":10002}]}
}

// Go errors become Cloud Foundry errors in one place.
func ExampleHandler_WriteError() {
	h := httpadapter.New(tasklife.New(memstore.New()), httpadapter.InsecureAllowAll())
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/v3/tasks/x", nil)
	h.WriteError(w, r, &tasklife.TransitionError{GUID: "x", Event: tasklife.EventCancel, State: tasklife.StateSucceeded})
	fmt.Println(w.Code, w.Body.String())
	// Output: 422 {"errors":[{"detail":"Task state is SUCCEEDED and therefore cannot be canceled","title":"CF-UnprocessableEntity","code":10008}]}
}
