package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// transfer sends n buffers plus an event on each of chans channels from
// the producer exchange to a gate on the consumer exchange (the same one
// for local) and checks order, content, events and EOF.
func transfer(t *testing.T, prod, cons *Exchange, chans, n int) {
	ctx := testCtx(t)
	ids := make([]ChannelID, chans)
	for i := range ids {
		ids[i] = chanID(0, i, 0)
	}
	g, err := cons.NewGate(ids)
	if err != nil {
		t.Fatal(err)
	}
	size := func(seq int) int { return 8 + seq%1000 }

	var wg sync.WaitGroup
	errs := make(chan error, chans)
	for c := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := prod.Connect(ctx, ids[c], cons.Addr())
			if err != nil {
				errs <- err
				return
			}
			defer o.Close()
			for seq := range n {
				if err := o.Send(ctx, payload(prod, c, seq, size(seq))); err != nil {
					errs <- err
					return
				}
				if seq == n/2 {
					if err := o.SendEvent(ctx, Event{Kind: 200, Payload: []byte{byte(c)}}); err != nil {
						errs <- err
						return
					}
				}
			}
			if err := o.Finish(ctx); err != nil {
				errs <- err
			}
		}()
	}

	next := make([]int, chans)
	sawEvent := make([]bool, chans)
	sawEOP := make([]bool, chans)
	for {
		it, err := g.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		c := it.Channel
		switch {
		case it.Event == nil:
			checkPayload(t, it.Data, c, next[c], size(next[c]))
			next[c]++
		case it.Event.Kind == EventEndOfPartition:
			if next[c] != n || sawEOP[c] {
				t.Fatalf("channel %d: END_OF_PARTITION after %d buffers (dup=%v)", c, next[c], sawEOP[c])
			}
			sawEOP[c] = true
		default:
			if it.Event.Kind != 200 || len(it.Event.Payload) != 1 || int(it.Event.Payload[0]) != c || next[c] != n/2+1 {
				t.Fatalf("channel %d: unexpected event %+v after %d buffers", c, it.Event, next[c])
			}
			sawEvent[c] = true
		}
		g.Release(it)
	}
	if _, err := g.Next(ctx); err != io.EOF {
		t.Fatalf("Next after EOF: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for c := range chans {
		if !sawEvent[c] || !sawEOP[c] {
			t.Fatalf("channel %d: event %v, eop %v", c, sawEvent[c], sawEOP[c])
		}
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*Exchange{prod, cons} {
		if m := e.Metrics(); m.InFlightBytes != 0 {
			t.Fatalf("in-flight bytes after transfer: %+v", m)
		}
	}
	m := cons.Metrics()
	if m.BuffersReceived != int64(chans*n) || m.EventsReceived != int64(2*chans) {
		t.Fatalf("consumer metrics %+v", m)
	}
	if pm := prod.Metrics(); pm.BuffersSent != int64(chans*n) || pm.BytesSent != m.BytesReceived {
		t.Fatalf("producer metrics %+v, consumer %+v", pm, m)
	}
}

func TestTransferTCP(t *testing.T) {
	checkLeaks(t)
	cfg := Config{BufferSize: 2048, Credits: 3, QueueLen: 2}
	prod, cons := newExchange(t, cfg), newExchange(t, cfg)
	transfer(t, prod, cons, 4, 2000)
}

func TestTransferLocal(t *testing.T) {
	checkLeaks(t)
	e := newExchange(t, Config{BufferSize: 2048, Credits: 3})
	transfer(t, e, e, 4, 2000)
}

func TestBackpressureTCP(t *testing.T) {
	checkLeaks(t)
	const B, C, Q = 1000, 3, 2
	cfg := Config{BufferSize: B, Credits: C, QueueLen: Q}
	prod, cons := newExchange(t, cfg), newExchange(t, cfg)
	testBackpressure(t, prod, cons, C+Q)
	if m := prod.Metrics(); m.MaxInFlightBytes > Q*B || m.MaxInFlightBytes == 0 {
		t.Fatalf("producer max in flight %d, bound %d", m.MaxInFlightBytes, Q*B)
	}
	if m := cons.Metrics(); m.MaxInFlightBytes > C*B || m.MaxInFlightBytes == 0 {
		t.Fatalf("consumer max in flight %d, bound %d", m.MaxInFlightBytes, C*B)
	}
}

func TestBackpressureLocal(t *testing.T) {
	checkLeaks(t)
	const B, C = 1000, 3
	e := newExchange(t, Config{BufferSize: B, Credits: C, QueueLen: 2})
	testBackpressure(t, e, e, C)
	if m := e.Metrics(); m.MaxInFlightBytes > C*B || m.MaxInFlightBytes == 0 {
		t.Fatalf("max in flight %d, bound %d", m.MaxInFlightBytes, C*B)
	}
}

// testBackpressure checks that a consumer that does not release blocks the
// producer after exactly limit buffers, and that releasing resumes it.
func testBackpressure(t *testing.T, prod, cons *Exchange, limit int) {
	ctx := testCtx(t)
	id := chanID(0, 0, 0)
	g, err := cons.NewGate([]ChannelID{id})
	if err != nil {
		t.Fatal(err)
	}
	o, err := prod.Connect(ctx, id, cons.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	const size = 1000
	for i := range limit {
		if err := o.Send(ctx, payload(prod, 0, i, size)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	cred := int64(cons.cfg.Credits)
	waitFor(t, "consumer to hold all credits", func() bool { return cons.Metrics().BuffersReceived == cred })
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err = o.Send(short, payload(prod, 0, limit, size))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send beyond credits+queue: got %v, want deadline exceeded", err)
	}
	if o.BackpressureNanos() == 0 || prod.Metrics().BackpressureNanos == 0 {
		t.Fatal("backpressure time not recorded")
	}
	if got := cons.Metrics().BuffersReceived; got != cred {
		t.Fatalf("consumer received %d buffers without releasing, credits %d", got, cred)
	}
	// Release everything; the queued rest must arrive, then EOF.
	done := make(chan error, 1)
	go func() { done <- o.Finish(ctx) }()
	for i := 0; ; i++ {
		it, err := g.Next(ctx)
		if err == io.EOF {
			if i != limit+1 {
				t.Fatalf("got %d items, want %d buffers and END_OF_PARTITION", i, limit)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if it.Event == nil {
			checkPayload(t, it.Data, 0, i, size)
		}
		g.Release(it)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestSlowConsumerBound streams many buffers to a consumer that releases
// late and checks the in-flight maximum against the documented bound.
func TestSlowConsumerBound(t *testing.T) {
	checkLeaks(t)
	const B, C, Q, chans, n = 512, 2, 3, 3, 300
	cfg := Config{BufferSize: B, Credits: C, QueueLen: Q}
	prod, cons := newExchange(t, cfg), newExchange(t, cfg)
	ctx := testCtx(t)
	ids := []ChannelID{chanID(1, 0, 0), chanID(1, 1, 0), chanID(1, 2, 0)}
	g, err := cons.NewGate(ids)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := prod.Connect(ctx, id, cons.Addr())
			if err != nil {
				t.Error(err)
				return
			}
			defer o.Close()
			for i := range n {
				b := prod.GetBuffer()[:B]
				b[0] = byte(i)
				if err := o.Send(ctx, b); err != nil {
					t.Error(err)
					return
				}
			}
			if err := o.Finish(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	var held []Item
	for {
		it, err := g.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, it)
		if len(held) >= C || it.Event != nil { // release in bursts
			for _, h := range held {
				g.Release(h)
			}
			held = held[:0]
		}
	}
	wg.Wait()
	if m := prod.Metrics(); m.MaxInFlightBytes > chans*Q*B {
		t.Fatalf("producer max in flight %d > %d", m.MaxInFlightBytes, chans*Q*B)
	}
	if m := cons.Metrics(); m.MaxInFlightBytes > chans*C*B || m.MaxInFlightBytes < C*B {
		t.Fatalf("consumer max in flight %d, bound %d", m.MaxInFlightBytes, chans*C*B)
	}
}

func TestWrongTokenRefused(t *testing.T) {
	checkLeaks(t)
	cons := newExchange(t, Config{Token: "secret"})
	prod := newExchange(t, Config{Token: "guess"})
	anon := newExchange(t, Config{})
	ctx := testCtx(t)
	id := chanID(0, 0, 0)
	g, err := cons.NewGate([]ChannelID{id})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, p := range []*Exchange{prod, anon} {
		_, err = p.Connect(ctx, id, cons.Addr())
		if !errors.Is(err, ErrRefused) {
			t.Fatalf("got %v, want ErrRefused", err)
		}
		wantErrContains(t, err, "authentication failed")
	}
	// The channel is still free for the right producer.
	good := newExchange(t, Config{Token: "secret"})
	o, err := good.Connect(ctx, id, cons.Addr())
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
}

func TestLateRegistration(t *testing.T) {
	checkLeaks(t)
	for _, local := range []bool{false, true} {
		t.Run(fmt.Sprint("local=", local), func(t *testing.T) {
			cons := newExchange(t, Config{})
			prod := cons
			if !local {
				prod = newExchange(t, Config{})
			}
			ctx := testCtx(t)
			id := chanID(3, 1, 2)
			type res struct {
				o   *Output
				err error
			}
			ch := make(chan res, 1)
			go func() {
				o, err := prod.Connect(ctx, id, cons.Addr())
				ch <- res{o, err}
			}()
			if !local { // make sure HELLO is waiting before registering
				waitFor(t, "connection accepted", func() bool {
					cons.mu.Lock()
					defer cons.mu.Unlock()
					return len(cons.conns) > 0
				})
			}
			g, err := cons.NewGate([]ChannelID{id})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			r := <-ch
			if r.err != nil {
				t.Fatal(r.err)
			}
			if err := r.o.Send(ctx, payload(prod, 7, 0, 100)); err != nil {
				t.Fatal(err)
			}
			it, err := g.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			checkPayload(t, it.Data, 7, 0, 100)
			g.Release(it)
			if err := r.o.Finish(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRegistrationTimeoutAndDuplicate(t *testing.T) {
	checkLeaks(t)
	cons := newExchange(t, Config{RegisterTimeout: 50 * time.Millisecond})
	prod := newExchange(t, Config{})
	ctx := testCtx(t)
	_, err := prod.Connect(ctx, chanID(0, 0, 0), cons.Addr())
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("got %v, want ErrRefused", err)
	}
	wantErrContains(t, err, "not registered")
	if _, err := cons.Connect(ctx, chanID(0, 0, 0), cons.Addr()); !errors.Is(err, ErrRefused) {
		t.Fatalf("local: got %v, want ErrRefused", err)
	}

	id := chanID(0, 0, 1)
	g, err := cons.NewGate([]ChannelID{id})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := cons.NewGate([]ChannelID{id}); err == nil {
		t.Fatal("registered the same channel twice")
	}
	o, err := prod.Connect(ctx, id, cons.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	_, err = prod.Connect(ctx, id, cons.Addr())
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("second producer: got %v, want ErrRefused", err)
	}
	wantErrContains(t, err, "already connected")
	if _, err := cons.Connect(ctx, id, cons.Addr()); !errors.Is(err, ErrRefused) {
		t.Fatalf("local second producer: got %v, want ErrRefused", err)
	}
}

// TestConsumerGone: when the consumer goes away, a blocked Send fails.
func TestConsumerGone(t *testing.T) {
	checkLeaks(t)
	cfg := Config{BufferSize: 1024, Credits: 2, QueueLen: 1}
	prod := newExchange(t, cfg)
	cons, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	ctx := testCtx(t)
	id := chanID(0, 0, 0)
	if _, err := cons.NewGate([]ChannelID{id}); err != nil {
		t.Fatal(err)
	}
	o, err := prod.Connect(ctx, id, cons.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	sendErr := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if err := o.Send(ctx, payload(prod, 0, i, 100)); err != nil {
				sendErr <- err
				return
			}
		}
	}()
	waitFor(t, "consumer to receive", func() bool { return cons.Metrics().BuffersReceived == 2 })
	cons.Close()
	err = <-sendErr
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want connection error", err)
	}
	t.Logf("send error: %v", err)
	if err := o.Finish(ctx); err == nil {
		t.Fatal("Finish succeeded after consumer death")
	}
}

// TestProducerGone: a producer aborting before END_OF_PARTITION fails Next.
func TestProducerGone(t *testing.T) {
	checkLeaks(t)
	for _, local := range []bool{false, true} {
		t.Run(fmt.Sprint("local=", local), func(t *testing.T) {
			cons := newExchange(t, Config{})
			prod := cons
			if !local {
				prod = newExchange(t, Config{})
			}
			ctx := testCtx(t)
			ids := []ChannelID{chanID(0, 0, 0), chanID(0, 1, 0)}
			g, err := cons.NewGate(ids)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			o, err := prod.Connect(ctx, ids[1], cons.Addr())
			if err != nil {
				t.Fatal(err)
			}
			if err := o.Send(ctx, payload(prod, 1, 0, 10)); err != nil {
				t.Fatal(err)
			}
			o.Close()
			for {
				it, err := g.Next(ctx)
				if err != nil {
					if err == io.EOF || errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("got %v, want channel error", err)
					}
					wantErrContains(t, err, ids[1].String())
					t.Logf("next error: %v", err)
					break
				}
				g.Release(it)
			}
			if _, err := g.Next(ctx); err == nil {
				t.Fatal("gate error not sticky")
			}
		})
	}
}

// TestRawProtocolErrors drives the consumer with hand-written frames.
func TestRawProtocolErrors(t *testing.T) {
	checkLeaks(t)
	cons := newExchange(t, Config{BufferSize: 64, Credits: 2, Token: "tok"})
	ctx := testCtx(t)

	dial := func(t *testing.T, id ChannelID, token string) (net.Conn, *frameReader, frame) {
		c, err := net.Dial("tcp", cons.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write(appendHello(nil, hello{version: protocolVersion, token: token, id: id})); err != nil {
			t.Fatal(err)
		}
		fr := newFrameReader(c, 4096, 0, nil)
		f, err := fr.read()
		if err != nil {
			t.Fatal(err)
		}
		return c, fr, f
	}

	t.Run("wrong token gets ERROR then EOF", func(t *testing.T) {
		_, fr, f := dial(t, chanID(9, 0, 0), "bad")
		if f.typ != frameError {
			t.Fatalf("got %s, want ERROR", f.typ)
		}
		wantErrContains(t, errors.New(f.msg), "authentication failed")
		if _, err := fr.read(); err != io.EOF {
			t.Fatalf("after ERROR: %v, want EOF", err)
		}
	})

	t.Run("bad version", func(t *testing.T) {
		c, err := net.Dial("tcp", cons.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(appendHello(nil, hello{version: 99, token: "tok"}))
		f, err := newFrameReader(c, 4096, 0, nil).read()
		if err != nil || f.typ != frameError {
			t.Fatalf("got %v %v, want ERROR", f.typ, err)
		}
		wantErrContains(t, errors.New(f.msg), "version")
	})

	t.Run("absurd length", func(t *testing.T) {
		c, err := net.Dial("tcp", cons.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte{byte(frameHello), 0xff, 0xff, 0xff, 0xff})
		f, err := newFrameReader(c, 4096, 0, nil).read()
		if err != nil || f.typ != frameError {
			t.Fatalf("got %v %v, want ERROR", f.typ, err)
		}
		wantErrContains(t, errors.New(f.msg), "exceeds limit")
	})

	t.Run("data without credit", func(t *testing.T) {
		id := chanID(9, 1, 0)
		g, err := cons.NewGate([]ChannelID{id})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		c, _, f := dial(t, id, "tok")
		if f.typ != frameHelloOK || f.credits != 2 || f.maxBuf != 64 {
			t.Fatalf("got %+v, want HELLO_OK with 2 credits", f)
		}
		var out []byte
		for range 3 {
			out = appendHeader(out, frameData, 3)
			out = append(out, 1, 2, 3)
		}
		c.Write(out)
		for {
			it, err := g.Next(ctx)
			if err != nil {
				wantErrContains(t, err, "without credit")
				break
			}
			_ = it // not released: the third DATA has no credit
		}
	})
}

// TestFinishSemantics: Send after Finish fails, Close after Finish does not
// fail the consumer, END_ACK arrives, and the consumer sees EOF.
func TestFinishSemantics(t *testing.T) {
	checkLeaks(t)
	cons, prod := newExchange(t, Config{}), newExchange(t, Config{})
	ctx := testCtx(t)
	id := chanID(0, 0, 0)
	g, err := cons.NewGate([]ChannelID{id})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	o, err := prod.Connect(ctx, id, cons.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if err := o.SendEvent(ctx, Event{Kind: EventEndOfPartition}); err == nil {
		t.Fatal("SendEvent accepted END_OF_PARTITION")
	}
	if err := o.Send(ctx, make([]byte, 40<<10)); err == nil {
		t.Fatal("Send accepted an oversized buffer")
	}
	// The consumer must drain: 10 buffers > credits+queue.
	got := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			it, err := g.Next(ctx)
			if err != nil {
				if err == io.EOF && i != 11 {
					err = fmt.Errorf("EOF after %d items", i)
				} else if err == io.EOF {
					err = nil
				}
				got <- err
				return
			}
			g.Release(it)
		}
	}()
	for i := range 10 {
		if err := o.Send(ctx, payload(prod, 0, i, 5000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if err := o.Send(ctx, prod.GetBuffer()); err == nil {
		t.Fatal("Send after Finish succeeded")
	}
	if err := o.Finish(ctx); err == nil {
		t.Fatal("second Finish succeeded")
	}
	o.Close()
	if _, err := g.Next(ctx); err != io.EOF {
		t.Fatalf("Next after producer close: %v, want EOF", err)
	}
}

// TestCloseUnblocks: Gate.Close, Output.Close, ctx and Exchange.Close
// unblock waiting calls.
func TestCloseUnblocks(t *testing.T) {
	checkLeaks(t)
	cfg := Config{Credits: 1, QueueLen: 1}
	cons, prod := newExchange(t, cfg), newExchange(t, cfg)
	ctx := testCtx(t)
	ids := []ChannelID{chanID(0, 0, 0), chanID(0, 1, 0)}
	g, err := cons.NewGate(ids)
	if err != nil {
		t.Fatal(err)
	}
	remote, err := prod.Connect(ctx, ids[0], cons.Addr())
	if err != nil {
		t.Fatal(err)
	}
	local, err := cons.Connect(ctx, ids[1], cons.Addr())
	if err != nil {
		t.Fatal(err)
	}
	sendUntilErr := func(o *Output, e *Exchange) chan error {
		ch := make(chan error, 1)
		go func() {
			for {
				if err := o.Send(ctx, e.GetBuffer()[:10]); err != nil {
					ch <- err
					return
				}
			}
		}()
		return ch
	}
	r, l := sendUntilErr(remote, prod), sendUntilErr(local, cons)
	nextErr := make(chan error, 1)
	waitFor(t, "both channels out of credit", func() bool { return cons.Metrics().BuffersReceived >= 2 })
	g.Close()
	go func() {
		_, err := g.Next(ctx)
		nextErr <- err
	}()
	for _, c := range []chan error{r, l, nextErr} {
		if err := <-c; err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want close error", err)
		}
	}
	remote.Close()
	local.Close()
	if m := cons.Metrics(); m.InFlightBytes != 0 {
		t.Fatalf("consumer in flight after close: %d", m.InFlightBytes)
	}
	if m := prod.Metrics(); m.InFlightBytes != 0 {
		t.Fatalf("producer in flight after close: %d", m.InFlightBytes)
	}

	// Connect waiting for registration is released by Exchange.Close.
	done := make(chan error, 1)
	go func() {
		_, err := cons.Connect(ctx, chanID(5, 5, 5), cons.Addr())
		done <- err
	}()
	cons.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
	// A remote Connect waiting for registration is released by closing
	// the producer's Exchange.
	prod2 := newExchange(t, cfg)
	cons3 := newExchange(t, cfg)
	go func() {
		_, err := prod2.Connect(ctx, chanID(6, 6, 6), cons3.Addr())
		done <- err
	}()
	waitFor(t, "connection accepted", func() bool {
		cons3.mu.Lock()
		defer cons3.mu.Unlock()
		return len(cons3.conns) > 0
	})
	prod2.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}

	// ctx cancels a blocked Send.
	cons2 := newExchange(t, cfg)
	g2, _ := cons2.NewGate(ids[:1])
	defer g2.Close()
	o, err := prod.Connect(ctx, ids[0], cons2.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	cctx, cancel := context.WithCancel(ctx)
	sent := make(chan error, 1)
	go func() {
		for {
			if err := o.Send(cctx, prod.GetBuffer()); err != nil {
				sent <- err
				return
			}
		}
	}()
	waitFor(t, "consumer out of credit", func() bool { return cons2.Metrics().BuffersReceived == 1 })
	cancel()
	if err := <-sent; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
