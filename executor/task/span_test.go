package task

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/executor/exchange"
	"github.com/sluicehq/sluice/executor/record"
)

// chanOutput collects what an edgeWriter sends.
type chanOutput struct{ bufs [][]byte }

func (c *chanOutput) Send(_ context.Context, b []byte) error {
	c.bufs = append(c.bufs, append([]byte(nil), b...))
	return nil
}
func (c *chanOutput) Finish(context.Context) error { return nil }
func (c *chanOutput) SendEvent(context.Context, exchange.Event) error {
	return nil
}
func (c *chanOutput) Close() error             { return nil }
func (c *chanOutput) BackpressureNanos() int64 { return 0 }

func newTestWriter(bufSize int, out *chanOutput) *edgeWriter {
	return &edgeWriter{
		ctx: context.Background(), partitioning: "forward", maxPar: 128,
		outs: []output{out}, bufs: make([][]byte, 1),
		getBuf: func() []byte { return make([]byte, 0, bufSize) },
	}
}

// TestWriterAndDecoderAgree sends records of every size, including ones far
// larger than a buffer, through the writer and decodes the buffers.
func TestWriterAndDecoderAgree(t *testing.T) {
	out := &chanOutput{}
	w := newTestWriter(64, out)
	var want []string
	for i := 0; i < 300; i++ {
		s := strings.Repeat(fmt.Sprint(i%10), (i*37)%500)
		want = append(want, s)
		r := &record.Record{Fields: []record.Field{{Name: "s", Value: record.Str(s)}, {Name: "i", Value: record.IntV(int64(i))}}}
		if err := w.Emit(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	var d spanDecoder
	var got []string
	for _, b := range out.bufs {
		if len(b) > 64 {
			t.Fatalf("buffer of %d bytes exceeds the buffer size", len(b))
		}
		err := d.decode(b, func(r *record.Record) error {
			v, _ := r.Get("s")
			got = append(got, v.Str())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("decoded %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d differs", i)
		}
	}
}

func FuzzSpanDecoder(f *testing.F) {
	out := &chanOutput{}
	w := newTestWriter(16, out)
	_ = w.Emit(&record.Record{Fields: []record.Field{{Name: "a", Value: record.Str("a long value that spans")}}})
	_ = w.flush()
	for _, b := range out.bufs {
		f.Add(b)
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var d spanDecoder
		// split the input into two buffers at every point: decoding must
		// never panic, whatever the bytes
		for cut := 0; cut <= len(data) && cut < 64; cut++ {
			d = spanDecoder{}
			fn := func(*record.Record) error { return nil }
			if err := d.decode(data[:cut], fn); err != nil {
				continue
			}
			_ = d.decode(data[cut:], fn)
		}
	})
}
