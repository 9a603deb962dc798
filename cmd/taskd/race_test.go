//go:build race

package main

// raceEnabled builds the taskd under test with the race detector when the
// tests themselves run with it.
const raceEnabled = true
