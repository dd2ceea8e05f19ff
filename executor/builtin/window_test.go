package builtin

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/operator/operatortest"
	"github.com/sluicehq/sluice/executor/record"
)

// at is a record step of key k with v at event time t.
func at(t int64, object string) operatortest.Step { return operatortest.At(t, object) }

var wm = operatortest.WM

// TestWindow runs event-time scenarios with out-of-order input through
// window and checks the exact output, where each watermark falls in it, the
// late record count and the late side output.
func TestWindow(t *testing.T) {
	tests := []struct {
		name  string
		cfg   string
		steps []operatortest.Step
		want  string
		late  int64
		side  string // the "late" side output
	}{
		{
			name: "tumbling count",
			cfg:  `{"type":"tumbling","size":"10ms"}`,
			steps: []operatortest.Step{
				at(1, `{"k":"a"}`), at(5, `{"k":"b"}`), at(12, `{"k":"a"}`), at(3, `{"k":"a"}`),
				wm(9),
				at(7, `{"k":"a"}`), // late: [0, 10) fired at 9
				at(15, `{"k":"b"}`), at(19, `{"k":"a"}`),
				wm(19),
				wm(19), wm(12), // no progress: ignored
				at(25, `{"k":"a"}`),
			},
			want: lines(
				`{"k":"a","windowStart":0,"windowEnd":10,"value":2} @9`,
				`{"k":"b","windowStart":0,"windowEnd":10,"value":1} @9`,
				`wm 9`,
				`{"k":"a","windowStart":10,"windowEnd":20,"value":2} @19`,
				`{"k":"b","windowStart":10,"windowEnd":20,"value":1} @19`,
				`wm 19`,
				`{"k":"a","windowStart":20,"windowEnd":30,"value":1} @29`,
				`wm +inf`),
			late: 1,
		},
		{
			name: "tumbling negative times and a watermark between windows",
			cfg:  `{"type":"tumbling","size":"1s","as":"n"}`,
			steps: []operatortest.Step{
				at(-1, `{"k":1}`), at(-1000, `{"k":1}`), at(-1001, `{"k":1}`), at(0, `{"k":1}`),
				wm(-2), // nothing ends at or before -2
				wm(-1),
				at(999, `{"k":1}`),
			},
			want: lines(
				`{"k":1,"windowStart":-2000,"windowEnd":-1000,"n":1} @-1001`,
				`wm -2`,
				`{"k":1,"windowStart":-1000,"windowEnd":0,"n":2} @-1`,
				`wm -1`,
				`{"k":1,"windowStart":0,"windowEnd":1000,"n":2} @999`,
				`wm +inf`),
		},
		{
			name: "sliding sum",
			cfg:  `{"type":"sliding","size":"10ms","slide":"5ms","aggregate":"sum","field":"v"}`,
			steps: []operatortest.Step{
				at(3, `{"k":"a","v":1}`), at(7, `{"k":"a","v":2}`), at(12, `{"k":"a","v":4}`),
				wm(9),
				at(4, `{"k":"a","v":8}`),  // late: [-5, 5) and [0, 10) fired
				at(6, `{"k":"a","v":16}`), // [0, 10) fired, but [5, 15) takes it
				wm(14),
			},
			want: lines(
				`{"k":"a","windowStart":-5,"windowEnd":5,"value":1} @4`,
				`{"k":"a","windowStart":0,"windowEnd":10,"value":3} @9`,
				`wm 9`,
				`{"k":"a","windowStart":5,"windowEnd":15,"value":22} @14`,
				`wm 14`,
				`{"k":"a","windowStart":10,"windowEnd":20,"value":4} @19`,
				`wm +inf`),
			late: 1,
		},
		{
			name: "sliding with gaps between windows",
			cfg:  `{"type":"sliding","size":"2ms","slide":"5ms","aggregate":"max","field":"v"}`,
			steps: []operatortest.Step{
				at(0, `{"k":"a","v":1}`), at(1, `{"k":"a","v":3}`),
				at(3, `{"k":"a","v":100}`), // in no window: dropped, not late
				wm(4),
				at(2, `{"k":"a","v":100}`), // in no window, and late
				at(6, `{"k":"a","v":2.5}`),
			},
			want: lines(
				`{"k":"a","windowStart":0,"windowEnd":2,"value":3} @1`,
				`wm 4`,
				`{"k":"a","windowStart":5,"windowEnd":7,"value":2.5} @6`,
				`wm +inf`),
			late: 1,
		},
		{
			name: "session count, merging and late",
			cfg:  `{"type":"session","gap":"10ms","lateOutput":"late"}`,
			steps: []operatortest.Step{
				at(1, `{"k":"a"}`), at(5, `{"k":"a"}`), // [1, 15)
				at(30, `{"k":"a"}`), // [30, 40)
				at(20, `{"k":"a"}`), // [20, 30) touches [30, 40): [20, 40)
				at(14, `{"k":"b"}`), // [14, 24)
				wm(23),
				at(10, `{"k":"a"}`), // [10, 20) merges into [20, 40): [10, 40)
				at(5, `{"k":"b"}`),  // [5, 15) is late
			},
			want: lines(
				`{"k":"a","windowStart":1,"windowEnd":15,"value":2} @14`,
				`{"k":"b","windowStart":14,"windowEnd":24,"value":1} @23`,
				`wm 23`,
				`{"k":"a","windowStart":10,"windowEnd":40,"value":3} @39`,
				`wm +inf`),
			late: 1,
			side: lines(`{"k":"b"} @5`),
		},
		{
			name: "session bridging two sessions, avg and min",
			cfg:  `{"type":"session","gap":"5ms","aggregate":"avg","field":"v"}`,
			steps: []operatortest.Step{
				at(0, `{"k":"x","v":1}`), at(9, `{"k":"x","v":2}`), // [0, 5) and [9, 14)
				at(4, `{"k":"x","v":6}`),                             // [4, 9) touches both: [0, 14)
				at(20, `{"k":"x","v":3}`), at(26, `{"k":"x","v":4}`), // 6 apart: two sessions
				at(100, `{"k":"x","v":-1}`),
				at(50, `{"k":"y","v":7}`),
			},
			want: lines(
				`{"k":"x","windowStart":0,"windowEnd":14,"value":3} @13`,
				`{"k":"x","windowStart":20,"windowEnd":25,"value":3} @24`,
				`{"k":"x","windowStart":26,"windowEnd":31,"value":4} @30`,
				`{"k":"y","windowStart":50,"windowEnd":55,"value":7} @54`,
				`{"k":"x","windowStart":100,"windowEnd":105,"value":-1} @104`,
				`wm +inf`),
		},
		{
			name: "allowed lateness: late firing, then purge",
			cfg:  `{"type":"tumbling","size":"10ms","aggregate":"avg","field":"v","allowedLateness":"5ms","lateOutput":"late"}`,
			steps: []operatortest.Step{
				at(1, `{"k":"a","v":1}`), at(4, `{"k":"a","v":3}`),
				wm(9),
				at(6, `{"k":"a","v":5}`), // within the lateness: fires again at once
				wm(14),                   // purges [0, 10)
				at(8, `{"k":"a","v":7}`), // late
				at(15, `{"k":"a","v":1}`),
			},
			want: lines(
				`{"k":"a","windowStart":0,"windowEnd":10,"value":2} @9`,
				`wm 9`,
				`{"k":"a","windowStart":0,"windowEnd":10,"value":3} @9`,
				`wm 14`,
				`{"k":"a","windowStart":10,"windowEnd":20,"value":1} @19`,
				`wm +inf`),
			late: 1,
			side: lines(`{"k":"a","v":7} @8`),
		},
		{
			name: "reduce in arrival order",
			cfg:  `{"type":"tumbling","size":"1m","aggregate":"reduce","expr":"(acc ?? \"\") + name","as":"names"}`,
			steps: []operatortest.Step{
				at(60_001, `{"k":"a","name":"x"}`), at(60_000, `{"k":"a","name":"y"}`), at(5, `{"k":"a","name":"z"}`),
				wm(60_000),
				at(119_999, `{"k":"a","name":"w"}`),
			},
			want: lines(
				`{"k":"a","windowStart":0,"windowEnd":60000,"names":"z"} @59999`,
				`wm 60000`,
				`{"k":"a","windowStart":60000,"windowEnd":120000,"names":"xyw"} @119999`,
				`wm +inf`),
		},
		{
			name: "min of ints and floats",
			cfg:  `{"type":"tumbling","size":"10ms","aggregate":"min","field":"v"}`,
			steps: []operatortest.Step{
				at(1, `{"k":"a","v":3}`), at(2, `{"k":"a","v":2.5}`), at(3, `{"k":"a","v":4}`),
			},
			want: lines(`{"k":"a","windowStart":0,"windowEnd":10,"value":2.5} @9`, `wm +inf`),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oc := keyedContext(t, "k")
			op := operatortest.NewOperator(t, def(t, "window"), tc.cfg)
			out, err := operatortest.RunSteps(t, op, oc, tc.steps)
			if err != nil {
				t.Fatal(err)
			}
			if got := operatortest.Trace(out); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
			if got := oc.CounterValue("lateRecords"); got != tc.late {
				t.Errorf("late records %d, want %d", got, tc.late)
			}
			if got := operatortest.Trace(stepsOf(oc.SideRecords("late"))); got != tc.side {
				t.Errorf("late side output\n%s\nwant\n%s", got, tc.side)
			}
			if !oc.KeyedState().Empty() {
				t.Error("state left after the final watermark")
			}
		})
	}
}

func TestWindowEndInputFiresEverything(t *testing.T) {
	// without the final watermark, EndInput fires what is left
	op := operatortest.NewOperator(t, def(t, "window"), `{"type":"session","gap":"1s"}`)
	oc := keyedContext(t, "k")
	out, err := operatortest.RunOperator(t, op, oc, operatortest.StepRecords([]operatortest.Step{
		at(5, `{"k":"b"}`), at(1, `{"k":"a"}`), at(math.MaxInt64-10, `{"k":"a"}`),
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := lines(
		`{"k":"a","windowStart":1,"windowEnd":1001,"value":1}`,
		`{"k":"b","windowStart":5,"windowEnd":1005,"value":1}`,
		`{"k":"a","windowStart":9223372036854775797,"windowEnd":9223372036854775807,"value":1}`)
	if got := operatortest.JSON(out); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestWindowErrors(t *testing.T) {
	tests := []struct {
		cfg   string
		steps []operatortest.Step
		err   string
	}{
		{`{"type":"tumbling","size":"1s"}`, []operatortest.Step{operatortest.Untimed(`{"k":"a"}`)},
			`window "v": record {"k":"a"} has no event time`},
		{`{"type":"tumbling","size":"1s","aggregate":"sum","field":"v"}`, []operatortest.Step{at(1, `{"k":"a","v":"x"}`)},
			`sum: field "v" of key "a" is string "x", not a number`},
		{`{"type":"sliding","size":"1s","slide":"1ms","aggregate":"avg","field":"v"}`, []operatortest.Step{at(1, `{"k":"a"}`)},
			`avg: field "v" of key "a" is missing, not a number`},
		{`{"type":"tumbling","size":"1s","aggregate":"reduce","expr":"acc + 1"}`, []operatortest.Step{at(1, `{"k":"a"}`)},
			`window: key "a": expression "acc + 1": invalid operation`},
		{`{"type":"tumbling","size":"1s","as":"k"}`, nil, `window: the key name "k" is also an output field`},
		{`{"type":"tumbling","size":"1s"}`, []operatortest.Step{at(1, `{"x":"a"}`)}, `window: key of {"x":"a"}`},
	}
	for _, tc := range tests {
		op := operatortest.NewOperator(t, def(t, "window"), tc.cfg)
		_, err := operatortest.RunSteps(t, op, keyedContext(t, "k"), tc.steps)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", tc.cfg, err, tc.err)
		}
	}
}

func TestWindowAssign(t *testing.T) {
	tests := []struct {
		spec windowSpec
		t    int64
		want []timeWindow
	}{
		{windowSpec{typ: windowTumbling, size: 10}, 0, []timeWindow{{0, 10}}},
		{windowSpec{typ: windowTumbling, size: 10}, 9, []timeWindow{{0, 10}}},
		{windowSpec{typ: windowTumbling, size: 10}, -10, []timeWindow{{-10, 0}}},
		{windowSpec{typ: windowTumbling, size: 10}, -11, []timeWindow{{-20, -10}}},
		{windowSpec{typ: windowSliding, size: 10, slide: 5}, 7, []timeWindow{{5, 15}, {0, 10}}},
		{windowSpec{typ: windowSliding, size: 10, slide: 3}, 7, []timeWindow{{6, 16}, {3, 13}, {0, 10}}},
		{windowSpec{typ: windowSliding, size: 2, slide: 5}, 3, nil},
		{windowSpec{typ: windowSliding, size: 10, slide: 8}, math.MinInt64, []timeWindow{{math.MinInt64, math.MinInt64 + 10}}},
		{windowSpec{typ: windowSliding, size: 10, slide: 5}, math.MinInt64, nil}, // the start underflows
		{windowSpec{typ: windowSliding, size: 10, slide: 5}, math.MinInt64 + 3, []timeWindow{{math.MinInt64 + 3, math.MinInt64 + 13}}},
		{windowSpec{typ: windowTumbling, size: 10}, math.MaxInt64, nil}, // would end beyond int64
	}
	for _, tc := range tests {
		got := tc.spec.assignWindows(nil, tc.t)
		if len(got) != len(tc.want) {
			t.Errorf("%+v at %d: %v, want %v", tc.spec, tc.t, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%+v at %d: %v, want %v", tc.spec, tc.t, got, tc.want)
			}
		}
	}
	for _, f := range []string{"", "1", "a/b", "5/5", "10/2", "1/2/x"} {
		if _, _, err := parseWindowField(f); err == nil {
			t.Errorf("field %q parsed", f)
		}
	}
	if w, fired, err := parseWindowField(firedField(timeWindow{-5, 7})); err != nil || !fired || w != (timeWindow{-5, 7}) {
		t.Errorf("fired field: %v %v %v", w, fired, err)
	}
}

// stepsOf turns records into steps, for Trace.
func stepsOf(rs []*record.Record) []operatortest.Step {
	out := make([]operatortest.Step, len(rs))
	for i, r := range rs {
		out[i] = operatortest.Step{Record: r}
	}
	return out
}

// BenchmarkWindowTumblingCount counts 1000 keys in 1 s tumbling windows,
// with a watermark every 1000 records.
func BenchmarkWindowTumblingCount(b *testing.B) {
	op := operatortest.NewOperator(b, def(b, "window"), `{"type":"tumbling","size":"1s"}`)
	oc := operatortest.NewContext(b).Keyed("k")
	if err := op.Open(b.Context(), oc, operator.EmitterFunc(func(*record.Record) error { return nil })); err != nil {
		b.Fatal(err)
	}
	recs := make([]*record.Record, 1000)
	for i := range recs {
		recs[i] = &record.Record{Fields: []record.Field{{Name: "k", Value: record.Str(fmt.Sprintf("key%d", i))}}, Timed: true}
	}
	w := op.(operator.WatermarkHandler)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := recs[i%len(recs)]
		r.Time = int64(i / 100) // a window holds 100 records per key
		if err := op.Process(r); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 {
			if err := w.ProcessWatermark(r.Time - 1); err != nil {
				b.Fatal(err)
			}
		}
		i++
	}
}
