package operatortest

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// Step is one element of an event-time scenario, in or out of an operator:
// a record or a watermark.
type Step struct {
	Record    *record.Record // nil for a watermark
	Watermark int64
}

// At returns a record step: the JSON object with event time t (ms). It
// panics on bad JSON, which is a bug in the test.
func At(t int64, object string) Step {
	r := Records(object)[0]
	r.Time, r.Timed = t, true
	return Step{Record: r}
}

// Untimed returns a record step without event time.
func Untimed(object string) Step { return Step{Record: Records(object)[0]} }

// WM returns a watermark step.
func WM(t int64) Step { return Step{Watermark: t} }

// IsWatermark reports whether s is a watermark.
func (s Step) IsWatermark() bool { return s.Record == nil }

// String renders a record as JSON followed by " @<time>" when it has one,
// and a watermark as "wm <t>" ("wm +inf" for math.MaxInt64).
func (s Step) String() string {
	if s.Record == nil {
		if s.Watermark == math.MaxInt64 {
			return "wm +inf"
		}
		return "wm " + strconv.FormatInt(s.Watermark, 10)
	}
	if s.Record.Timed {
		return s.Record.String() + " @" + strconv.FormatInt(s.Record.Time, 10)
	}
	return s.Record.String()
}

// Trace renders steps one per line (see Step.String), for assertions.
func Trace(steps []Step) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(s.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// StepRecords returns the records of steps, without the watermarks.
func StepRecords(steps []Step) []*record.Record {
	var out []*record.Record
	for _, s := range steps {
		if s.Record != nil {
			out = append(out, s.Record)
		}
	}
	return out
}

// stepCollector collects emitted records as steps.
type stepCollector struct{ steps []Step }

func (c *stepCollector) Emit(r *record.Record) error {
	c.steps = append(c.steps, Step{Record: r.Clone()})
	return nil
}

// driver feeds steps to an opened operator as the runtime does.
type driver struct {
	op  operator.Operator
	oc  *Context
	out *stepCollector
}

// step processes one input step. A watermark that does not advance the
// context's watermark is ignored, as the runtime ignores it; otherwise the
// context's watermark moves first, then ProcessWatermark runs (when op
// implements operator.WatermarkHandler), then the watermark is appended to
// the output, as the runtime forwards it after the call.
func (d *driver) step(i int, s Step) error {
	if s.Record != nil {
		if err := d.op.Process(s.Record); err != nil {
			return fmt.Errorf("process input %d %s: %w", i, s, err)
		}
		return nil
	}
	return d.watermark(s.Watermark)
}

func (d *driver) watermark(wm int64) error {
	if wm <= d.oc.Watermark() {
		return nil
	}
	d.oc.SetWatermark(wm)
	if h, ok := d.op.(operator.WatermarkHandler); ok {
		if err := h.ProcessWatermark(wm); err != nil {
			return fmt.Errorf("watermark %d: %w", wm, err)
		}
	}
	d.out.steps = append(d.out.steps, WM(wm))
	return nil
}

// finish sends the final watermark of a bounded input (math.MaxInt64) and
// ends the input.
func (d *driver) finish() error {
	if err := d.watermark(math.MaxInt64); err != nil {
		return err
	}
	if err := d.op.EndInput(); err != nil {
		return fmt.Errorf("end input: %w", err)
	}
	return nil
}

// RunSteps drives op through an event-time scenario as the runtime does
// for a bounded input: Open; each step in order (Process for a record; for
// a watermark, see below); the final watermark math.MaxInt64; EndInput;
// Close (also after a failure). A watermark step that does not advance the
// watermark is ignored; one that does first moves oc's watermark
// (Context.Watermark), then calls ProcessWatermark if op implements
// operator.WatermarkHandler. It returns what op emitted, with each
// watermark after the records emitted before it (as the runtime forwards
// it), and the first error.
func RunSteps(t testing.TB, op operator.Operator, oc *Context, steps []Step) (out []Step, err error) {
	helper(t)
	col := &stepCollector{}
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	defer func() {
		if cerr := op.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
		out = col.steps
	}()
	if err := op.Open(ctx, oc, col); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	d := &driver{op: op, oc: oc, out: col}
	for i, s := range steps {
		if err := d.step(i, s); err != nil {
			return nil, err
		}
	}
	return nil, d.finish()
}
