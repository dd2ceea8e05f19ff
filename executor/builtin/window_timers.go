package builtin

import (
	"cmp"
	"strings"

	"github.com/sluicehq/sluice/executor/record"
)

// windowID names one key's window.
type windowID struct {
	key record.Key // owned: its string is a copy
	w   timeWindow
}

// timer is when a window fires or is purged.
type timer struct {
	time int64
	id   windowID
}

// timerHeap is a min-heap of timers (container/heap), ordered by time,
// then key, then window, so that windows that fire at one watermark come
// out in a deterministic order.
type timerHeap []timer

func (h timerHeap) Len() int { return len(h) }

func (h timerHeap) Less(i, j int) bool {
	a, b := &h[i], &h[j]
	if a.time != b.time {
		return a.time < b.time
	}
	if c := compareKeys(a.id.key, b.id.key); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(a.id.w.start, b.id.w.start); c != 0 {
		return c < 0
	}
	return a.id.w.end < b.id.w.end
}

func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

func (h *timerHeap) Push(x any) { *h = append(*h, x.(timer)) }

func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = timer{}
	*h = old[:len(old)-1]
	return t
}

// ownKey returns k with its own copy of a string, so that a key kept in
// memory does not keep a larger input string alive.
func ownKey(k record.Key) record.Key {
	v := k.Value()
	if v.Kind() != record.String {
		return k
	}
	k, _ = record.KeyOf(record.Str(strings.Clone(v.Str()))) // a string is a valid key
	return k
}
