package builtin

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/sluicehq/sluice/executor/expr"
	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
	"github.com/sluicehq/sluice/executor/state"
)

// windowStateName is the map state of the window operator: per key, its
// windows' accumulators (see windowField).
const windowStateName = "windows"

// windowOp is the window operator (WindowConfig). Accumulators live in the
// keyed state, so checkpoints include them; timers live in memory and are
// rebuilt from the state in Open. It follows Flink's WindowOperator with an
// EventTimeTrigger: a window fires when the watermark reaches its
// maxTimestamp (end-1) and is purged at its cleanup time (maxTimestamp +
// allowed lateness).
type windowOp struct {
	spec    windowSpec
	agg     aggregator
	prog    *expr.Program // reduce
	oc      operator.Context
	out     operator.Emitter
	side    operator.Emitter // late records; nil drops them
	late    *atomic.Int64
	keyName string
	wins    *state.Map
	wm      int64
	timers  timerHeap
	due     map[windowID]int64 // the pending timer of each window
	assign  []timeWindow       // scratch
	fields  fieldCache
	rec     record.Record
}

func (o *windowOp) Open(_ context.Context, oc operator.Context, out operator.Emitter) error {
	o.oc, o.out = oc, out
	o.keyName = oc.KeyName()
	switch o.keyName {
	case o.spec.as, fieldWindowStart, fieldWindowEnd:
		return fmt.Errorf("window: the key name %q is also an output field", o.keyName)
	}
	b := oc.KeyedState()
	if b == nil {
		return fmt.Errorf("window: the runtime gives vertex %q no keyed state", oc.Vertex())
	}
	if oc.Combined() {
		return errors.New("window: has no combiner, but the runtime reports combined input")
	}
	o.wins = b.Map(windowStateName)
	o.late = oc.Counter("lateRecords")
	if o.spec.late != "" {
		o.side = oc.SideOutput(o.spec.late)
	}
	o.wm = oc.Watermark()
	o.due = map[windowID]int64{}
	return o.restoreTimers()
}

// restoreTimers schedules the windows found in the state (restored from a
// checkpoint): those that fired already wait for their cleanup time.
func (o *windowOp) restoreTimers() error {
	var err error
	o.wins.Keys(func(k record.Key) bool {
		o.wins.Entries(k, func(f string, _ record.Value) bool {
			w, fired, perr := parseWindowField(f)
			if perr != nil {
				err = fmt.Errorf("window: restored state of key %s: %w", jsonValue(k.Value()), perr)
				return false
			}
			if !fired {
				_, fired = o.wins.Get(k, firedField(w))
				o.schedule(k, w, fired)
			}
			return true
		})
		return err == nil
	})
	return err
}

func (o *windowOp) Process(r *record.Record) error {
	if !r.Timed {
		return fmt.Errorf("window %q: record %s has no event time: give its source vertex an eventTime timestamp", o.oc.Vertex(), r)
	}
	k, err := o.oc.Key(r)
	if err != nil {
		return fmt.Errorf("window: key of %s: %w", r, err)
	}
	o.wm = max(o.wm, o.oc.Watermark())
	in, err := o.input(r, k)
	if err != nil {
		return err
	}
	if o.spec.typ == windowSession {
		return o.processSession(r, k, in)
	}
	o.assign = o.spec.assignWindows(o.assign[:0], r.Time)
	taken := false
	for _, w := range o.assign {
		if o.spec.cleanupTime(w) <= o.wm {
			continue // this window is gone
		}
		taken = true
		if err := o.add(k, w, in, r); err != nil {
			return err
		}
	}
	if !taken && o.spec.isLate(r.Time, o.wm) {
		return o.lateRecord(r)
	}
	return nil // a record in no window (sliding windows with gaps) is dropped
}

// input returns what r adds to an accumulator (nothing for reduce, which
// folds the whole record).
func (o *windowOp) input(r *record.Record, k record.Key) (record.Value, error) {
	switch o.spec.agg {
	case aggReduce:
		return record.Value{}, nil
	case aggAvg:
		v, ok := r.Get(o.spec.field)
		if !v.IsNumber() {
			g := aggregator{kind: aggAvg}
			return v, g.checkNumber(v, ok, o.spec.field, k)
		}
		return v, nil
	}
	return o.agg.rawInput(r, k)
}

// processSession merges the session window that r opens with the key's
// sessions that it overlaps or touches (Flink's MergingWindowAssigner and
// TimeWindow.mergeWindows), merging their accumulators, then adds r.
func (o *windowOp) processSession(r *record.Record, k record.Key, in record.Value) error {
	w := o.spec.sessionWindow(r.Time)
	var absorbed []timeWindow
	for changed := true; changed; {
		changed = false
		o.wins.Entries(k, func(f string, _ record.Value) bool {
			x, fired, err := parseWindowField(f)
			if err != nil || fired || !x.intersects(w) || slices.Contains(absorbed, x) {
				return true
			}
			absorbed = append(absorbed, x)
			w, changed = w.cover(x), true
			return true
		})
	}
	if o.spec.cleanupTime(w) <= o.wm {
		return o.lateRecord(r)
	}
	if len(absorbed) > 0 {
		var acc record.Value
		for i, x := range absorbed {
			xacc, _ := o.wins.Get(k, windowField(x))
			if i == 0 {
				acc = xacc
			} else {
				acc = o.merge(acc, xacc)
			}
			o.purge(k, x)
		}
		o.wins.Put(k, windowField(w), acc)
		if w.maxTimestamp() > o.wm {
			o.schedule(k, w, false)
		}
	}
	return o.add(k, w, in, r)
}

// add folds r (whose input is in) into k's window w, schedules a new
// window, and fires a window that is past its end (a late firing within
// the allowed lateness).
func (o *windowOp) add(k record.Key, w timeWindow, in record.Value, r *record.Record) error {
	f := o.fields.field(w)
	acc, exists := o.wins.Get(k, f)
	acc, err := o.fold(acc, exists, in, r, k)
	if err != nil {
		return err
	}
	o.wins.Put(k, f, acc)
	if w.maxTimestamp() <= o.wm {
		return o.fire(k, w)
	}
	fired := false
	if exists && o.spec.lateness > 0 {
		if _, fired = o.wins.Get(k, firedField(w)); fired {
			// restored with an older watermark: fire again at the end
			o.wins.Delete(k, firedField(w))
		}
	}
	if !exists || fired {
		o.schedule(k, w, false)
	}
	return nil
}

// fold adds a record to a window's accumulator.
func (o *windowOp) fold(acc record.Value, exists bool, in record.Value, r *record.Record, k record.Key) (record.Value, error) {
	switch o.spec.agg {
	case aggReduce:
		v, err := reduceStep(o.prog, acc, exists, r)
		if err != nil {
			return v, fmt.Errorf("window: key %s: %w", jsonValue(k.Value()), err)
		}
		return v, nil
	case aggAvg:
		if !exists {
			return record.ListV(in, record.IntV(1)), nil
		}
		return o.merge(acc, record.ListV(in, record.IntV(1))), nil
	}
	return fold(o.spec.agg, acc, in), nil
}

// merge merges two accumulators of merged sessions (never reduce).
func (o *windowOp) merge(a, b record.Value) record.Value {
	if o.spec.agg == aggAvg {
		al, bl := a.List(), b.List()
		if len(al) != 2 || len(bl) != 2 {
			return a
		}
		return record.ListV(addNumbers(al[0], bl[0]), record.IntV(al[1].Int()+bl[1].Int()))
	}
	return fold(o.spec.agg, a, b)
}

// result is the output value of an accumulator.
func (o *windowOp) result(acc record.Value) record.Value {
	if o.spec.agg == aggAvg {
		l := acc.List()
		if len(l) != 2 || l[1].Int() == 0 {
			return record.Value{}
		}
		return record.FloatV(l[0].Float() / float64(l[1].Int()))
	}
	return acc
}

// schedule sets w's timer: its end, or its cleanup time once it fired.
func (o *windowOp) schedule(k record.Key, w timeWindow, fired bool) {
	t := w.maxTimestamp()
	if fired {
		t = o.spec.cleanupTime(w)
	}
	id := windowID{key: k, w: w}
	if old, ok := o.due[id]; ok && old == t {
		return
	}
	id.key = ownKey(k)
	o.due[id] = t
	heap.Push(&o.timers, timer{time: t, id: id})
}

// ProcessWatermark implements operator.WatermarkHandler: it fires the
// windows that end at or before wm, and purges those past their cleanup
// time, in (time, key, window) order.
func (o *windowOp) ProcessWatermark(wm int64) error {
	o.wm = max(o.wm, wm)
	for len(o.timers) > 0 && o.timers[0].time <= o.wm {
		t := heap.Pop(&o.timers).(timer)
		if due, ok := o.due[t.id]; !ok || due != t.time {
			continue // superseded, or the window merged into another
		}
		k, w := t.id.key, t.id.w
		if _, fired := o.wins.Get(k, firedField(w)); fired {
			o.purge(k, w)
			continue
		}
		if err := o.fire(k, w); err != nil {
			return err
		}
	}
	return nil
}

// fire emits k's window w, then purges it, or, when it may still take late
// records, marks it fired and waits for its cleanup time.
func (o *windowOp) fire(k record.Key, w timeWindow) error {
	acc, ok := o.wins.Get(k, windowField(w))
	if !ok {
		return nil
	}
	o.rec.Fields = append(o.rec.Fields[:0],
		record.Field{Name: o.keyName, Value: k.Value()},
		record.Field{Name: fieldWindowStart, Value: record.IntV(w.start)},
		record.Field{Name: fieldWindowEnd, Value: record.IntV(w.end)},
		record.Field{Name: o.spec.as, Value: o.result(acc)})
	o.rec.Time, o.rec.Timed = w.maxTimestamp(), true
	if err := o.out.Emit(&o.rec); err != nil {
		return err
	}
	if o.spec.cleanupTime(w) <= o.wm {
		o.purge(k, w)
		return nil
	}
	o.wins.Put(k, firedField(w), record.BoolV(true))
	o.schedule(k, w, true)
	return nil
}

// purge forgets k's window w.
func (o *windowOp) purge(k record.Key, w timeWindow) {
	o.wins.Delete(k, windowField(w))
	o.wins.Delete(k, firedField(w))
	delete(o.due, windowID{key: k, w: w})
}

// lateRecord counts r and sends it to the late side output.
func (o *windowOp) lateRecord(r *record.Record) error {
	o.late.Add(1)
	if o.side != nil {
		return o.side.Emit(r)
	}
	return nil
}

// EndInput fires every remaining window, as the final watermark of a
// bounded input does.
func (o *windowOp) EndInput() error { return o.ProcessWatermark(math.MaxInt64) }

func (o *windowOp) Close() error {
	o.wins, o.timers, o.due = nil, nil, nil
	return nil
}
