package task

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/executor/expr"
	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// SourcePosition is where a source subtask stood when it took a checkpoint:
// it had finished Completed of the splits assigned to it in this attempt and
// had emitted Offset records of the split Current ("" between splits). The
// coordinator turns it into the splits that remain.
type SourcePosition struct {
	Completed int    `json:"completed"`
	Current   string `json:"current,omitempty"`
	Offset    int64  `json:"offset"`
}

// sourceRun is the state of a source head, owned by the subtask goroutine
// except for the atomic flags set by the ticker.
type sourceRun struct {
	completed int
	current   *operator.Split
	offset    int64 // records of current emitted (or skipped) so far
	skip      int64 // records still to drop after a rewind without Advance

	// event time
	ts           *expr.Program
	delay        int64 // max out-of-orderness, ms
	idleTimeout  time.Duration
	perRecord    bool
	maxTs        int64
	lastEmitWM   int64
	lastRecordAt time.Time
	idle         bool
	tick         atomic.Bool // set every WatermarkInterval
}

// runSource reads splits until none is left, taking checkpoints between
// records when the coordinator triggers them.
func (t *Task) runSource(ctx context.Context) error {
	s := t.stages[0]
	r := t.src
	ticker := t.startSourceTicker(ctx)
	defer ticker()
	for {
		if err := t.pollSource(); err != nil {
			return err
		}
		a, err := t.cfg.Splits.NextSplit(ctx, s.vertex, t.cfg.ID.Index)
		if err != nil {
			return fmt.Errorf("source %s: %w", s.vertex, err)
		}
		if a.Done {
			return t.emitWatermark(math.MaxInt64)
		}
		if a.Wait {
			if err := t.idleWait(ctx); err != nil {
				return err
			}
			continue
		}
		split := *a.Split
		r.current, r.offset, r.skip = &split, a.Skip, 0
		if a.Skip > 0 {
			if adv, ok := s.src.(operator.SplitAdvancer); ok {
				split, err = adv.Advance(split, a.Skip)
				if err != nil {
					return fmt.Errorf("source %s: rewind split %s: %w", s.vertex, a.Split.ID, err)
				}
			} else {
				r.skip = a.Skip
			}
		}
		if err := s.src.ReadSplit(ctx, split, s.consumer); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("source %s split %s: %w", s.vertex, a.Split.ID, err)
		}
		r.completed++
		r.current, r.offset = nil, 0
		s.out.sync()
	}
}

// idleWait waits a little for a continuous source's next split while
// staying responsive to checkpoints and cancellation.
func (t *Task) idleWait(ctx context.Context) error {
	timer := time.NewTimer(100 * time.Millisecond)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
	}
	return t.pollSource()
}

// pollSource takes a pending checkpoint and emits a due watermark; it runs
// between records and between splits.
func (t *Task) pollSource() error {
	if b := t.pendingChk.Swap(nil); b != nil {
		if err := t.checkpoint(*b); err != nil {
			return err
		}
	}
	r := t.src
	if !r.tick.Swap(false) {
		return nil
	}
	t.syncCounters()
	if r.ts != nil && !r.idle {
		// the watermark of the records read so far goes out even when the
		// subtask turns idle now (an idleTimeout shorter than the watermark
		// interval)
		if r.maxTs != math.MinInt64 {
			// as Flink's bounded out-of-orderness: max - delay - 1
			if wm := r.maxTs - r.delay - 1; wm > r.lastEmitWM {
				r.lastEmitWM = wm
				if err := t.emitWatermark(wm); err != nil {
					return err
				}
			}
		}
		if r.idleTimeout > 0 && time.Since(r.lastRecordAt) > r.idleTimeout {
			r.idle = true
			return t.broadcastEvent(encodeIdle(true))
		}
	}
	return nil
}

// sourceEmitter wraps the source's output: it drops records a rewind must
// skip, takes triggered checkpoints before a record, assigns event time and
// counts the split offset.
func (t *Task) sourceEmitter(next operator.Emitter) operator.Emitter {
	return operator.EmitterFunc(func(rec *record.Record) error {
		r := t.src
		if r.skip > 0 {
			r.skip--
			r.offset++
			return nil
		}
		if t.pendingChk.Load() != nil || r.tick.Load() {
			if err := t.pollSource(); err != nil {
				return err
			}
		}
		r.offset++
		if r.ts != nil {
			v, err := r.ts.EvalValue(rec)
			if err != nil {
				return fmt.Errorf("event time of %s: %w", rec, err)
			}
			if !v.IsNumber() {
				return fmt.Errorf("event time of %s: the timestamp expression gave %s, not a number of milliseconds", rec, v.Kind())
			}
			rec.Time, rec.Timed = v.Int(), true
			if rec.Time > r.maxTs {
				r.maxTs = rec.Time
			}
			r.lastRecordAt = time.Now()
			if r.idle {
				r.idle = false
				if err := t.broadcastEvent(encodeIdle(false)); err != nil {
					return err
				}
			}
		}
		if err := next.Emit(rec); err != nil {
			return err
		}
		if r.perRecord {
			if wm := r.maxTs - r.delay - 1; wm > r.lastEmitWM {
				r.lastEmitWM = wm
				return t.emitWatermark(wm)
			}
		}
		return nil
	})
}

// setupSource prepares a source head's run state.
func (t *Task) setupSource() error {
	s := t.stages[0]
	v := t.cfg.Spec.Vertices[t.cfg.Spec.VertexIndex(s.vertex)]
	r := &sourceRun{maxTs: math.MinInt64, lastEmitWM: math.MinInt64, lastRecordAt: time.Now()}
	if et := v.EventTime; et.Timestamp != "" {
		p, err := expr.Compile(et.Timestamp)
		if err != nil {
			return fmt.Errorf("vertex %s eventTime.timestamp: %w", s.vertex, err)
		}
		r.ts = p
		r.delay = et.MaxOutOfOrderness.D().Milliseconds()
		r.idleTimeout = et.IdleTimeout.D()
		r.perRecord = et.PerRecord
	}
	t.src = r
	return nil
}

// startSourceTicker sets the tick flag periodically: the source then
// publishes its metrics and, with event time, emits a watermark.
func (t *Task) startSourceTicker(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(t.cfg.WatermarkInterval)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				t.src.tick.Store(true)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// TriggerCheckpoint asks a source subtask to take checkpoint b before its
// next record. Safe for concurrent use; a no-op for other subtasks.
func (t *Task) TriggerCheckpoint(b Barrier) {
	if t.stages[0].def.Kind != operator.KindSource {
		return
	}
	t.pendingChk.Store(&b)
}

// IsSource reports whether the subtask reads splits.
func (t *Task) IsSource() bool { return t.stages[0].def.Kind == operator.KindSource }
