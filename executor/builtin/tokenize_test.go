package builtin

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/operator/operatortest"
	"github.com/sluicehq/sluice/executor/record"
)

func tokens(t *testing.T, cfg string, line record.Value) ([]string, error) {
	t.Helper()
	op := operatortest.NewOperator(t, def(t, "tokenize"), cfg)
	in := &record.Record{Fields: []record.Field{{Name: "line", Value: line}, {Name: "other", Value: record.Str("Ignored")}}}
	out, err := operatortest.RunOperator(t, op, operatortest.NewContext(t), []*record.Record{in})
	var words []string
	for _, r := range out {
		if len(r.Fields) != 1 {
			t.Fatalf("output record %s", r)
		}
		words = append(words, r.Fields[0].Value.Str())
	}
	return words, err
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		name, cfg, line string
		want            []string
	}{
		{"simple", `{}`, "the quick brown fox", []string{"the", "quick", "brown", "fox"}},
		{"punctuation and runs", `{}`, "  Hello, World!!  it's--ok_then ", []string{"hello", "world", "it", "s", "ok", "then"}},
		{"digits", `{}`, "route 66 and A1", []string{"route", "66", "and", "a1"}},
		{"keep case", `{"lowercase":false}`, "Hello WORLD", []string{"Hello", "WORLD"}},
		{"min length", `{"minLength":3}`, "a an the café ÿø", []string{"the", "café"}},
		{"empty", `{}`, "", nil},
		{"only separators", `{}`, " ,.;'\t\n", nil},
		{"unicode letters", `{}`, "Grüße aus Köln — ΚΑΛΗΜΕΡΑ κόσμε", []string{"grüße", "aus", "köln", "καλημερα", "κόσμε"}},
		{"unicode separators", `{}`, "a\u00a0b\u2019c\u3000d…e", []string{"a", "b", "c", "d", "e"}},
		{"cjk and digits", `{}`, "東京 2024 ٣٤", []string{"東京", "2024", "٣٤"}},
		{"combining marks", `{}`, "cafe\u0301 हिन्दी", []string{"cafe\u0301", "हिन्दी"}},
		{"special lowercase", `{}`, "İSTANBUL ΣΟΦΟΣ", []string{strings.ToLower("İSTANBUL"), strings.ToLower("ΣΟΦΟΣ")}},
		{"invalid utf-8", `{}`, "ab\xffcd\xc3", []string{"ab", "cd"}},
		{"as", `{"as":"token"}`, "x", []string{"x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tokens(t, tc.cfg, record.Str(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTokenizeFieldKinds(t *testing.T) {
	if got, err := tokens(t, `{}`, record.Value{}); err != nil || len(got) != 0 {
		t.Errorf("null field: %q, %v", got, err)
	}
	op := operatortest.NewOperator(t, def(t, "tokenize"), `{"field":"text"}`)
	out, err := operatortest.RunOperator(t, op, operatortest.NewContext(t), operatortest.Records(`{"line":"x"}`))
	if err != nil || len(out) != 0 {
		t.Errorf("missing field: %v, %v", out, err)
	}
	if _, err := tokens(t, `{}`, record.IntV(3)); err == nil || !strings.Contains(err.Error(), `tokenize: field "line" is int, want a string`) {
		t.Errorf("int field: %v", err)
	}
}

// TestTokenizeAllocations checks that the output record is reused and that
// tokens are substrings of the line: only lowercasing allocates.
func TestTokenizeAllocations(t *testing.T) {
	op := operatortest.NewOperator(t, def(t, "tokenize"), `{}`)
	n := 0
	if err := op.Open(t.Context(), operatortest.NewContext(t), operator.EmitterFunc(func(r *record.Record) error {
		n++
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	in := &record.Record{Fields: []record.Field{{Name: "line", Value: record.Str("the quick brown fox jumps over the lazy dog")}}}
	allocs := testing.AllocsPerRun(100, func() {
		if err := op.Process(in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per lower-case line, want 0", allocs)
	}
	in.Fields[0].Value = record.Str("The Quick brown fox")
	allocs = testing.AllocsPerRun(100, func() {
		if err := op.Process(in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 2 {
		t.Errorf("%v allocations for a line with two capitalized words, want 2", allocs)
	}
}

func BenchmarkTokenize(b *testing.B) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog; it's 42 times faster! ", 20)
	op, err := def(b, "tokenize").NewOperator(nil)
	if err != nil {
		b.Fatal(err)
	}
	tokens := 0
	if err := op.Open(b.Context(), operatortest.NewContext(b), operator.EmitterFunc(func(*record.Record) error {
		tokens++
		return nil
	})); err != nil {
		b.Fatal(err)
	}
	in := &record.Record{Fields: []record.Field{{Name: "line", Value: record.Str(text)}}}
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if err := op.Process(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(tokens), "ns/token")
}

func BenchmarkTokenizeNonASCII(b *testing.B) {
	text := strings.Repeat("Grüße aus Köln, καλημέρα κόσμε, 東京 ", 20)
	op, err := def(b, "tokenize").NewOperator(nil)
	if err != nil {
		b.Fatal(err)
	}
	tokens := 0
	if err := op.Open(b.Context(), operatortest.NewContext(b), operator.EmitterFunc(func(*record.Record) error {
		tokens++
		return nil
	})); err != nil {
		b.Fatal(err)
	}
	in := &record.Record{Fields: []record.Field{{Name: "line", Value: record.Str(text)}}}
	b.ReportAllocs()
	for b.Loop() {
		if err := op.Process(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(tokens), "ns/token")
}
