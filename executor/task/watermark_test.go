package task

import (
	"math"
	"testing"

	"github.com/sluicehq/sluice/executor/exchange"
)

// TestWatermarkAndIdleness drives a subtask's input events through
// handleEvent: the watermark is the minimum over the active inputs, the
// largest one when every input is idle, and the subtask's outputs are idle
// exactly while every input that has not ended is.
func TestWatermarkAndIdleness(t *testing.T) {
	wm := func(c int, w int64) [2]any { return [2]any{c, encodeWatermark(w)} }
	idle := func(c int, b bool) [2]any { return [2]any{c, encodeIdle(b)} }
	end := func(c int) [2]any { return [2]any{c, exchange.Event{Kind: exchange.EventEndOfPartition}} }
	const none = math.MinInt64
	type step struct {
		ev      [2]any
		wm      int64
		outIdle bool
	}
	for _, tc := range []struct {
		name     string
		channels int
		steps    []step
	}{
		{"an idle input is left out", 2, []step{
			{wm(0, 99), none, false},
			{idle(1, true), 99, false},
		}},
		{"the last input to turn idle is not held back", 2, []step{
			{wm(0, 99), none, false},
			{idle(0, true), none, false},
			{idle(1, true), 99, true},
		}},
		{"an input active again counts again", 2, []step{
			{idle(1, true), none, false},
			{wm(0, 50), 50, false},
			{idle(1, false), 50, false},
			{wm(1, 70), 50, false},
			{wm(0, 80), 70, false},
		}},
		{"a subtask whose only input is idle is idle", 1, []step{
			{idle(0, true), none, true},
			{idle(0, false), none, false},
			{idle(0, true), none, true},
			{wm(0, 10), 10, false},
		}},
		{"ended inputs do not count", 2, []step{
			{wm(0, 5), none, false},
			{end(0), none, false},
			{idle(1, true), none, true},
			{end(1), none, false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := &Task{watermark: math.MinInt64, align: newAligner(tc.channels)}
			for i, s := range tc.steps {
				ev := s.ev[1].(exchange.Event)
				if err := tk.handleEvent(s.ev[0].(int), &ev); err != nil {
					t.Fatal(err)
				}
				if tk.watermark != s.wm || tk.align.outIdle != s.outIdle {
					t.Fatalf("step %d: watermark %d, outputs idle %v; want %d, %v", i, tk.watermark, tk.align.outIdle, s.wm, s.outIdle)
				}
			}
		})
	}
}
