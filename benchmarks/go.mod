module github.com/tasklife/tasklife/benchmarks

go 1.26

replace github.com/tasklife/tasklife => ../

require (
	github.com/looplab/fsm v1.0.3
	github.com/qmuntal/stateless v1.7.2
	github.com/tasklife/tasklife v0.0.0-00010101000000-000000000000
)
