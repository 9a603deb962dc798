// Package benchmarks compares tasklife with its peers: river's JobCancel
// against pgstore's cancel on the same PostgreSQL server
// (BenchmarkPeerCancel, skipped without TASKLIFE_TEST_DATABASE_URL), and
// looplab/fsm and qmuntal/stateless against tasklife's in-memory cancel
// decision (BenchmarkCancelDecision). BenchmarkParallelCeiling measures what
// a second CPU gives at all on the machine, the reference for
// memstore's BenchmarkCancelParallel. It is a module of its own so that the
// library never depends on its peers.
//
//	cd benchmarks
//	go test -run '^$' -bench . -count 5 .
//
// scripts/bench at the repository root runs these with the library's own
// benchmarks and prints each ratio against its goal.
package benchmarks
