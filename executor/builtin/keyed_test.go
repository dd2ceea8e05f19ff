package builtin

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/operator/operatortest"
	"github.com/sluicehq/sluice/executor/record"
	"github.com/sluicehq/sluice/executor/state"
)

func keyedContext(t *testing.T, field string) *operatortest.Context {
	return operatortest.NewContext(t).Keyed(field)
}

func TestKeyed(t *testing.T) {
	in := []string{
		`{"user":"bob","amount":5,"price":1.5,"name":"x"}`,
		`{"user":"ann","amount":3,"price":2,"name":"y"}`,
		`{"user":"bob","amount":-2,"price":0.25,"name":"z"}`,
		`{"user":"cid","amount":7,"price":3,"name":"w"}`,
		`{"user":"bob","amount":10,"price":4,"name":"v"}`,
	}
	tests := []struct {
		name, op, cfg string
		in            []string
		want          string
		err           string
	}{
		{name: "count", op: "count", cfg: `{}`, in: in,
			want: lines(`{"user":"ann","count":1}`, `{"user":"bob","count":3}`, `{"user":"cid","count":1}`)},
		{name: "count every", op: "count", cfg: `{"emit":"every","as":"n"}`, in: in,
			want: lines(`{"user":"bob","n":1}`, `{"user":"ann","n":1}`, `{"user":"bob","n":2}`, `{"user":"cid","n":1}`, `{"user":"bob","n":3}`)},
		{name: "count empty input", op: "count", cfg: `{}`},
		{name: "sum ints", op: "sum", cfg: `{"field":"amount"}`, in: in,
			want: lines(`{"user":"ann","sum":3}`, `{"user":"bob","sum":13}`, `{"user":"cid","sum":7}`)},
		{name: "sum floats", op: "sum", cfg: `{"field":"price","as":"total"}`, in: in,
			want: lines(`{"user":"ann","total":2}`, `{"user":"bob","total":5.75}`, `{"user":"cid","total":3}`)},
		{name: "sum every", op: "sum", cfg: `{"field":"amount","emit":"every"}`, in: in[:3],
			want: lines(`{"user":"bob","sum":5}`, `{"user":"ann","sum":3}`, `{"user":"bob","sum":3}`)},
		{name: "sum int then float", op: "sum", cfg: `{"field":"v"}`, in: []string{`{"user":"a","v":1}`, `{"user":"a","v":0.5}`, `{"user":"a","v":2}`},
			want: lines(`{"user":"a","sum":3.5}`)},
		{name: "sum non-numeric", op: "sum", cfg: `{"field":"name"}`, in: in,
			err: `sum: field "name" of key "bob" is string "x", not a number`},
		{name: "sum missing", op: "sum", cfg: `{"field":"nope"}`, in: in,
			err: `sum: field "nope" of key "bob" is missing, not a number`},
		{name: "min", op: "min", cfg: `{"field":"amount"}`, in: in,
			want: lines(`{"user":"ann","min":3}`, `{"user":"bob","min":-2}`, `{"user":"cid","min":7}`)},
		{name: "max", op: "max", cfg: `{"field":"price"}`, in: in,
			want: lines(`{"user":"ann","max":2}`, `{"user":"bob","max":4}`, `{"user":"cid","max":3}`)},
		{name: "max mixed int float", op: "max", cfg: `{"field":"v"}`, in: []string{`{"user":"a","v":1}`, `{"user":"a","v":1.5}`, `{"user":"a","v":1}`},
			want: lines(`{"user":"a","max":1.5}`)},
		{name: "min every", op: "min", cfg: `{"field":"amount","emit":"every"}`, in: in[:3],
			want: lines(`{"user":"bob","min":5}`, `{"user":"ann","min":3}`, `{"user":"bob","min":-2}`)},
		{name: "max null", op: "max", cfg: `{"field":"v"}`, in: []string{`{"user":"a","v":null}`},
			err: `max: field "v" of key "a" is null null, not a number`},
		{name: "reduce", op: "reduce", cfg: `{"expr":"(acc ?? 0) + amount * 2"}`, in: in,
			want: lines(`{"user":"ann","value":6}`, `{"user":"bob","value":26}`, `{"user":"cid","value":14}`)},
		{name: "reduce list", op: "reduce", cfg: `{"expr":"concat(acc ?? [], [name])","as":"names"}`, in: in,
			want: lines(`{"user":"ann","names":["y"]}`, `{"user":"bob","names":["x","z","v"]}`, `{"user":"cid","names":["w"]}`)},
		{name: "reduce every", op: "reduce", cfg: `{"expr":"acc == nil ? name : acc + name","emit":"every"}`, in: in[:3],
			want: lines(`{"user":"bob","value":"x"}`, `{"user":"ann","value":"y"}`, `{"user":"bob","value":"xz"}`)},
		{name: "reduce error", op: "reduce", cfg: `{"expr":"acc + amount"}`, in: in,
			err: `reduce: key "bob": expression "acc + amount": invalid operation: <nil> + int`},
		{name: "reduce map result", op: "reduce", cfg: `{"expr":"{\"a\": 1}"}`, in: in,
			err: `reduce: key "bob": expression "{\"a\": 1}": result: a map cannot be a field value`},
		{name: "missing key field", op: "count", cfg: `{}`, in: []string{`{"name":"x"}`},
			err: `count: key of {"name":"x"}: record {"name":"x"} has no key field "user"`},
		{name: "as is the key name", op: "count", cfg: `{"as":"user"}`, in: in,
			err: `open: count: as "user" is also the name of the key field`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runOp(t, tc.op, tc.cfg, keyedContext(t, "user"), tc.in...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestKeyedKeyKinds(t *testing.T) {
	// keys of several kinds come out in record.Value order: by kind, numbers
	// together
	in := []string{`{"k":"b"}`, `{"k":2}`, `{"k":true}`, `{"k":"a"}`, `{"k":1.5}`, `{"k":null}`, `{"k":2}`}
	got, err := runOp(t, "count", `{}`, keyedContext(t, "k"), in...)
	if err != nil {
		t.Fatal(err)
	}
	want := lines(`{"k":null,"count":1}`, `{"k":"a","count":1}`, `{"k":"b","count":1}`, `{"k":1.5,"count":1}`, `{"k":2,"count":2}`, `{"k":true,"count":1}`)
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	_, err = runOp(t, "count", `{}`, keyedContext(t, "k"), `{"k":[1]}`)
	if err == nil || !strings.Contains(err.Error(), "a list cannot be a key") {
		t.Fatalf("list key: %v", err)
	}
}

func TestKeyedKeyName(t *testing.T) {
	oc := operatortest.NewContext(t)
	oc.KeyFunc = func(r *record.Record) (record.Key, error) {
		v, _ := r.Get("user")
		return record.KeyOf(record.Str(strings.ToUpper(v.Str())))
	}
	got, err := runOp(t, "count", `{}`, oc, `{"user":"a"}`, `{"user":"A"}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := lines(`{"key":"A","count":2}`); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestSumOverflowBecomesFloat(t *testing.T) {
	got, err := runOp(t, "sum", `{"field":"v"}`, keyedContext(t, "k"),
		fmt.Sprintf(`{"k":1,"v":%d}`, int64(math.MaxInt64)), `{"k":1,"v":1}`, `{"k":2,"v":-9223372036854775808}`, `{"k":2,"v":-1}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := lines(`{"k":1,"sum":9.223372036854776e+18}`, `{"k":2,"sum":-9.223372036854776e+18}`); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// TestKeysDoNotPinInputStrings checks that keyed state copies key strings:
// a key that is a substring of a big line (as tokenize emits) must not keep
// the line alive.
func TestKeysDoNotPinInputStrings(t *testing.T) {
	line := "word " + strings.Repeat("x", 1<<16)
	nop := operator.EmitterFunc(func(*record.Record) error { return nil })
	in := &record.Record{Fields: []record.Field{{Name: "w", Value: record.Str(line[:4])}, {Name: "v", Value: record.IntV(1)}}}

	agg := newAggregateOp(aggCount, "", "count", emitFinal)
	comb := newCombiner(aggSum, "v", "sum")
	red, err := newReduce(&ReduceConfig{Expr: "1", As: "value", Emit: emitFinal})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []operator.Operator{agg, comb, red} {
		if err := op.Open(t.Context(), keyedContext(t, "w"), nop); err != nil {
			t.Fatal(err)
		}
		if err := op.Process(in); err != nil {
			t.Fatal(err)
		}
	}
	var keys []record.Key
	for _, s := range []*state.Value{agg.accs, comb.partials, red.(*reduceOp).accs} {
		s.Range(func(k record.Key, _ record.Value) bool {
			keys = append(keys, k)
			return true
		})
	}
	if len(keys) != 3 {
		t.Fatalf("%d keys", len(keys))
	}
	for _, k := range keys {
		s := k.Value().Str()
		if s != "word" || unsafe.StringData(s) == unsafe.StringData(line) {
			t.Errorf("key %q shares memory with the input line", s)
		}
	}
}

// TestCombiner checks that count, sum, min and max give the same results
// with and without their combiners, whatever the partitioning of the input.
func TestCombiner(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var in []*record.Record
	for i := range 5000 {
		v := record.IntV(int64(rng.IntN(2000) - 1000))
		if i%7 == 0 {
			v = record.FloatV(rng.Float64() * 100)
		}
		in = append(in, &record.Record{Fields: []record.Field{
			{Name: "word", Value: record.Str(fmt.Sprintf("w%d", rng.IntN(300)))},
			{Name: "v", Value: v},
		}})
	}
	for _, tc := range []struct{ op, cfg string }{
		{"count", `{}`},
		{"count", `{"as":"n"}`},
		{"sum", `{"field":"v"}`},
		{"min", `{"field":"v","as":"lo"}`},
		{"max", `{"field":"v"}`},
	} {
		t.Run(tc.op+tc.cfg, func(t *testing.T) {
			d := def(t, tc.op)
			cfg := operatortest.DecodeConfig(t, d, tc.cfg)
			op, err := d.NewOperator(cfg)
			if err != nil {
				t.Fatal(err)
			}
			direct, err := operatortest.RunOperator(t, op, keyedContext(t, "word"), in)
			if err != nil {
				t.Fatal(err)
			}
			if len(direct) != 300 {
				t.Fatalf("%d keys", len(direct))
			}
			for _, parts := range []int{1, 3, 10} {
				var partitions [][]*record.Record
				for i := range parts {
					lo, hi := len(in)*i/parts, len(in)*(i+1)/parts
					partitions = append(partitions, in[lo:hi])
				}
				combined, err := operatortest.RunCombined(t, d, cfg, keyedContext(t, "word"), partitions...)
				if err != nil {
					t.Fatal(err)
				}
				if !sameResults(direct, combined) {
					t.Fatalf("%d partitions: combined results differ:\n%s\nwant\n%s", parts, head(combined), head(direct))
				}
			}
		})
	}
}

// sameResults compares aggregates, allowing float sums to differ in rounding.
func sameResults(a, b []*record.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i].Fields) != 2 || len(b[i].Fields) != 2 ||
			a[i].Fields[0].Name != b[i].Fields[0].Name || !a[i].Fields[0].Value.Equal(b[i].Fields[0].Value) ||
			a[i].Fields[1].Name != b[i].Fields[1].Name {
			return false
		}
		x, y := a[i].Fields[1].Value, b[i].Fields[1].Value
		if x.Kind() != y.Kind() {
			return false
		}
		if x.Kind() == record.Float && math.Abs(x.Float()-y.Float()) <= 1e-9*math.Abs(x.Float()) {
			continue
		}
		if !x.Equal(y) {
			return false
		}
	}
	return true
}

func head(rs []*record.Record) string {
	return operatortest.JSON(rs[:min(len(rs), 5)])
}

func TestCombinerFlushesWhenFull(t *testing.T) {
	c := newCombiner(aggSum, "v", "sum")
	c.maxKeys = 3
	in := operatortest.Records(`{"k":"a","v":1}`, `{"k":"b","v":2}`, `{"k":"a","v":3}`, `{"k":"c","v":4}`, `{"k":"d","v":5}`, `{"k":"a","v":6}`)
	out, err := operatortest.RunOperator(t, c, keyedContext(t, "k"), in)
	if err != nil {
		t.Fatal(err)
	}
	// a, b, c fill the map and are flushed; then d and a are flushed at the end
	got := map[string]int64{}
	for _, r := range out {
		k, _ := r.Get("k")
		v, _ := r.Get("sum")
		got[k.Str()] += v.Int()
	}
	if len(out) != 5 || got["a"] != 10 || got["b"] != 2 || got["c"] != 4 || got["d"] != 5 {
		t.Fatalf("partials %s", operatortest.JSON(out))
	}
}

func TestCombinerAvailability(t *testing.T) {
	for _, tc := range []struct {
		op, cfg string
		ok      bool
	}{
		{"count", `{}`, true},
		{"count", `{"emit":"every"}`, false},
		{"sum", `{"field":"v"}`, true},
		{"min", `{"field":"v","emit":"every"}`, false},
		{"max", `{"field":"v"}`, true},
	} {
		d := def(t, tc.op)
		_, ok := d.NewCombiner(operatortest.DecodeConfig(t, d, tc.cfg))
		if ok != tc.ok {
			t.Errorf("%s %s: combiner %v, want %v", tc.op, tc.cfg, ok, tc.ok)
		}
	}
	if def(t, "reduce").NewCombiner != nil {
		t.Error("reduce has a combiner")
	}
}

func TestCombinedInputErrors(t *testing.T) {
	oc := keyedContext(t, "k")
	oc.IsCombined = true
	if _, err := runOp(t, "count", `{}`, oc, `{"k":"a","count":"x"}`); err == nil || !strings.Contains(err.Error(), `partial count "x" of key "a" is not an int`) {
		t.Errorf("bad partial: %v", err)
	}
	if _, err := runOp(t, "count", `{}`, oc, `{"count":1}`); err == nil || !strings.Contains(err.Error(), `partial record has no key field "k"`) {
		t.Errorf("no key: %v", err)
	}
	if _, err := runOp(t, "reduce", `{"expr":"1"}`, oc); err == nil || !strings.Contains(err.Error(), "reduce: has no combiner") {
		t.Errorf("reduce combined: %v", err)
	}
}

func BenchmarkCount(b *testing.B) {
	op := newAggregateOp(aggCount, "", "count", emitFinal)
	oc := operatortest.NewContext(b).Keyed("word")
	if err := op.Open(b.Context(), oc, operator.EmitterFunc(func(*record.Record) error { return nil })); err != nil {
		b.Fatal(err)
	}
	words := make([]*record.Record, 10000)
	for i := range words {
		words[i] = &record.Record{Fields: []record.Field{{Name: "word", Value: record.Str(fmt.Sprintf("word%d", i%5000))}}}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := op.Process(words[i%len(words)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
