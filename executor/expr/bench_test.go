package expr

import (
	"testing"

	"github.com/sluicehq/sluice/executor/record"
)

func benchRecord() *record.Record {
	return &record.Record{Fields: []record.Field{
		{Name: "user", Value: record.Str("alice")},
		{Name: "amount", Value: record.IntV(70)},
		{Name: "country", Value: record.Str("fr")},
	}}
}

func BenchmarkEvalBoolFilter(b *testing.B) {
	p, err := Compile(`amount * 2 > 100 && user != "x"`)
	if err != nil {
		b.Fatal(err)
	}
	r := benchRecord()
	b.ReportAllocs()
	for b.Loop() {
		ok, err := p.EvalBool(r)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkEvalConcat(b *testing.B) {
	p, err := Compile(`user + "@" + country`)
	if err != nil {
		b.Fatal(err)
	}
	r := benchRecord()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.EvalValue(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvalMap(b *testing.B) {
	p, err := Compile(`{"user": upper(user), "double": amount * 2}`)
	if err != nil {
		b.Fatal(err)
	}
	r := benchRecord()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Eval(r); err != nil {
			b.Fatal(err)
		}
	}
}
