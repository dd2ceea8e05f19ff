package operatortest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
	"github.com/sluicehq/sluice/executor/state"
)

// Rescale snapshots b as the runtime does at a checkpoint and restores its
// key groups into p new backends, backend i getting the key-group range
// that subtask i of p owns (record.SubtaskForKeyGroup). Rescale(t, b, 1)
// is a plain checkpoint round trip. It fails the test on error.
func Rescale(t testing.TB, b *state.Backend, p int) []*state.Backend {
	helper(t)
	var buf bytes.Buffer
	ext, err := b.Snapshot(&buf)
	if err != nil {
		fail(t, "snapshot: %v", err)
	}
	data := buf.Bytes()
	out := make([]*state.Backend, p)
	for i := range out {
		out[i] = state.NewBackend(b.MaxParallelism())
	}
	for _, e := range ext {
		i := record.SubtaskForKeyGroup(e.Group, b.MaxParallelism(), p)
		if err := out[i].RestoreGroup(e.Group, data[e.Offset:e.Offset+e.Length]); err != nil {
			fail(t, "restore: %v", err)
		}
	}
	return out
}

// Recovery describes the failure that RunRecovered injects.
type Recovery struct {
	// Checkpoint is how many steps are processed before the checkpoint.
	Checkpoint int
	// Failure is how many steps are processed before the failure; it is at
	// least Checkpoint. What is emitted between the checkpoint and the
	// failure is lost, as an exactly-once sink discards it, and the steps
	// after the checkpoint are replayed, as sources rewind.
	Failure int
	// Parallelism is how many subtasks the state is restored into (by key
	// group ranges); 0 means 1.
	Parallelism int
	// ResetWatermark starts the restored subtasks at math.MinInt64 (as
	// Flink does) instead of the watermark at the checkpoint.
	ResetWatermark bool
}

// RunRecovered runs a keyed operator through a checkpoint, a failure and a
// recovery, and returns what an exactly-once sink would commit. newOp makes
// a fresh operator instance; oc is the keyed context to copy for each
// instance (its Backend, if set, is the first instance's initial state).
//
// The first instance opens and processes the first r.Checkpoint steps. The
// checkpoint then runs as in the runtime: FlushBeforeBarrier and
// PrepareCommit if the operator implements them, and a snapshot of its
// keyed state. The instance goes on to step r.Failure and is closed
// without EndInput. The snapshot is restored into r.Parallelism new
// instances (Rescale), which get the watermark of the checkpoint and replay
// the steps from the checkpoint on: each record goes to the subtask that
// owns its key, each watermark to all. Each finishes like RunSteps.
//
// The result is the first instance's output up to the checkpoint followed
// by each restored subtask's output in subtask order; watermarks are left
// out. Compare it with an uninterrupted RunSteps of the same steps.
func RunRecovered(t testing.TB, newOp func() operator.Operator, oc *Context, steps []Step, r Recovery) ([]*record.Record, error) {
	helper(t)
	if r.Checkpoint < 0 || r.Failure < r.Checkpoint || r.Failure > len(steps) {
		fail(t, "recovery %+v of %d steps: need 0 <= Checkpoint <= Failure <= steps", r, len(steps))
	}
	if !oc.IsKeyed() {
		fail(t, "RunRecovered needs a keyed context (KeyField or KeyFunc)")
	}
	p := max(r.Parallelism, 1)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()

	// the first instance, up to the checkpoint and the failure
	oc1 := oc.Copy()
	op := newOp()
	col := &stepCollector{}
	if err := op.Open(ctx, oc1, col); err != nil {
		op.Close()
		return nil, fmt.Errorf("open: %w", err)
	}
	d := &driver{op: op, oc: oc1, out: col}
	backends, wm, err := runToFailure(t, d, steps, r, p)
	if cerr := op.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	committed := StepRecords(col.steps)
	if err != nil {
		return committed, err
	}

	// the restored subtasks
	drivers := make([]*driver, 0, p)
	closed := false
	closeAll := func() error {
		if closed {
			return nil
		}
		closed = true
		var first error
		for j, d := range drivers {
			if err := d.op.Close(); err != nil && first == nil {
				first = fmt.Errorf("close restored subtask %d: %w", j, err)
			}
		}
		return first
	}
	defer closeAll()
	for i := range p {
		oci := oc.Copy()
		oci.SubtaskID, oci.NumSubtasks, oci.Backend = i, p, backends[i]
		if !r.ResetWatermark && wm != math.MinInt64 {
			oci.SetWatermark(wm)
		}
		d := &driver{op: newOp(), oc: oci, out: &stepCollector{}}
		drivers = append(drivers, d)
		if err := d.op.Open(ctx, oci, d.out); err != nil {
			return committed, fmt.Errorf("open restored subtask %d: %w", i, err)
		}
	}
	for i := r.Checkpoint; i < len(steps); i++ {
		s := steps[i]
		if s.Record == nil {
			for j, d := range drivers {
				if err := d.step(i, s); err != nil {
					return committed, fmt.Errorf("restored subtask %d: %w", j, err)
				}
			}
			continue
		}
		k, err := oc.Key(s.Record)
		if err != nil {
			return committed, fmt.Errorf("key of input %d %s: %w", i, s, err)
		}
		j := record.SubtaskForKeyGroup(record.KeyGroup(k.Hash(), oc.MaxParallelism()), oc.MaxParallelism(), p)
		if err := drivers[j].step(i, s); err != nil {
			return committed, fmt.Errorf("restored subtask %d: %w", j, err)
		}
	}
	for j, d := range drivers {
		if err := d.finish(); err != nil {
			return committed, fmt.Errorf("restored subtask %d: %w", j, err)
		}
		committed = append(committed, StepRecords(d.out.steps)...)
	}
	return committed, closeAll()
}

// runToFailure drives the first instance of RunRecovered: it returns the
// restored backends and the watermark of the checkpoint.
func runToFailure(t testing.TB, d *driver, steps []Step, r Recovery, p int) ([]*state.Backend, int64, error) {
	helper(t)
	for i, s := range steps[:r.Checkpoint] {
		if err := d.step(i, s); err != nil {
			return nil, 0, err
		}
	}
	const id = 1
	if f, ok := d.op.(operator.BarrierFlusher); ok {
		if err := f.FlushBeforeBarrier(id); err != nil {
			return nil, 0, fmt.Errorf("flush before barrier: %w", err)
		}
	}
	if c, ok := d.op.(operator.Committer); ok {
		if _, err := c.PrepareCommit(id); err != nil {
			return nil, 0, fmt.Errorf("prepare commit: %w", err)
		}
	}
	backends := Rescale(t, d.oc.KeyedState(), p)
	wm := d.oc.Watermark()
	kept := len(d.out.steps)
	for i := r.Checkpoint; i < r.Failure; i++ {
		if err := d.step(i, steps[i]); err != nil {
			return nil, 0, err
		}
	}
	d.out.steps = d.out.steps[:kept] // lost with the failure
	return backends, wm, nil
}
