package builtin

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/operator/operatortest"
)

// def returns a built-in definition; "name:source" and "name:sink" pick a
// role when a source and a sink share the name.
func def(t testing.TB, name string) operator.Definition {
	t.Helper()
	name, role, _ := strings.Cut(name, ":")
	d, ok := NewRegistry().Resolve(name, role == "source")
	if !ok {
		t.Fatalf("no operator %q", name)
	}
	return d
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	want := []string{"count", "datagen", "files", "filter", "flatmap", "map", "max", "min", "print", "reduce", "sum", "tokenize", "window"}
	if got := r.Names(); !slices.Equal(got, want) {
		t.Fatalf("names = %v, want %v", got, want)
	}
	if err := Register(r); err == nil {
		t.Fatal("registering twice: no error")
	}
	if d, _ := r.Resolve("files", true); d.Kind != operator.KindSource {
		t.Errorf("files as a source: %v", d.Kind)
	}
	if d, _ := r.Resolve("files", false); d.Kind != operator.KindSink {
		t.Errorf("files as a sink: %v", d.Kind)
	}
	for _, d := range Definitions() {
		name := d.Name + ":" + d.Kind.String()
		if d.Doc == "" {
			t.Errorf("%s: no doc", name)
		}
		keyed := slices.Contains([]string{"count", "sum", "min", "max", "reduce", "window"}, d.Name)
		if d.Keyed != keyed {
			t.Errorf("%s: Keyed = %v", name, d.Keyed)
		}
		if d.NewConfig == nil {
			t.Errorf("%s: no config", name)
			continue
		}
		// json tags are lowerCamelCase and every field has one
		ty := reflect.TypeOf(d.NewConfig()).Elem()
		for i := range ty.NumField() {
			tag := ty.Field(i).Tag.Get("json")
			if tag == "" || strings.ToLower(tag[:1]) != tag[:1] {
				t.Errorf("%s: field %s has json tag %q", name, ty.Field(i).Name, tag)
			}
		}
		// the defaults alone either decode or fail only on required fields
		if _, errs := d.DecodeConfig(nil); len(errs) > 0 {
			for _, e := range errs {
				if e.Field == "" || !strings.Contains(e.Msg, "required") {
					t.Errorf("%s: default config: %v", name, e)
				}
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		op, raw string
		want    any
	}{
		{"files:source", `{"prefix":"in/"}`, &FilesSourceConfig{Prefix: "in/", SplitSize: 8 << 20, Field: "line", DiscoverInterval: "1s"}},
		{"datagen", `{}`, &DatagenConfig{Keys: 100, Chunk: 100000, Interval: "1ms"}},
		{"flatmap", `{"expr":"[1]"}`, &FlatmapConfig{Expr: "[1]", As: "value"}},
		{"tokenize", `{}`, &TokenizeConfig{Field: "line", As: "word", Lowercase: true, MinLength: 1}},
		{"count", `{}`, &CountConfig{As: "count", Emit: "final"}},
		{"sum", `{"field":"x"}`, &AggregateConfig{Field: "x", As: "sum", Emit: "final"}},
		{"min", `{"field":"x"}`, &AggregateConfig{Field: "x", As: "min", Emit: "final"}},
		{"max", `{"field":"x"}`, &AggregateConfig{Field: "x", As: "max", Emit: "final"}},
		{"reduce", `{"expr":"1"}`, &ReduceConfig{Expr: "1", As: "value", Emit: "final"}},
		{"window", `{"type":"tumbling","size":"1s"}`, &WindowConfig{Type: "tumbling", Size: "1s", Aggregate: "count", As: "value"}},
		{"files:sink", `{"prefix":"out"}`, &FilesSinkConfig{Prefix: "out", Format: "jsonl"}},
		{"print", ``, &PrintConfig{Prefix: true}},
	}
	for _, tc := range tests {
		got := operatortest.DecodeConfig(t, def(t, tc.op), tc.raw)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %s: got %+v, want %+v", tc.op, tc.raw, got, tc.want)
		}
	}
}

// TestConfigErrors checks that every config problem names its field.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		op, raw string
		want    []string // one substring per expected error
	}{
		// unknown fields, with suggestions
		{"filter", `{"expr":"true","exp":"x"}`, []string{`exp: unknown field "exp" (did you mean "expr"?)`}},
		{"files:source", `{"prefix":"a","splitsize":2048}`, []string{`splitsize: unknown field "splitsize" (did you mean "splitSize"?)`}},
		{"print", `{"prefx":false}`, []string{`prefx: unknown field`}},
		// wrong types
		{"files:source", `{"prefix":1}`, []string{"prefix: must be a string, not number"}},
		{"files:source", `{"prefix":"a","splitSize":"big"}`, []string{"splitSize: must be an integer, not string"}},
		{"datagen", `{"count":1.5}`, []string{"count: must be an integer"}},
		{"datagen", `{"rate":"fast"}`, []string{"rate: must be a number, not string"}},
		{"tokenize", `{"lowercase":"yes"}`, []string{"lowercase: must be a boolean"}},
		{"files:sink", `{"prefix":"o","fields":"a"}`, []string{"fields: must be a list, not string"}},
		{"map", `{"set":["a"]}`, []string{"set: must be an object, not array"}},
		{"count", `[]`, []string{"must be an object"}},
		// missing required fields
		{"files:source", `{"prefix":"a","field":""}`, []string{"field: required"}},
		{"filter", `{}`, []string{"expr: required"}},
		{"flatmap", `{"expr":"[]","as":""}`, []string{"as: required"}},
		{"sum", `{}`, []string{"field: required"}},
		{"min", `{"as":""}`, []string{"field: required", "as: required"}},
		{"reduce", `{}`, []string{"expr: required"}},
		{"files:sink", `{}`, []string{"prefix: required"}},
		{"map", `{}`, []string{"expr: one of expr and set is required"}},
		// bad values
		{"files:source", `{"prefix":"a","splitSize":10}`, []string{"splitSize: must be at least 1024 bytes, not 10"}},
		{"files:source", `{"continuous":true,"discoverInterval":"1ms"}`, []string{`discoverInterval: must be at least 10ms, not "1ms"`}},
		{"datagen", `{"count":-1,"keys":0,"rate":-2,"chunk":0}`, []string{"count: must not be negative", "keys: must be at least 1", "rate: must be a non-negative", "chunk: must be at least 1"}},
		{"datagen", `{"count":10000000000,"chunk":1}`, []string{"chunk: count 10000000000 in chunks of 1 makes"}},
		{"datagen", `{"timeField":"key","interval":"0s"}`, []string{`timeField: "key" is already a field`, `interval: must be at least 1ms, not "0s"`}},
		{"datagen", `{"interval":"soon"}`, []string{`interval: not a duration`}},
		{"tokenize", `{"minLength":0,"field":""}`, []string{"field: required", "minLength: must be at least 1, not 0"}},
		{"count", `{"emit":"sometimes"}`, []string{`emit: must be "final" or "every", not "sometimes"`}},
		{"files:sink", `{"prefix":"o","format":"xml"}`, []string{`format: must be "jsonl", "csv" or "text", not "xml"`}},
		{"files:sink", `{"prefix":"o","format":"csv"}`, []string{`fields: required by format "csv"`}},
		{"files:sink", `{"prefix":"o","header":true}`, []string{`header: only format "csv" has a header`}},
		{"files:sink", `{"prefix":"o","fields":["a","","a"]}`, []string{"fields[1]: empty field name", `fields[2]: duplicate field "a"`}},
		{"map", `{"expr":"{}","set":{"a":"1"}}`, []string{"set: expr and set are mutually exclusive"}},
		{"window", `{}`, []string{`type: required: "tumbling", "sliding" or "session"`}},
		{"window", `{"type":"hopping"}`, []string{`type: must be "tumbling", "sliding" or "session", not "hopping"`}},
		{"window", `{"type":"tumbling"}`, []string{`size: required by type "tumbling"`}},
		{"window", `{"type":"tumbling","size":"10","slide":"1s","gap":"1s"}`, []string{
			`size: not a duration such as "10s" or "1m30s": "10"`, `slide: not used by type "tumbling"`, `gap: not used by type "tumbling"`}},
		{"window", `{"type":"sliding","size":"1500us"}`, []string{`size: must be whole milliseconds, not "1500us"`, `slide: required by type "sliding"`}},
		{"window", `{"type":"sliding","size":"1h","slide":"1s"}`, []string{`slide: size 1h / slide 1s puts a record in more than 1000 windows`}},
		{"window", `{"type":"session","size":"1s","gap":"-1s"}`, []string{`size: not used by type "session"`, `gap: must be positive, not "-1s"`}},
		{"window", `{"type":"session","gap":"1s","aggregate":"reduce","expr":"1"}`, []string{`aggregate: reduce cannot merge session windows`}},
		{"window", `{"type":"tumbling","size":"1s","aggregate":"median"}`, []string{`aggregate: must be count, sum, min, max, avg or reduce, not "median"`}},
		{"window", `{"type":"tumbling","size":"1s","aggregate":"avg","expr":"1"}`, []string{`field: required`, `expr: only used by aggregate "reduce"`}},
		{"window", `{"type":"tumbling","size":"1s","field":"v","as":"windowEnd"}`, []string{`field: not used by aggregate "count"`, `as: "windowEnd" is a field of the window's output`}},
		{"window", `{"type":"tumbling","size":"1s","aggregate":"reduce","allowedLateness":"-1s"}`, []string{`expr: required`, `allowedLateness: must not be negative`}},
		{"window", `{"type":"tumbling","size":1000}`, []string{`size: must be a string, not number`}},
		// bad expressions
		{"filter", `{"expr":"amount >"}`, []string{`expr: invalid expression "amount >": unexpected token EOF (1:8)`}},
		{"map", `{"expr":"{a: "}`, []string{`expr: invalid expression "{a: "`}},
		{"map", `{"set":{"a":"1","b":"(","c":"x +"}}`, []string{`set.b: invalid expression "("`, `set.c: invalid expression "x +"`}},
		{"flatmap", `{"expr":"filter([1], 1)"}`, []string{`expr: invalid expression "filter([1], 1)": predicate should return boolean (got int) (1:13)`}},
		{"reduce", `{"expr":"acc +"}`, []string{`expr: invalid expression "acc +"`}},
		{"filter", `{"expr":"` + strings.Repeat("x", 5000) + `"}`, []string{"expr: expression \"" + strings.Repeat("x", 80) + "\"... is 5000 bytes long, more than the limit of 4096"}},
	}
	for _, tc := range tests {
		t.Run(tc.op+" "+tc.raw[:min(len(tc.raw), 40)], func(t *testing.T) {
			errs := operatortest.ConfigErrors(def(t, tc.op), tc.raw)
			joined := strings.Join(errs, "\n")
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(errs), len(tc.want), joined)
			}
			for _, w := range tc.want {
				if !strings.Contains(joined, w) {
					t.Errorf("errors do not contain %q:\n%s", w, joined)
				}
			}
			// every error names a field, except a config that is not an object
			_, fes := def(t, tc.op).DecodeConfig([]byte(tc.raw))
			for _, fe := range fes {
				if fe.Field == "" && !strings.Contains(fe.Msg, "must be an object") {
					t.Errorf("error without a field: %v", fe)
				}
			}
		})
	}
}

func TestNewOperatorAcceptsGoConfigs(t *testing.T) {
	// programs that build configs in Go get validation too
	if _, err := def(t, "filter").NewOperator(&FilterConfig{Expr: "1 +"}); err == nil || !strings.Contains(err.Error(), "expr: invalid expression") {
		t.Errorf("bad expr: %v", err)
	}
	if _, err := def(t, "filter").NewOperator(FilterConfig{Expr: "true"}); err != nil {
		t.Errorf("value config: %v", err)
	}
	if _, err := def(t, "print").NewOperator(nil); err != nil {
		t.Errorf("nil config: %v", err)
	}
	if _, err := def(t, "print").NewOperator(&FilterConfig{}); err == nil || !strings.Contains(err.Error(), "want *builtin.PrintConfig") {
		t.Errorf("wrong config type: %v", err)
	}
	if _, err := def(t, "sum").NewOperator(nil); err == nil || !strings.Contains(err.Error(), "field: required") {
		t.Errorf("nil config of sum: %v", err)
	}
}
