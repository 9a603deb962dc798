// Package logname shortens the names that log records carry, so that a
// task with a megabyte of name does not write a megabyte per log line.
package logname

// Max is the longest name logged whole.
const Max = 64

// Short returns name, cut to Max bytes on a rune boundary with an ellipsis
// when it is longer.
func Short(name string) string {
	if len(name) <= Max {
		return name
	}
	i := Max
	for i > 0 && name[i]&0xC0 == 0x80 {
		i--
	}
	return name[:i] + "…"
}
