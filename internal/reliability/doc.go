// Package reliability holds the fault-injection tests of RELIABILITY.md:
// PostgreSQL backends killed and the server crashed under a concurrent
// load, with every history checked for linearizability. They restart the
// server they run against, so they need a server of their own and run in a
// separate pass (build tag faults):
//
//	scripts/with-postgres go test -race -tags faults ./internal/reliability
//
// scripts/test runs that pass after the main suite.
package reliability
