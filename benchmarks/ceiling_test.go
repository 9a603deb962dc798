package benchmarks

import (
	"sync/atomic"
	"testing"
)

var ceilingSink atomic.Uint64

// BenchmarkParallelCeiling is pure arithmetic in b.RunParallel: nothing
// shared, nothing allocated, no memory traffic. Run with -cpu 1,2 next to
// BenchmarkCancelParallel, it shows how much a second CPU gives anything on
// this machine at this moment (on a shared machine, often well under 2x),
// which is the ceiling for the store's own scaling.
func BenchmarkParallelCeiling(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		x := uint64(1)
		for pb.Next() {
			for range 64 {
				x = x*6364136223846793005 + 1442695040888963407
			}
		}
		ceilingSink.Add(x)
	})
}
