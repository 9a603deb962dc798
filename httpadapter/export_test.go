package httpadapter

// OpenWaits reports how many long polls and event streams hold a slot.
func OpenWaits(h *Handler) int { return len(h.waits.slots) }
