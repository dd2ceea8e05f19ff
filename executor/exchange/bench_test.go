package exchange

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
)

// benchTransfer moves b.N full buffers over chans channels (split evenly)
// from prod to a gate on cons and reports MB/s through SetBytes.
func benchTransfer(b *testing.B, prod, cons *Exchange, chans int) {
	ctx := context.Background()
	size := cons.cfg.BufferSize
	ids := make([]ChannelID, chans)
	for i := range ids {
		ids[i] = chanID(0, i, 0)
	}
	g, err := cons.NewGate(ids)
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	outs := make([]*Output, chans)
	for i, id := range ids {
		if outs[i], err = prod.Connect(ctx, id, cons.Addr()); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, o := range outs {
		n := b.N / chans
		if i < b.N%chans {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if err := o.Send(ctx, prod.GetBuffer()[:size]); err != nil {
					b.Error(err)
					return
				}
			}
			if err := o.Finish(ctx); err != nil {
				b.Error(err)
			}
		}()
	}
	for {
		it, err := g.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		g.Release(it)
	}
	wg.Wait()
	b.StopTimer()
	if m := cons.Metrics(); m.InFlightBytes != 0 {
		b.Fatalf("in flight after run: %d", m.InFlightBytes)
	}
}

func BenchmarkTCPThroughput(b *testing.B) {
	for _, chans := range []int{1, 4} {
		b.Run(fmt.Sprintf("channels=%d", chans), func(b *testing.B) {
			prod, cons := newExchange(b, Config{}), newExchange(b, Config{})
			benchTransfer(b, prod, cons, chans)
		})
	}
}

func BenchmarkLocalThroughput(b *testing.B) {
	for _, chans := range []int{1, 4} {
		b.Run(fmt.Sprintf("channels=%d", chans), func(b *testing.B) {
			e := newExchange(b, Config{})
			benchTransfer(b, e, e, chans)
		})
	}
}
