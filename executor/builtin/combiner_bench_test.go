package builtin

import (
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/operator/operatortest"
	"github.com/sluicehq/sluice/executor/record"
)

// BenchmarkCombineCount is the word count's hot path: a count combiner
// over 5000 distinct words.
func BenchmarkCombineCount(b *testing.B) {
	op := newCombiner(aggCount, "", "count")
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
