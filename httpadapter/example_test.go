package httpadapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
)

// A Cloud Foundry client cancels a task.
func Example() {
	svc := tasklife.New(memstore.New())
	h := httpadapter.New(svc, httpadapter.BearerToken("s3cret"), httpadapter.WithBaseURL("https://api.example.com"))

	task, _ := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "my-app", Command: "sleep 60"})
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
	_ = json.Unmarshal(w.Body.Bytes(), &got)
	fmt.Println(w.Code, got.State, got.Links["app"].Href)
	// Output: 202 CANCELING https://api.example.com/v3/apps/my-app
}

// A host adds a route of its own next to the adapter's, with the same
// authentication, error envelope and task JSON.
func ExampleHandler_Handle() {
	svc := tasklife.New(memstore.New())
	h := httpadapter.New(svc, httpadapter.BearerToken("s3cret"))
	h.Handle("POST /v3/apps/{guid}/tasks", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := h.AuthenticateToWrite(w, r); !ok {
			return
		}
		command := r.URL.Query().Get("command")
		if command == "" {
			h.WriteError(w, r, httpadapter.UnprocessableEntity("No command or template provided"))
			return
		}
		task, err := svc.Create(r.Context(), tasklife.NewTask{AppGUID: r.PathValue("guid"), Command: command})
		if err != nil {
			h.WriteError(w, r, err)
			return
		}
		h.WriteTask(w, r, http.StatusAccepted, task, true)
	}))

	for _, target := range []string{"/v3/apps/my-app/tasks", "/v3/apps/my-app/tasks?command=make"} {
		r := httptest.NewRequest(http.MethodPost, target, nil)
		r.Header.Set("Authorization", "bearer s3cret")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code)
	}
	r := httptest.NewRequest(http.MethodPost, "/v3/apps/my-app/tasks", nil) // no token
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// 422
	// 202
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
