package httpadapter

import (
	_ "embed"
	"slices"
)

//go:embed openapi.yaml
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3 document (YAML) describing the
// routes a Handler serves, for a host that publishes it. Each call returns
// a fresh copy.
func OpenAPIDocument() []byte { return slices.Clone(openAPIDocument) }
