package memstore

import "unsafe"

// ShardSizes reports the sizes of the two shard types, for a test that keeps
// them one cache line each.
func ShardSizes() [2]uintptr {
	return [2]uintptr{unsafe.Sizeof(shard{}), unsafe.Sizeof(appShard{})}
}
