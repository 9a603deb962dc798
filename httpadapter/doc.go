// Package httpadapter serves a tasklife.Service as the Cloud Foundry v3
// tasks API, so that a CF client (the cf CLI, go-cfclient) cannot tell it
// from the Cloud Controller on these routes:
//
//	POST /v3/tasks/{guid}/actions/cancel   202, the task after the cancel
//	PUT  /v3/tasks/{guid}/cancel           202, same (the cf CLI uses it)
//	GET  /v3/tasks/{guid}                  200, the task
//	GET  /v3/tasks                         200, paginated list
//	GET  /v3/apps/{guid}/tasks             200, paginated list of one app's tasks
//
// Use it in three lines:
//
//	svc := tasklife.New(memstore.New())
//	h := httpadapter.New(svc, httpadapter.BearerToken(token),
//		httpadapter.WithBaseURL("https://api.example.com"))
//	log.Fatal(http.ListenAndServe(":8080", h))
//
// # Authentication and authorization
//
// The host supplies an Authorizer: Authenticate says who is calling (or
// returns ErrNoCredentials or ErrBadCredentials, Cloud Foundry's two 401s),
// Authorize answers for each Permission. The checks run in Cloud
// Controller's order: authenticate (401), the global PermWrite or PermRead
// (403, before any lookup, so a refusal reveals nothing), load the task,
// PermReadTask (404 "Task not found", so the task's existence stays hidden),
// PermCancelTask (403), then the cancel itself (422 on a finished task).
// PermReadSecrets decides whether "command" appears. A request refused at
// any step changes nothing. BearerToken is one static token that may do
// everything; UAA accepts a Cloud Foundry UAA's signed access tokens (keys
// from a shared secret or the UAA's /token_keys) and grants what Cloud
// Controller grants for their scopes; InsecureAllowAll lets anyone do
// anything and is for demos and tests. There is no default.
//
// # Mounting and host routes
//
// A Handler is the whole server handler, or mounted under a prefix, with
// the base URL its links need:
//
//	h := httpadapter.New(svc, httpadapter.BearerToken(token),
//		httpadapter.WithBaseURL("https://example.com/cf"))
//	mux.Handle("/cf/", http.StripPrefix("/cf", h))
//
// Every path under the mount that no route claims is answered 404
// CF-NotFound 10000 "Unknown request", and a known path with the wrong
// method 405 with an Allow header, both in the CF error envelope. A host
// that serves routes of its own (task creation, say) registers them on the
// Handler with Handle, so that they share this behaviour, and checks and
// renders with the Handler's own methods:
//
//	h.Handle("POST /v3/apps/{guid}/tasks", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//		if _, ok := h.AuthenticateToWrite(w, r); !ok {
//			return // the 401 or 403 is written
//		}
//		var body struct {
//			Command string `json:"command"`
//		}
//		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
//			h.WriteError(w, r, httpadapter.MessageParseError(err.Error()))
//			return
//		}
//		if body.Command == "" {
//			h.WriteError(w, r, httpadapter.UnprocessableEntity("No command or template provided"))
//			return
//		}
//		t, err := svc.Create(r.Context(), tasklife.NewTask{AppGUID: r.PathValue("guid"), Command: body.Command})
//		if err != nil {
//			h.WriteError(w, r, err) // the one mapping from Go errors to CF errors
//			return
//		}
//		h.WriteTask(w, r, http.StatusAccepted, t, true) // the caller wrote the command
//	}))
//
// AuthenticateToRead and AuthenticateToWrite run the checks every route
// starts with. WriteError answers with the CF error an error maps to, and
// with an *Error (see UnprocessableEntity, MessageParseError) as given.
// WriteTask writes a task as Cloud Controller does, and a route that writes
// links of its own starts them with BaseURL.
//
// A root document goes on "GET /{$}": "GET /" would also claim every
// unknown GET. A panic in a hook or a host route is recovered into 500
// UnknownError and logged (if the route had already written, the 500 cannot
// replace what it wrote); the server keeps serving.
//
// # Links
//
// Links are absolute. Set WithBaseURL in production. Without it links are
// built from the request's own scheme and Host header (plus the prefix a
// http.StripPrefix removed), which a client controls: fit for development
// only. X-Forwarded-Proto and X-Forwarded-Host are ignored unless the host
// opts in with WithTrustForwardedHeaders.
//
// # Lists
//
// GET /v3/tasks takes guids, names, states, app_guids (comma-separated),
// page, per_page (1..5000, default 50) and order_by (created_at or
// updated_at, "-" for descending); the per-app list takes sequence_ids
// instead of app_guids. Anything else is 400 CF-BadQueryParameter 10005.
// There is no app registry here: the per-app list of an unknown app is an
// empty list unless the host supplies WithAppExists, which turns it into
// 404 "App not found" as in Cloud Controller. An Authorizer that also
// implements ListScoper can narrow list queries to what a principal may see.
//
// The OpenAPI 3 document for these routes is openapi.yaml in this
// directory, also served by OpenAPIDocument; the tests check every response
// they produce against it.
package httpadapter
