package task

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/sluicehq/sluice/executor/exchange"
)

// aligner tracks barrier alignment and per-channel watermarks of a gate.
//
// Exactly-once alignment (Flink's aligned checkpoints): when barrier n
// arrives on a channel, that channel is blocked — its later items are held
// back unreleased, so its producer soon runs out of credit — until barrier n
// has arrived on every channel that has not ended. Then the subtask
// snapshots, forwards the barrier and replays the held items. A barrier of
// a newer checkpoint abandons an unfinished alignment. At-least-once mode
// counts barriers without blocking.
type aligner struct {
	n       int
	ended   []bool
	blocked []bool
	held    [][]exchange.Item
	replay  []exchange.Item
	current *Barrier // checkpoint being aligned
	got     []bool   // channels whose barrier arrived

	wm       []int64
	idle     []bool
	outIdle  bool // the subtask's outputs are idle (updateOutputIdle)
	decoders []spanDecoder
}

func newAligner(n int) *aligner {
	a := &aligner{
		n: n, ended: make([]bool, n), blocked: make([]bool, n), held: make([][]exchange.Item, n), got: make([]bool, n),
		wm: make([]int64, n), idle: make([]bool, n), decoders: make([]spanDecoder, n),
	}
	for i := range a.wm {
		a.wm[i] = math.MinInt64
	}
	return a
}

// next returns the next item to handle: held items being replayed first.
func (t *Task) nextItem(ctx context.Context) (exchange.Item, error) {
	a := t.align
	if len(a.replay) > 0 {
		it := a.replay[0]
		a.replay = a.replay[1:]
		return it, nil
	}
	return t.gate.Next(ctx)
}

func (t *Task) runInputs(ctx context.Context) error {
	t.align = newAligner(len(t.gate.IDs()))
	a := t.align
	head := t.headIn
	for {
		it, err := t.nextItem(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read input: %w", err)
		}
		c := it.Channel
		if a.blocked[c] {
			a.held[c] = append(a.held[c], it) // released when replayed
			continue
		}
		if it.Event != nil {
			err := t.handleEvent(c, it.Event)
			t.gate.Release(it)
			if err != nil {
				return err
			}
			continue
		}
		t.curEdge = t.inEdges[c]
		t.bytesIn.add(int64(len(it.Data)))
		err = a.decoders[c].decode(it.Data, head.Emit)
		t.gate.Release(it)
		if err != nil {
			return err
		}
		t.syncCounters() // once per buffer: cheap, and slow streams show up
	}
}

func (t *Task) handleEvent(c int, ev *exchange.Event) error {
	a := t.align
	switch ev.Kind {
	case exchange.EventEndOfPartition:
		a.ended[c] = true
		if a.current != nil {
			// an ended channel has nothing more to align
			if err := t.barrierArrived(c, *a.current, false); err != nil {
				return err
			}
		}
		if err := t.recomputeWatermark(); err != nil {
			return err
		}
		return t.updateOutputIdle()
	case eventBarrier:
		b, err := decodeBarrier(ev.Payload)
		if err != nil {
			return err
		}
		return t.barrierArrived(c, b, true)
	case eventWatermark:
		wm, err := decodeWatermark(ev.Payload)
		if err != nil {
			return err
		}
		if wm > a.wm[c] {
			a.wm[c] = wm
		}
		a.idle[c] = false
		if err := t.updateOutputIdle(); err != nil { // active again before the watermark goes on
			return err
		}
		return t.recomputeWatermark()
	case eventIdle:
		a.idle[c] = len(ev.Payload) == 1 && ev.Payload[0] == 1
		if !a.idle[c] {
			if err := t.updateOutputIdle(); err != nil {
				return err
			}
		}
		if err := t.recomputeWatermark(); err != nil {
			return err
		}
		return t.updateOutputIdle()
	}
	return nil
}

// updateOutputIdle passes idleness on: the subtask's outputs are idle while
// every input channel that has not ended is idle (as Flink's
// StatusWatermarkValve), so that a subtask whose only inputs are idle
// source subtasks (behind a forward edge that is not chained, say) does not
// hold back the watermark of the operators downstream. They are active
// again as soon as one input is.
func (t *Task) updateOutputIdle() error {
	a := t.align
	idle, open := true, false
	for c := range a.idle {
		if a.ended[c] {
			continue
		}
		open = true
		idle = idle && a.idle[c]
	}
	idle = idle && open // with every input ended, the end of input goes on
	if idle == a.outIdle {
		return nil
	}
	a.outIdle = idle
	return t.broadcastEvent(encodeIdle(idle))
}

// barrierArrived handles barrier b on channel c (fromChannel is false when
// an ended channel is counted as arrived).
func (t *Task) barrierArrived(c int, b Barrier, fromChannel bool) error {
	a := t.align
	if b.ID <= t.lastChk {
		return nil // a barrier of an abandoned or finished checkpoint
	}
	if a.current == nil || b.ID > a.current.ID {
		if a.current != nil {
			t.log.Warn().Int64("abandoned", a.current.ID).Int64("checkpoint", b.ID).Msg("newer barrier before alignment finished")
			t.unblockAll()
		}
		bc := b
		a.current = &bc
		clear(a.got)
	}
	if fromChannel {
		a.got[c] = true
		if !t.cfg.AtLeastOnce {
			a.blocked[c] = true
		}
	}
	for i := range a.got {
		if !a.got[i] && !a.ended[i] {
			return nil
		}
	}
	cur := *a.current
	a.current = nil
	if err := t.checkpoint(cur); err != nil {
		return err
	}
	t.unblockAll()
	return nil
}

// unblockAll queues every held item for replay, in channel order.
func (t *Task) unblockAll() {
	a := t.align
	for c := range a.blocked {
		a.blocked[c] = false
		a.replay = append(a.replay, a.held[c]...)
		a.held[c] = nil
	}
}

// recomputeWatermark advances the subtask's watermark to the minimum over
// the channels that are neither ended nor idle. When every channel that
// has not ended is idle, it advances to the largest of their watermarks
// instead (as Flink's StatusWatermarkValve): the last input to turn idle
// may have sent a watermark that the others held back, and nothing holds
// it back any more.
func (t *Task) recomputeWatermark() error {
	a := t.align
	lo, active := int64(math.MaxInt64), false
	hi, open := int64(math.MinInt64), false
	for c := range a.wm {
		if a.ended[c] {
			continue
		}
		open = true
		hi = max(hi, a.wm[c])
		if a.idle[c] {
			continue
		}
		active = true
		lo = min(lo, a.wm[c])
	}
	switch {
	case active:
		if lo > t.watermark {
			return t.advanceWatermark(lo)
		}
	case open: // all idle
		if hi > t.watermark {
			return t.advanceWatermark(hi)
		}
	}
	return nil // every channel ended: the end of input sends +inf
}
