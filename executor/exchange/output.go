package exchange

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Output is the producer end of one channel. Send, SendEvent and Finish
// must be called from one goroutine at a time (they serialise if not);
// Close and BackpressureNanos may be called from any goroutine.
type Output struct {
	ex   *Exchange
	id   ChannelID
	addr string

	local *inputChannel // set for in-process channels

	// Remote.
	conn        net.Conn
	fr          *frameReader
	bw          *bufio.Writer
	hdr         [headerLen]byte
	scratch     []byte
	maxBuf      int
	initCredits int64
	queue       chan outItem
	slots       chan struct{} // one token per queued DATA item (cap QueueLen)
	credits     atomic.Int64
	creditCh    chan struct{} // cap 1, signals new credit to the writer
	acked       chan struct{} // closed on END_ACK
	eopWritten  chan struct{} // closed once END_OF_PARTITION is flushed

	bp atomic.Int64 // nanoseconds blocked in Send

	sendMu    sync.Mutex // serialises Send/SendEvent/Finish against Close
	finishing bool       // no more sends
	finished  bool       // Finish succeeded
	closed    bool

	done     chan struct{} // closed by fail
	failOnce sync.Once
	err      error // set before done is closed

	wg sync.WaitGroup // writer and reader goroutines
}

type outItem struct {
	data  []byte
	ev    Event
	event bool
}

var errFinished = errors.New("output finished")

// Connect opens the producer end of channel id towards the Exchange at
// consumerAddr. If consumerAddr equals e.Addr() the channel is local (in
// memory); otherwise it dials TCP and performs the HELLO handshake, which
// succeeds once the consumer has registered id with NewGate (it waits up to
// the consumer's RegisterTimeout). Refusals wrap ErrRefused. Safe for
// concurrent use.
func (e *Exchange) Connect(ctx context.Context, id ChannelID, consumerAddr string) (*Output, error) {
	o := &Output{ex: e, id: id, addr: consumerAddr, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.doneCtx, cancel)() // Exchange.Close aborts the handshake
	err := id.validate()
	if err == nil {
		if consumerAddr == e.addr {
			err = o.connectLocal(ctx)
		} else {
			err = o.connectRemote(ctx)
		}
	}
	if err == nil {
		if err = e.addOutput(o); err != nil {
			o.Close()
		}
	}
	if err != nil {
		if e.doneCtx.Err() != nil && !errors.Is(err, ErrClosed) {
			err = fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return nil, fmt.Errorf("connect %s channel %v: %w", consumerAddr, id, err)
	}
	return o, nil
}

func (o *Output) connectLocal(ctx context.Context) error {
	ch, err := o.ex.waitChannel(ctx, o.id)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrClosed) {
			err = fmt.Errorf("%w: %v", ErrRefused, err) // not registered in time
		}
		return err
	}
	if err := ch.claim(true, nil); err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	o.local = ch
	o.maxBuf = o.ex.cfg.BufferSize
	return nil
}

func (o *Output) connectRemote(ctx context.Context) error {
	cfg := &o.ex.cfg
	d := net.Dialer{Timeout: cfg.ConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", o.addr)
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Now().Add(cfg.HandshakeTimeout + cfg.RegisterTimeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	fr := newFrameReader(conn, 4096, 0, nil)
	_, err = conn.Write(appendHello(nil, hello{version: protocolVersion, token: cfg.Token, id: o.id}))
	var f frame
	if err == nil {
		f, err = fr.read()
	}
	if !stop() {
		conn.Close()
		return ctx.Err()
	}
	if err != nil {
		conn.Close()
		if errors.Is(err, io.EOF) {
			return errors.New("handshake: connection closed by consumer")
		}
		return fmt.Errorf("handshake: %w", err)
	}
	switch f.typ {
	case frameHelloOK:
	case frameError:
		conn.Close()
		return fmt.Errorf("%w: %s", ErrRefused, f.msg)
	default:
		conn.Close()
		return fmt.Errorf("handshake: %w: unexpected %s", errBadFrame, f.typ)
	}
	_ = conn.SetDeadline(time.Time{})

	o.conn = conn
	o.fr = fr
	o.bw = bufio.NewWriterSize(conn, ioBufferSize)
	o.maxBuf = min(cfg.BufferSize, int(f.maxBuf))
	o.initCredits = int64(f.credits)
	o.credits.Store(int64(f.credits))
	o.queue = make(chan outItem, cfg.QueueLen+16)
	o.slots = make(chan struct{}, cfg.QueueLen)
	o.creditCh = make(chan struct{}, 1)
	o.acked = make(chan struct{})
	o.eopWritten = make(chan struct{})
	o.wg.Add(2)
	go o.writeLoop()
	go o.readLoop()
	return nil
}

// ID returns the channel id. Safe for concurrent use.
func (o *Output) ID() ChannelID { return o.id }

// BackpressureNanos returns the total time Send spent blocked waiting for
// credit or queue space. Safe for concurrent use.
func (o *Output) BackpressureNanos() int64 { return o.bp.Load() }

// Send hands buf (len <= BufferSize) to the channel. It takes ownership of
// buf in every case, including errors: the caller must not touch it
// afterwards (pool buffers from GetBuffer are recycled). Send blocks while
// the channel is out of credit and its queue is full; it returns early with
// ctx's error, with the connection's error if the consumer is gone, or
// with an error after Finish/Close. Not concurrent with
// Send/SendEvent/Finish (calls serialise).
func (o *Output) Send(ctx context.Context, buf []byte) error {
	o.sendMu.Lock()
	defer o.sendMu.Unlock()
	if err := o.sendable(); err != nil {
		o.ex.pool.put(buf)
		return o.errorf("send", err)
	}
	if len(buf) > o.maxBuf {
		o.ex.pool.put(buf)
		return o.errorf("send", fmt.Errorf("buffer of %d bytes exceeds limit %d", len(buf), o.maxBuf))
	}
	if o.local != nil {
		return o.errorf("send", o.sendLocal(ctx, buf))
	}
	if err := o.acquire(ctx, o.slots); err != nil {
		o.ex.pool.put(buf)
		return o.errorf("send", err)
	}
	n := len(buf)
	o.ex.m.hold(n)
	if err := o.enqueue(ctx, outItem{data: buf}); err != nil {
		o.ex.m.unhold(n) // before freeing the slot, so the gauge never exceeds Q*B
		<-o.slots
		o.ex.pool.put(buf)
		return o.errorf("send", err)
	}
	return nil
}

// SendEvent sends ev in order with the data, without needing credit. The
// payload (at most MaxEventPayload bytes) is copied. Kind must not be
// EventEndOfPartition (use Finish). Not concurrent with Send/SendEvent/Finish
// (calls serialise).
func (o *Output) SendEvent(ctx context.Context, ev Event) error {
	o.sendMu.Lock()
	defer o.sendMu.Unlock()
	if ev.Kind == EventEndOfPartition {
		return o.errorf("send event", errors.New("END_OF_PARTITION must be sent with Finish"))
	}
	if len(ev.Payload) > MaxEventPayload {
		return o.errorf("send event", fmt.Errorf("event payload of %d bytes exceeds %d", len(ev.Payload), MaxEventPayload))
	}
	if err := o.sendable(); err != nil {
		return o.errorf("send event", err)
	}
	ev.Payload = append([]byte(nil), ev.Payload...)
	return o.errorf("send event", o.sendEvent(ctx, ev))
}

func (o *Output) sendEvent(ctx context.Context, ev Event) error {
	var err error
	if o.local != nil {
		ch := o.local
		err = o.cancelErr(ctx, ch.gate.push(Item{Channel: ch.idx, Event: &ev}, ctx.Done(), o.done))
		if err == nil {
			o.ex.m.eventsReceived.Add(1)
		}
	} else {
		err = o.enqueue(ctx, outItem{ev: ev, event: true})
	}
	if err == nil {
		o.ex.m.eventsSent.Add(1)
	}
	return err
}

// Finish sends END_OF_PARTITION after all queued buffers, waits until the
// consumer acknowledges that it received everything (bounded by ctx, and
// by AckTimeout once END_OF_PARTITION is written) and then closes the
// connection. Only then has the data safely left this process. After an
// error the channel is aborted. Send/SendEvent fail after Finish. Calling
// Close after a successful Finish is allowed but not needed. Not concurrent
// with Send/SendEvent (calls serialise); Close aborts a waiting Finish.
func (o *Output) Finish(ctx context.Context) error {
	o.sendMu.Lock()
	defer o.sendMu.Unlock()
	if err := o.sendable(); err != nil {
		return o.errorf("finish", err)
	}
	o.finishing = true
	if err := o.sendEvent(ctx, Event{Kind: EventEndOfPartition}); err != nil {
		o.fail(err)
		return o.errorf("finish", err)
	}
	if o.local == nil {
		if err := o.awaitAck(ctx); err != nil {
			o.fail(err)
			return o.errorf("finish", err)
		}
	}
	o.finished = true
	o.fail(errFinished) // stops the goroutines and closes the connection
	o.wg.Wait()
	o.ex.removeOutput(o)
	return nil
}

func (o *Output) awaitAck(ctx context.Context) error {
	select {
	case <-o.eopWritten:
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return ctx.Err()
	}
	t := time.NewTimer(o.ex.cfg.AckTimeout)
	defer t.Stop()
	select {
	case <-o.acked:
		return nil
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("no END_ACK from consumer within %v", o.ex.cfg.AckTimeout)
	}
}

// Close releases the Output. Before a successful Finish it aborts the
// channel: queued buffers are dropped, the connection is closed and the
// consumer's Gate.Next reports an error. Idempotent; safe for concurrent
// use (it unblocks a concurrent Send).
func (o *Output) Close() error {
	o.fail(fmt.Errorf("output %w", ErrClosed))
	o.sendMu.Lock()
	first := !o.closed
	o.closed = true
	finished := o.finished
	o.sendMu.Unlock()
	o.wg.Wait()
	if !first {
		return nil
	}
	if o.local != nil && !finished {
		g := o.local.gate
		if !g.isClosed() {
			g.fail(fmt.Errorf("input channel %v: local producer aborted", o.id))
		}
	}
	o.dropQueued()
	o.ex.removeOutput(o)
	return nil
}

// dropQueued discards items still queued after the writer stopped.
func (o *Output) dropQueued() {
	for {
		select {
		case it := <-o.queue: // nil queue (local) never yields
			if !it.event {
				o.ex.m.unhold(len(it.data))
				<-o.slots
				o.ex.pool.put(it.data)
			}
		default:
			return
		}
	}
}

// fail records the first error, wakes everything blocked on the Output and
// closes the connection.
func (o *Output) fail(err error) {
	o.failOnce.Do(func() {
		o.err = err
		close(o.done)
		if o.conn != nil {
			o.conn.Close()
		}
	})
}

func (o *Output) sendable() error {
	switch {
	case o.closed:
		return fmt.Errorf("output %w", ErrClosed)
	case o.finishing:
		return errFinished
	}
	select {
	case <-o.done:
		return o.err
	default:
		return nil
	}
}

func (o *Output) errorf(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s on channel %v to %s: %w", op, o.id, o.addr, err)
}

// cancelErr maps errCancelled from a blocking wait to its cause.
func (o *Output) cancelErr(ctx context.Context, err error) error {
	if err != errCancelled {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return o.err
}

// acquire puts a token into sem, blocking (and accounting backpressure)
// while it is full.
func (o *Output) acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	default:
	}
	start := time.Now()
	defer func() {
		d := int64(time.Since(start))
		o.bp.Add(d)
		o.ex.m.backpressure.Add(d)
	}()
	var gateClosed chan struct{}
	if o.local != nil {
		gateClosed = o.local.gate.closed
	}
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-o.done:
		return o.err
	case <-gateClosed:
		return fmt.Errorf("consumer gate %w", ErrClosed)
	}
}

func (o *Output) enqueue(ctx context.Context, it outItem) error {
	select {
	case o.queue <- it:
		return nil
	default:
	}
	select {
	case o.queue <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-o.done:
		return o.err
	}
}

// writeLoop is the only writer of the connection: it writes queued items
// in order, DATA only while holding credit, and flushes whenever it runs
// out of work or credit.
func (o *Output) writeLoop() {
	defer o.wg.Done()
	m := &o.ex.m
	var it outItem
	var have bool
	defer func() {
		if have && !it.event { // item in hand when stopping
			m.unhold(len(it.data))
			<-o.slots
			o.ex.pool.put(it.data)
		}
	}()
	for {
		have = false
		select {
		case it = <-o.queue:
		default:
			if err := o.flush(); err != nil {
				return
			}
			select {
			case it = <-o.queue:
			case <-o.done:
				return
			}
		}
		have = true
		if it.event {
			o.scratch = appendEvent(o.scratch[:0], it.ev)
			if _, err := o.bw.Write(o.scratch); err != nil {
				o.fail(fmt.Errorf("write: %w", err))
				return
			}
			if it.ev.Kind == EventEndOfPartition {
				if err := o.flush(); err != nil {
					return
				}
				close(o.eopWritten)
			}
			continue
		}
		for o.credits.Load() == 0 {
			if err := o.flush(); err != nil {
				return
			}
			select {
			case <-o.creditCh:
			case <-o.done:
				return
			}
		}
		o.credits.Add(-1)
		n := len(it.data)
		o.hdr[0] = byte(frameData)
		binary.BigEndian.PutUint32(o.hdr[1:], uint32(n))
		if _, err := o.bw.Write(o.hdr[:]); err != nil {
			o.fail(fmt.Errorf("write: %w", err))
			return
		}
		if _, err := o.bw.Write(it.data); err != nil {
			o.fail(fmt.Errorf("write: %w", err))
			return
		}
		have = false
		m.unhold(n) // before freeing the slot, so the gauge never exceeds Q*B
		<-o.slots
		m.sent(n)
		o.ex.pool.put(it.data)
	}
}

func (o *Output) flush() error {
	if o.bw.Buffered() == 0 {
		return nil
	}
	if err := o.bw.Flush(); err != nil {
		err = fmt.Errorf("write: %w", err)
		o.fail(err)
		return err
	}
	return nil
}

// readLoop receives CREDIT, END_ACK and ERROR frames from the consumer.
// Any read error before END_ACK fails the Output, which is how consumer
// death reaches Send.
func (o *Output) readLoop() {
	defer o.wg.Done()
	acked := false
	for {
		f, err := o.fr.read()
		if err != nil {
			if acked {
				return // consumer half-closed after END_ACK, or Finish closed
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("connection closed by consumer")
			}
			o.fail(fmt.Errorf("read: %w", err))
			return
		}
		switch f.typ {
		case frameCredit:
			if o.credits.Add(int64(f.credits)) > o.initCredits {
				o.fail(fmt.Errorf("%w: consumer granted more than %d credits", errBadFrame, o.initCredits))
				return
			}
			select {
			case o.creditCh <- struct{}{}:
			default:
			}
		case frameEndAck:
			if acked {
				o.fail(fmt.Errorf("%w: duplicate END_ACK", errBadFrame))
				return
			}
			acked = true
			close(o.acked)
		case frameError:
			o.fail(fmt.Errorf("consumer error: %s", f.msg))
			return
		default:
			o.fail(fmt.Errorf("%w: unexpected %s from consumer", errBadFrame, f.typ))
			return
		}
	}
}
