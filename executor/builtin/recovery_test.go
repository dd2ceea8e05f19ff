package builtin

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/operator/operatortest"
	"github.com/sluicehq/sluice/executor/record"
)

// randomSteps returns n records of 15 keys with event times that go up
// with some disorder (at most disorder ms), and a watermark every few
// records, lag ms behind the largest time so far; with lag < disorder some
// records are late.
func randomSteps(seed uint64, n int, disorder, lag int64) []operatortest.Step {
	rng := rand.New(rand.NewPCG(seed, 7))
	var (
		steps []operatortest.Step
		maxT  int64
		now   int64
	)
	for i := range n {
		now += rng.Int64N(4)
		t := now - rng.Int64N(disorder+1)
		maxT = max(maxT, t)
		v := fmt.Sprint(rng.IntN(100) - 50)
		if i%9 == 0 {
			v = fmt.Sprintf("%d.5", rng.IntN(10))
		}
		steps = append(steps, operatortest.At(t, fmt.Sprintf(`{"k":"k%d","v":%s,"name":"n%d"}`, rng.IntN(15), v, i)))
		if rng.IntN(8) == 0 {
			steps = append(steps, operatortest.WM(maxT-lag))
		}
	}
	return steps
}

// canonical renders records sorted, for comparing outputs whose order
// depends on the parallelism.
func canonical(rs []*record.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = operatortest.Step{Record: r}.String()
	}
	slices.Sort(out)
	return out
}

// TestCheckpointRestore checks every keyed built-in through a checkpoint,
// a failure and a restore at parallelism 1 to 3: what an exactly-once sink
// commits must equal the output of an uninterrupted run.
func TestCheckpointRestore(t *testing.T) {
	tests := []struct {
		op, cfg  string
		lag      int64
		resetWMs bool
	}{
		{op: "count", cfg: `{}`},
		{op: "count", cfg: `{"emit":"every"}`},
		{op: "sum", cfg: `{"field":"v"}`},
		{op: "sum", cfg: `{"field":"v","emit":"every"}`},
		{op: "min", cfg: `{"field":"v"}`},
		{op: "max", cfg: `{"field":"v","emit":"every"}`},
		{op: "reduce", cfg: `{"expr":"(acc ?? \"\") + name"}`},
		{op: "reduce", cfg: `{"expr":"(acc ?? 0) + v","emit":"every"}`},
		{op: "window", cfg: `{"type":"tumbling","size":"20ms"}`, lag: 2},
		{op: "window", cfg: `{"type":"sliding","size":"30ms","slide":"10ms","aggregate":"sum","field":"v"}`, lag: 2},
		{op: "window", cfg: `{"type":"session","gap":"6ms","aggregate":"avg","field":"v"}`, lag: 2},
		{op: "window", cfg: `{"type":"tumbling","size":"20ms","aggregate":"max","field":"v","allowedLateness":"4ms","lateOutput":"late"}`, lag: 0},
		{op: "window", cfg: `{"type":"tumbling","size":"20ms","aggregate":"reduce","expr":"(acc ?? \"\") + name","allowedLateness":"3ms"}`, lag: 5},
		// no late records: restoring without the watermark changes nothing
		{op: "window", cfg: `{"type":"session","gap":"5ms","allowedLateness":"10ms"}`, lag: 20, resetWMs: true},
		{op: "window", cfg: `{"type":"sliding","size":"10ms","slide":"5ms"}`, lag: 20, resetWMs: true},
	}
	for _, tc := range tests {
		t.Run(tc.op+tc.cfg, func(t *testing.T) {
			d := def(t, tc.op)
			cfg := operatortest.DecodeConfig(t, d, tc.cfg)
			newOp := func() operator.Operator {
				op, err := d.NewOperator(cfg)
				if err != nil {
					t.Fatal(err)
				}
				return op
			}
			steps := randomSteps(uint64(len(tc.cfg)), 400, 8, tc.lag)
			oc := keyedContext(t, "k")
			out, err := operatortest.RunSteps(t, newOp(), oc, steps)
			if err != nil {
				t.Fatal(err)
			}
			want := canonical(operatortest.StepRecords(out))
			if len(want) == 0 {
				t.Fatal("no output")
			}
			rng := rand.New(rand.NewPCG(3, 3))
			for i := range 12 {
				r := operatortest.Recovery{Checkpoint: rng.IntN(len(steps) + 1), Parallelism: 1 + i%3, ResetWatermark: tc.resetWMs}
				r.Failure = r.Checkpoint + rng.IntN(len(steps)-r.Checkpoint+1)
				got, err := operatortest.RunRecovered(t, newOp, keyedContext(t, "k"), steps, r)
				if err != nil {
					t.Fatalf("%+v: %v", r, err)
				}
				if g := canonical(got); !slices.Equal(g, want) {
					t.Fatalf("%+v: %d records, want %d; first difference %q", r, len(g), len(want), firstDiff(g, want))
				}
			}
		})
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " vs " + b[i]
		}
	}
	return "(length)"
}

// TestCombinerFlushesBeforeBarrier checks that a combiner emits its
// partial results before a checkpoint barrier and starts afresh.
func TestCombinerFlushesBeforeBarrier(t *testing.T) {
	c := newCombiner(aggCount, "", "n")
	var col operatortest.Collector
	if err := c.Open(t.Context(), keyedContext(t, "k"), &col); err != nil {
		t.Fatal(err)
	}
	for _, r := range operatortest.Records(`{"k":"a"}`, `{"k":"b"}`, `{"k":"a"}`) {
		if err := c.Process(r); err != nil {
			t.Fatal(err)
		}
	}
	var f operator.BarrierFlusher = c
	if err := f.FlushBeforeBarrier(1); err != nil {
		t.Fatal(err)
	}
	if got := canonical(col.Records()); !slices.Equal(got, []string{`{"k":"a","n":2}`, `{"k":"b","n":1}`}) {
		t.Fatalf("partials %q", got)
	}
	if err := f.FlushBeforeBarrier(2); err != nil { // nothing held
		t.Fatal(err)
	}
	if err := c.Process(operatortest.Records(`{"k":"a"}`)[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.EndInput(); err != nil {
		t.Fatal(err)
	}
	if got := operatortest.JSON(col.Records()[2:]); got != lines(`{"k":"a","n":1}`) {
		t.Fatalf("after the barrier: %s", got)
	}
}

// TestKeyedStateIsRestored checks that emit "final" includes the restored
// keys, and that the state holds what the operator counted.
func TestKeyedStateIsRestored(t *testing.T) {
	oc := keyedContext(t, "k")
	op := operatortest.NewOperator(t, def(t, "count"), `{}`)
	if err := op.Open(t.Context(), oc, &operatortest.Collector{}); err != nil {
		t.Fatal(err)
	}
	for _, r := range operatortest.Records(`{"k":"a"}`, `{"k":2}`, `{"k":"a"}`) {
		if err := op.Process(r); err != nil {
			t.Fatal(err)
		}
	}
	restored := operatortest.Rescale(t, oc.KeyedState(), 1)[0]
	oc2 := keyedContext(t, "k")
	oc2.Backend = restored
	got, err := operatortest.RunOperator(t, operatortest.NewOperator(t, def(t, "count"), `{}`), oc2, operatortest.Records(`{"k":"b"}`, `{"k":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := lines(`{"k":"a","count":2}`, `{"k":"b","count":1}`, `{"k":2,"count":2}`); operatortest.JSON(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", operatortest.JSON(got), want)
	}
}
