// Package benchmarks compares tasklife with its peers: river's JobCancel
// against pgstore's cancel on the same PostgreSQL server, and looplab/fsm
// and qmuntal/stateless against tasklife's in-memory cancel decision. It is
// a module of its own so that the library never depends on its peers.
//
//	cd benchmarks
//	go test -run '^$' -bench . -count 5 .
//
// scripts/bench at the repository root runs these with the library's own
// benchmarks and prints each ratio against its goal.
package benchmarks
