package operatortest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
	"github.com/sluicehq/sluice/executor/state"
)

func TestContextServices(t *testing.T) {
	c := NewContext(t)
	if c.KeyedState() != nil || c.MaxParallelism() != 128 || c.Watermark() != math.MinInt64 {
		t.Fatalf("defaults: state %v, max parallelism %d, watermark %d", c.KeyedState(), c.MaxParallelism(), c.Watermark())
	}
	c.Keyed("k")
	c.MaxKeyGroups = 16
	b := c.KeyedState()
	if b == nil || c.KeyedState() != b || b.MaxParallelism() != 16 {
		t.Fatal("a keyed context has no stable keyed state")
	}
	cp := c.Copy()
	if cp.KeyedState() == b {
		t.Fatal("a copy shares the keyed state")
	}
	explicit := state.NewBackend(16)
	cp.Backend = explicit
	if cp.KeyedState() != explicit || cp.Copy().KeyedState() != explicit {
		t.Fatal("Backend is not used")
	}

	if err := c.SideOutput("late").Emit(Records(`{"a":1}`)[0]); err != nil {
		t.Fatal(err)
	}
	_ = c.SideOutput("late").Emit(Records(`{"a":2}`)[0])
	_ = c.SideOutput("other").Emit(Records(`{"b":1}`)[0])
	if got := JSON(c.SideRecords("late")); got != "{\"a\":1}\n{\"a\":2}\n" {
		t.Fatalf("side output %q", got)
	}
	if len(cp.SideRecords("late")) != 0 || c.SideRecords("none") != nil {
		t.Fatal("side outputs leak")
	}
	c.Counter("late").Add(2)
	c.Counter("late").Add(1)
	if c.CounterValue("late") != 3 || c.CounterValue("none") != 0 || cp.CounterValue("late") != 0 {
		t.Fatalf("counters %d %d", c.CounterValue("late"), cp.CounterValue("late"))
	}
	c.SetWatermark(42)
	if c.Watermark() != 42 || cp.Watermark() != math.MinInt64 {
		t.Fatal("watermark")
	}
}

// wmEcho echoes records, and a record {"wm": wm, "seen": Watermark()} for
// each watermark.
type wmEcho struct {
	oc  operator.Context
	out operator.Emitter
}

func (e *wmEcho) Open(_ context.Context, oc operator.Context, out operator.Emitter) error {
	e.oc, e.out = oc, out
	return nil
}
func (e *wmEcho) Process(r *record.Record) error { return e.out.Emit(r) }
func (e *wmEcho) ProcessWatermark(wm int64) error {
	return e.out.Emit(&record.Record{Fields: []record.Field{
		{Name: "wm", Value: record.IntV(wm)}, {Name: "seen", Value: record.IntV(e.oc.Watermark())}}})
}
func (e *wmEcho) EndInput() error {
	return e.out.Emit(&record.Record{Fields: []record.Field{{Name: "end", Value: record.BoolV(true)}}})
}
func (e *wmEcho) Close() error { return nil }

func TestRunSteps(t *testing.T) {
	out, err := RunSteps(t, &wmEcho{}, NewContext(t), []Step{
		At(5, `{"a":1}`), WM(3), Untimed(`{"b":2}`), WM(3), WM(1), WM(10),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":1} @5
{"wm":3,"seen":3}
wm 3
{"b":2}
{"wm":10,"seen":10}
wm 10
{"wm":9223372036854775807,"seen":9223372036854775807}
wm +inf
{"end":true}
`
	if got := Trace(out); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := len(StepRecords(out)); got != 6 {
		t.Fatalf("%d records", got)
	}
}

// keyedSum keeps a running sum of v per key in the keyed state and emits
// {k, sum} for every record.
type keyedSum struct {
	oc   operator.Context
	out  operator.Emitter
	sums *state.Value
}

func (s *keyedSum) Open(_ context.Context, oc operator.Context, out operator.Emitter) error {
	s.oc, s.out, s.sums = oc, out, oc.KeyedState().Value("sum")
	return nil
}
func (s *keyedSum) Process(r *record.Record) error {
	k, err := s.oc.Key(r)
	if err != nil {
		return err
	}
	v, _ := r.Get("v")
	p := s.sums.Ref(k)
	*p = record.IntV(p.Int() + v.Int())
	return s.out.Emit(&record.Record{Fields: []record.Field{{Name: "k", Value: k.Value()}, {Name: "sum", Value: *p}}})
}
func (s *keyedSum) EndInput() error { return nil }
func (s *keyedSum) Close() error    { return nil }

func sorted(rs []*record.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	slices.Sort(out)
	return out
}

func TestRunRecovered(t *testing.T) {
	var steps []Step
	for i := range 60 {
		steps = append(steps, At(int64(i), fmt.Sprintf(`{"k":"k%d","v":%d}`, i%7, i)))
		if i%10 == 9 {
			steps = append(steps, WM(int64(i)))
		}
	}
	oc := NewContext(t).Keyed("k")
	out, err := RunSteps(t, &keyedSum{}, oc, steps)
	if err != nil {
		t.Fatal(err)
	}
	want := sorted(StepRecords(out))
	newOp := func() operator.Operator { return &keyedSum{} }
	for _, r := range []Recovery{
		{Checkpoint: 0, Failure: 0},
		{Checkpoint: 20, Failure: 20},
		{Checkpoint: 20, Failure: 50, Parallelism: 2},
		{Checkpoint: 33, Failure: 66, Parallelism: 3, ResetWatermark: true},
		{Checkpoint: 66, Failure: 66, Parallelism: 4},
	} {
		got, err := RunRecovered(t, newOp, NewContext(t).Keyed("k"), steps, r)
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if g := sorted(got); !slices.Equal(g, want) {
			t.Fatalf("%+v: %d records, want %d", r, len(g), len(want))
		}
	}
	// without the keyed state in the snapshot, sums restart: the helper
	// must show it
	forgetful := func() operator.Operator { return &forgetSum{} }
	got, err := RunRecovered(t, forgetful, NewContext(t).Keyed("k"), steps, Recovery{Checkpoint: 30, Failure: 30})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(sorted(got), want) {
		t.Fatal("an operator that keeps its sums outside the keyed state recovers correctly")
	}
}

// forgetSum is keyedSum with its sums in a private backend.
type forgetSum struct{ keyedSum }

func (s *forgetSum) Open(_ context.Context, oc operator.Context, out operator.Emitter) error {
	s.oc, s.out, s.sums = oc, out, state.NewBackend(1).Value("sum")
	return nil
}

func TestRescale(t *testing.T) {
	b := state.NewBackend(32)
	for i := range 100 {
		k, _ := record.KeyOf(record.IntV(int64(i)))
		b.Value("v").Set(k, record.IntV(int64(i)))
	}
	parts := Rescale(t, b, 3)
	total := 0
	for i, p := range parts {
		p.Value("v").Range(func(k record.Key, v record.Value) bool {
			if o := record.SubtaskForKeyGroup(p.KeyGroup(k), 32, 3); o != i || k.Value().Int() != v.Int() {
				t.Fatalf("part %d holds %v=%v of subtask %d", i, k, v, o)
			}
			total++
			return true
		})
	}
	if total != 100 {
		t.Fatalf("%d entries after rescaling", total)
	}
}

func TestCommit(t *testing.T) {
	oc := NewContext(t)
	ctx := t.Context()
	b, _ := oc.Bucket(ctx, "")
	if err := b.WriteAll(ctx, "_staging/a", []byte("A"), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, "_staging/b", []byte("B"), nil); err != nil {
		t.Fatal(err)
	}
	c := []operator.Commitable{{Staged: "_staging/a", Final: "part-a"}}
	for range 2 {
		if err := Commit(ctx, oc, c); err != nil {
			t.Fatal(err)
		}
	}
	// another staged object for an existing final name does not replace it
	if err := Commit(ctx, oc, []operator.Commitable{{Staged: "_staging/b", Final: "part-a"}}); err != nil {
		t.Fatal(err)
	}
	got, _ := b.ReadAll(ctx, "part-a")
	if string(got) != "A" {
		t.Fatalf("part-a = %q", got)
	}
	for _, k := range []string{"_staging/a", "_staging/b"} {
		if ok, _ := b.Exists(ctx, k); ok {
			t.Errorf("%s left", k)
		}
	}
	err := Commit(ctx, oc, []operator.Commitable{{Staged: "_staging/x", Final: "part-x"}})
	if err == nil || !strings.Contains(err.Error(), "neither the staged nor the final object exists") {
		t.Fatalf("lost output: %v", err)
	}
}
