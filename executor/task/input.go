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
		return t.recomputeWatermark()
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
		return t.recomputeWatermark()
	case eventIdle:
		a.idle[c] = len(ev.Payload) == 1 && ev.Payload[0] == 1
		return t.recomputeWatermark()
	}
	return nil
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
// the channels that are neither ended nor idle.
func (t *Task) recomputeWatermark() error {
	a := t.align
	min, any := int64(math.MaxInt64), false
	for c := range a.wm {
		if a.ended[c] || a.idle[c] {
			continue
		}
		any = true
		if a.wm[c] < min {
			min = a.wm[c]
		}
	}
	if !any {
		return nil // all idle (or ended: the end of input sends +inf)
	}
	if min > t.watermark {
		return t.advanceWatermark(min)
	}
	return nil
}
