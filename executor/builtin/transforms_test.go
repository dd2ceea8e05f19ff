package builtin

import (
	"io"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/executor/operator/operatortest"
)

// runOp builds operator op from a JSON config and runs it over inputs given
// as JSON objects; it returns the output as JSON lines.
func runOp(t *testing.T, op, cfg string, oc *operatortest.Context, inputs ...string) (string, error) {
	t.Helper()
	if oc == nil {
		oc = operatortest.NewContext(t)
	}
	o := operatortest.NewOperator(t, def(t, op), cfg)
	out, err := operatortest.RunOperator(t, o, oc, operatortest.Records(inputs...))
	return operatortest.JSON(out), err
}

func lines(ls ...string) string {
	if len(ls) == 0 {
		return ""
	}
	return strings.Join(ls, "\n") + "\n"
}

func TestTransforms(t *testing.T) {
	in := []string{
		`{"user":"ann","amount":70,"tags":["a","b"]}`,
		`{"user":"bob","amount":20,"tags":[]}`,
	}
	tests := []struct {
		name, op, cfg string
		in            []string
		want          string
		err           string
	}{
		{name: "filter", op: "filter", cfg: `{"expr":"amount * 2 > 100 && user != \"x\""}`, in: in,
			want: lines(`{"user":"ann","amount":70,"tags":["a","b"]}`)},
		{name: "filter missing field", op: "filter", cfg: `{"expr":"(missing ?? 0) > 1"}`, in: in},
		{name: "filter non-bool", op: "filter", cfg: `{"expr":"amount"}`, in: in,
			err: `filter: expression "amount" returned an int, want a bool`},
		{name: "map expr", op: "map", cfg: `{"expr":"{\"who\": upper(user), \"double\": amount * 2, \"n\": len(tags)}"}`, in: in,
			want: lines(`{"double":140,"n":2,"who":"ANN"}`, `{"double":40,"n":0,"who":"BOB"}`)},
		{name: "map expr not a map", op: "map", cfg: `{"expr":"user"}`, in: in,
			err: `map: expression "user" returned a string, want a map`},
		{name: "map expr nested map", op: "map", cfg: `{"expr":"{\"a\": {\"b\": 1}}"}`, in: in,
			err: `field "a": a map cannot be a field value`},
		{name: "map set", op: "map", cfg: `{"set":{"user":"upper(user)","big":"amount > 50","amount":"amount + 1"}}`, in: in,
			want: lines(`{"user":"ANN","amount":71,"tags":["a","b"],"big":true}`, `{"user":"BOB","amount":21,"tags":[],"big":false}`)},
		{name: "map set sees the input", op: "map", cfg: `{"set":{"a":"amount * 10","b":"amount"}}`, in: in[:1],
			want: lines(`{"user":"ann","amount":70,"tags":["a","b"],"a":700,"b":70}`)},
		{name: "map set runtime error", op: "map", cfg: `{"set":{"x":"user + 1"}}`, in: in,
			err: `map: set.x: expression "user + 1": invalid operation: string + int`},
		{name: "flatmap scalars", op: "flatmap", cfg: `{"expr":"tags"}`, in: in,
			want: lines(`{"value":"a"}`, `{"value":"b"}`)},
		{name: "flatmap as", op: "flatmap", cfg: `{"expr":"split(user, \"\")","as":"ch"}`, in: in[:1],
			want: lines(`{"ch":"a"}`, `{"ch":"n"}`, `{"ch":"n"}`)},
		{name: "flatmap maps", op: "flatmap", cfg: `{"expr":"map(tags, ({\"tag\": #, \"user\": user}))"}`, in: in,
			want: lines(`{"tag":"a","user":"ann"}`, `{"tag":"b","user":"ann"}`)},
		{name: "flatmap mixed", op: "flatmap", cfg: `{"expr":"[1, {\"b\": 2}, nil, [3]]"}`, in: in[:1],
			want: lines(`{"value":1}`, `{"b":2}`, `{"value":null}`, `{"value":[3]}`)},
		{name: "flatmap range", op: "flatmap", cfg: `{"expr":"1..3"}`, in: in[:1],
			want: lines(`{"value":1}`, `{"value":2}`, `{"value":3}`)},
		{name: "flatmap nil", op: "flatmap", cfg: `{"expr":"missing"}`, in: in},
		{name: "flatmap not a list", op: "flatmap", cfg: `{"expr":"user"}`, in: in,
			err: `flatmap: expression "user" returned a string, want a list`},
		{name: "flatmap limit", op: "flatmap", cfg: `{"expr":"1..100000000"}`, in: in,
			err: `it built more than 1000000 elements`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runOp(t, tc.op, tc.cfg, nil, tc.in...)
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

// TestMapDoesNotAliasInput checks that map's set form copies the input
// record instead of modifying it.
func TestMapDoesNotAliasInput(t *testing.T) {
	in := operatortest.Records(`{"a":1,"b":2}`)
	op := operatortest.NewOperator(t, def(t, "map"), `{"set":{"a":"a + 10","c":"3"}}`)
	out, err := operatortest.RunOperator(t, op, operatortest.NewContext(t), in)
	if err != nil {
		t.Fatal(err)
	}
	if got := in[0].String(); got != `{"a":1,"b":2}` {
		t.Fatalf("input modified: %s", got)
	}
	if got := operatortest.JSON(out); got != lines(`{"a":11,"b":2,"c":3}`) {
		t.Fatalf("got %s", got)
	}
}

func TestPrint(t *testing.T) {
	oc := operatortest.NewContext(t)
	oc.VertexID, oc.SubtaskID = "out", 3
	in := []string{`{"word":"a","n":1}`, `{"s":"x\"y"}`}
	if _, err := runOp(t, "print", ``, oc, in...); err != nil {
		t.Fatal(err)
	}
	want := "out:3> {\"word\":\"a\",\"n\":1}\nout:3> {\"s\":\"x\\\"y\"}\n"
	if got := oc.Output(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}

	oc = operatortest.NewContext(t)
	if _, err := runOp(t, "print", `{"prefix":false}`, oc, in[0]); err != nil {
		t.Fatal(err)
	}
	if got := oc.Output(); got != "{\"word\":\"a\",\"n\":1}\n" {
		t.Fatalf("no prefix: got %q", got)
	}
}

// TestPrintWritesWholeLines checks that each line is one Write call.
func TestPrintWritesWholeLines(t *testing.T) {
	var writes []string
	oc := &writerContext{Context: operatortest.NewContext(t), write: func(p []byte) { writes = append(writes, string(p)) }}
	op := operatortest.NewOperator(t, def(t, "print"), ``)
	if _, err := operatortest.RunOperator(t, op, oc, operatortest.Records(`{"a":1}`, `{"a":2}`)); err != nil {
		t.Fatal(err)
	}
	if len(writes) != 2 || writes[0] != "v:0> {\"a\":1}\n" || writes[1] != "v:0> {\"a\":2}\n" {
		t.Fatalf("writes = %q", writes)
	}
}

type writerContext struct {
	*operatortest.Context
	write func([]byte)
}

func (c *writerContext) Stdout() io.Writer { return writerFunc(c.write) }

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) {
	f(p)
	return len(p), nil
}

// TestTransformsKeepEventTime checks that the built-in transforms give
// their output records the input's event time.
func TestTransformsKeepEventTime(t *testing.T) {
	for _, tc := range []struct{ op, cfg string }{
		{"map", `{"set":{"y":"x + 1"}}`},
		{"map", `{"expr":"{\"y\": x}"}`},
		{"filter", `{"expr":"true"}`},
		{"flatmap", `{"expr":"[x, x]"}`},
		{"flatmap", `{"expr":"[\"a\", \"b\"]"}`},
		{"flatmap", `{"expr":"[{\"y\": x}]"}`},
		{"tokenize", `{"field":"s"}`},
	} {
		op := operatortest.NewOperator(t, def(t, tc.op), tc.cfg)
		out, err := operatortest.RunSteps(t, op, operatortest.NewContext(t), []operatortest.Step{
			operatortest.At(42, `{"x":1,"s":"a b"}`), operatortest.At(-7, `{"x":2,"s":"c"}`),
		})
		if err != nil {
			t.Fatal(err)
		}
		// the first input's outputs come first, then the second's
		rs := operatortest.StepRecords(out)
		ok := len(rs) >= 2 && rs[0].Time == 42 && rs[len(rs)-1].Time == -7
		for i, r := range rs {
			ok = ok && r.Timed && (r.Time == 42 || r.Time == -7) && (i == 0 || r.Time <= rs[i-1].Time)
		}
		if !ok {
			t.Errorf("%s %s: output\n%s", tc.op, tc.cfg, operatortest.Trace(out))
		}
	}
}
