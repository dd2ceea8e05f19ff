package expr

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/executor/record"
)

func rec(kv ...any) *record.Record {
	r := &record.Record{}
	for i := 0; i < len(kv); i += 2 {
		v, err := record.FromAny(kv[i+1])
		if err != nil {
			panic(err)
		}
		r.Set(kv[i].(string), v)
	}
	return r
}

func TestEval(t *testing.T) {
	r := rec("amount", 70, "user", "bob", "price", 1.5, "ok", true,
		"tags", []any{"a", "b"}, "nothing", nil, "len", 3)
	tests := []struct {
		src  string
		want record.Value
	}{
		{`amount * 2 > 100 && user != "x"`, record.BoolV(true)},
		{`amount + 1`, record.IntV(71)},
		{`amount + price`, record.FloatV(71.5)},
		{`user + "!"`, record.Str("bob!")},
		{`"a" + "b"`, record.Str("ab")},
		{`1 + 2`, record.IntV(3)},
		{`upper(user)`, record.Str("BOB")},
		{`missing`, record.Value{}},
		{`nothing ?? "default"`, record.Str("default")},
		{`coalesce(missing, nothing, user)`, record.Str("bob")},
		{`coalesce(missing)`, record.Value{}},
		{`len(tags)`, record.IntV(2)},
		{`tags[1]`, record.Str("b")},
		{`"a" in tags`, record.BoolV(true)},
		{`map(1..3, # * amount)`, record.ListV(record.IntV(70), record.IntV(140), record.IntV(210))},
		{`split("a b", " ")`, record.ListV(record.Str("a"), record.Str("b"))},
		{`join(tags, "-")`, record.Str("a-b")},
		{`join(["x", "y"])`, record.Str("xy")},
		{`replace("aaa", "a", "bb")`, record.Str("bbbbbb")},
		{`replace("ab", "", "-")`, record.Str("-a-b-")},
		{`reduce(1..4, #acc + #, 0)`, record.IntV(10)},
		{`let x = 2; x * amount`, record.IntV(140)},
		{`$env["len"]`, record.IntV(3)},
		{`"user" in $env`, record.BoolV(true)},
		{`"nope" in $env`, record.BoolV(false)},
		{`ok ? "yes" : "no"`, record.Str("yes")},
		{`hash("a") == hash("a") && hash(1) >= 0`, record.BoolV(true)},
		{`duration("1h") + duration("1m")`, record.Str("1h1m0s")},
		{`amount / 7`, record.FloatV(10)},
		{`amount % 7`, record.IntV(0)},
		{`-price`, record.FloatV(-1.5)},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			p, err := Compile(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.EvalValue(r)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) {
				t.Fatalf("got %v (%s), want %v (%s)", got, got.Kind(), tc.want, tc.want.Kind())
			}
		})
	}
}

func TestHashMatchesRecordKey(t *testing.T) {
	p, err := Compile(`hash(id)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []record.Value{record.IntV(42), record.Str("k"), record.BoolV(true), record.FloatV(2.5)} {
		got, err := p.EvalValue(&record.Record{Fields: []record.Field{{Name: "id", Value: v}}})
		if err != nil {
			t.Fatal(err)
		}
		k, _ := record.KeyOf(v)
		if want := int64(k.Hash() >> 1); got.Int() != want {
			t.Errorf("hash(%v) = %v, want %d", v, got, want)
		}
	}
	if _, err := p.Eval(rec("id", []any{1})); err == nil {
		t.Error("hash of a list: no error")
	}
}

func TestBindForgetsPreviousRecord(t *testing.T) {
	for _, src := range []string{`x ?? "none"`, `$env["x"] ?? "none"`} {
		p, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := p.EvalValue(rec("x", "one")); got.Str() != "one" {
			t.Fatalf("%s: first record: got %v", src, got)
		}
		if got, _ := p.EvalValue(rec("y", "two")); got.Str() != "none" {
			t.Fatalf("%s: second record sees the first's field: got %v", src, got)
		}
	}
}

func TestEvalWith(t *testing.T) {
	p, err := Compile(`(acc ?? 0) + amount`)
	if err != nil {
		t.Fatal(err)
	}
	var acc any
	for _, a := range []int{1, 2, 3} {
		env := p.Bind(rec("amount", a))
		env["acc"] = acc
		if acc, err = p.EvalWith(env); err != nil {
			t.Fatal(err)
		}
	}
	if acc != 6 {
		t.Fatalf("acc = %v, want 6", acc)
	}
}

func TestEvalBool(t *testing.T) {
	p, err := Compile(`amount > 1`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := p.EvalBool(rec("amount", 2)); err != nil || !ok {
		t.Fatalf("got %v, %v", ok, err)
	}
	p, _ = Compile(`amount`)
	_, err = p.EvalBool(rec("amount", 2))
	if err == nil || !strings.Contains(err.Error(), "an int, want a bool") || !strings.Contains(err.Error(), `"amount"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{``, "empty expression"},
		{`   `, "empty expression"},
		{`amount >`, `invalid expression "amount >": unexpected token EOF (1:8)`},
		{`foo(`, `invalid expression "foo("`},
		{`filter([1], 1)`, "predicate should return boolean"},
		{`1 +* 2`, `invalid expression "1 +* 2"`},
		{strings.Repeat("a", MaxSourceLen+1), "more than the limit of 4096"},
		{strings.Repeat("1+", 1200) + "1", "exceeds maximum allowed nodes"},
	}
	for _, tc := range tests {
		name := tc.src
		if len(name) > 20 {
			name = name[:20]
		}
		t.Run(name, func(t *testing.T) {
			err := Check(tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{`1 + "a"`, `expression "1 + \"a\"": invalid operation: int + string (1:3)`},
		{`amount > 1`, `invalid operation`},
		{`join([1], ",")`, "join: element 0 is an int, want a string"},
		{`replace(1, "a", "b")`, "replace: argument 1 is an int, want a string"},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			p, err := Compile(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Eval(rec("x", 1))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			// the program still works after a failure
			if _, err := p.Eval(rec("x", 1)); err == nil {
				t.Fatal("second evaluation succeeded")
			}
		})
	}
}

// TestLimits checks that hostile expressions fail quickly with ErrLimit
// instead of running for ever or exhausting memory.
func TestLimits(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	tests := []struct{ src, want string }{
		{`map(1..1000000000, #)`, "elements"},
		{`len(1..2000000)`, "elements"},
		{`len(repeat("x", 100000000))`, "elements"},
		{`len(repeat("xxxxxxxxxx", 900000))`, "elements"},
		{`reduce(1..100, #acc + #acc, "x")`, "bytes of strings"},
		{`len(reduce(1..100000, #acc + line, ""))`, "bytes of strings"},
		{`len(join(map(1..100, line), ""))`, "bytes of strings"},
		{`len(replace(line, "x", "yy"))`, ""}, // 2 MiB: allowed
		{`len(replace(line, "x", line))`, "bytes of strings"},
		{`let r = 1..999; count(r, count(r, count(r, true) == 999) == 999)`, "loop iterations"},
		{`let r = 1..999; all(r, all(r, all(r, true)))`, "loop iterations"},
		{`let r = 1..999; len(map(r, map(r, map(r, #))))`, ""}, // either limit
		{`len(concat(1..600000, 1..600000))`, "elements"},
	}
	r := rec("line", big)
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			p, err := Compile(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			v, err := p.Eval(r)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			if tc.want == "" && strings.HasPrefix(tc.src, "len(replace") {
				if err != nil {
					t.Fatalf("within the limits, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, result %T", v)
			}
			if !errors.Is(err, ErrLimit) {
				t.Fatalf("err = %v, want ErrLimit", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestToValue(t *testing.T) {
	tests := []struct {
		in   any
		want record.Value
	}{
		{nil, record.Value{}},
		{int8(3), record.IntV(3)},
		{uint(7), record.IntV(7)},
		{float32(0.5), record.FloatV(0.5)},
		{[]int{1, 2}, record.ListV(record.IntV(1), record.IntV(2))},
		{[]float64{1.5}, record.ListV(record.FloatV(1.5))},
		{[]bool{true}, record.ListV(record.BoolV(true))},
		{[]any{"a", []any{1}}, record.ListV(record.Str("a"), record.ListV(record.IntV(1)))},
		{time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), record.Str("2024-01-02T03:04:05Z")},
		{90 * time.Second, record.Str("1m30s")},
	}
	for _, tc := range tests {
		got, err := ToValue(tc.in)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ToValue(%#v) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []any{map[string]any{"a": 1}, map[string]int{}, []any{map[string]any{}}, struct{}{}} {
		if _, err := ToValue(bad); err == nil {
			t.Errorf("ToValue(%#v): no error", bad)
		}
	}
	// round trip through ToAny
	v := record.ListV(record.Str("s"), record.IntV(-1), record.FloatV(2.5), record.BoolV(false), record.Value{})
	got, err := ToValue(ToAny(v))
	if err != nil || !got.Equal(v) {
		t.Errorf("round trip: %v, %v", got, err)
	}
}
