package task

import (
	"bytes"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/executor/exchange"
	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/state"
)

// Snapshot is one subtask's part of a checkpoint, taken synchronously on
// the subtask goroutine when the barrier was aligned. Uploading the keyed
// state and acknowledging is the executor's job.
type Snapshot struct {
	Barrier  Barrier
	Pipeline int
	Index    int
	// KeyedVertex, Keyed and Extents hold the head's keyed state, if any.
	KeyedVertex string
	Keyed       []byte
	Extents     []state.GroupExtent
	// Source is set for source subtasks.
	SourceVertex string
	Source       *SourcePosition
	Commitables  []operator.Commitable
	// Watermark is the subtask's current watermark; MaxEventTime the largest
	// event time a source has seen.
	Watermark    int64
	MaxEventTime int64
	SyncDuration time.Duration
}

// checkpoint takes checkpoint b: flush held-back records, stage sink
// output, snapshot keyed state and source position, forward the barrier.
func (t *Task) checkpoint(b Barrier) error {
	start := time.Now()
	for _, s := range t.stages {
		if f, ok := s.op.(operator.BarrierFlusher); ok {
			if err := f.FlushBeforeBarrier(b.ID); err != nil {
				return fmt.Errorf("operator %s before checkpoint %d: %w", s.vertex, b.ID, err)
			}
		}
	}
	for _, c := range t.combiners {
		if f, ok := c.(operator.BarrierFlusher); ok {
			if err := f.FlushBeforeBarrier(b.ID); err != nil {
				return fmt.Errorf("combiner before checkpoint %d: %w", b.ID, err)
			}
		}
	}
	snap := Snapshot{Barrier: b, Pipeline: t.cfg.ID.Pipeline, Index: t.cfg.ID.Index, Watermark: t.watermark}
	for _, s := range t.stages {
		if c, ok := s.op.(operator.Committer); ok {
			cs, err := c.PrepareCommit(b.ID)
			if err != nil {
				return fmt.Errorf("sink %s at checkpoint %d: %w", s.vertex, b.ID, err)
			}
			snap.Commitables = append(snap.Commitables, cs...)
		}
	}
	if t.keyed != nil && !t.keyed.Empty() {
		var buf bytes.Buffer
		ext, err := t.keyed.Snapshot(&buf)
		if err != nil {
			return fmt.Errorf("snapshot state of %s at checkpoint %d: %w", t.stages[0].vertex, b.ID, err)
		}
		snap.KeyedVertex, snap.Keyed, snap.Extents = t.stages[0].vertex, buf.Bytes(), ext
	}
	if r := t.src; r != nil {
		pos := &SourcePosition{Completed: r.completed, Offset: r.offset}
		if r.current != nil {
			pos.Current = r.current.ID
		}
		snap.SourceVertex, snap.Source, snap.MaxEventTime = t.stages[0].vertex, pos, r.maxTs
	}
	if err := t.broadcastEvent(encodeBarrier(b)); err != nil {
		return fmt.Errorf("forward barrier %d: %w", b.ID, err)
	}
	t.lastChk = b.ID
	snap.SyncDuration = time.Since(start)
	if t.cfg.Snapshots != nil {
		t.cfg.Snapshots(snap)
	}
	return nil
}

// advanceWatermark moves the subtask's event time to wm: each chained
// operator sees it in order, then it goes to every output.
func (t *Task) advanceWatermark(wm int64) error {
	if wm <= t.watermark {
		return nil
	}
	t.watermark = wm
	for _, s := range t.stages {
		if h, ok := s.op.(operator.WatermarkHandler); ok {
			if err := h.ProcessWatermark(wm); err != nil {
				return fmt.Errorf("operator %s at watermark %d: %w", s.vertex, wm, err)
			}
		}
	}
	return t.broadcastEvent(encodeWatermark(wm))
}

// emitWatermark is a source's watermark: it passes through the chain.
func (t *Task) emitWatermark(wm int64) error { return t.advanceWatermark(wm) }

// broadcastEvent sends ev on every output channel after the records
// buffered before it.
func (t *Task) broadcastEvent(ev exchange.Event) error {
	for _, w := range t.writers {
		if err := w.sendEvent(ev); err != nil {
			return err
		}
	}
	return nil
}
