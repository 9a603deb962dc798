package httpadapter_test

import (
	"log"
	"net/http"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
)

// A service behind a real Cloud Foundry UAA: the adapter verifies UAA's
// tokens with the UAA's published keys and grants what Cloud Controller
// grants for their scopes.
func ExampleUAA() {
	svc := tasklife.New(memstore.New())
	auth, err := httpadapter.UAA(httpadapter.UAAConfig{KeysURL: "https://uaa.example.com/token_keys"})
	if err != nil {
		log.Fatal(err)
	}
	h := httpadapter.New(svc, auth, httpadapter.WithBaseURL("https://api.example.com"))
	log.Fatal(http.ListenAndServe(":8080", h))
}
