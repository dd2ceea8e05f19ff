package exchange

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// serveConn runs the consumer side of one accepted connection: handshake,
// then receiving frames for the claimed input channel.
func (e *Exchange) serveConn(conn net.Conn) {
	defer e.wg.Done()
	defer e.untrackConn(conn)
	log := e.log.With().Str("peer", conn.RemoteAddr().String()).Logger()

	fr := newFrameReader(conn, ioBufferSize, e.cfg.BufferSize, e.pool)
	_ = conn.SetDeadline(time.Now().Add(e.cfg.HandshakeTimeout))
	f, err := fr.read()
	if err == nil && f.typ != frameHello {
		err = fmt.Errorf("%w: expected HELLO, got %s", errBadFrame, f.typ)
	}
	if err != nil {
		log.Debug().Err(err).Msg("bad handshake")
		e.refuse(conn, "bad handshake: "+err.Error())
		return
	}
	if e.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(f.hello.token), []byte(e.cfg.Token)) != 1 {
		log.Warn().Stringer("channel", f.hello.id).Msg("refused producer: wrong token")
		e.refuse(conn, "authentication failed: wrong token")
		return
	}
	_ = conn.SetDeadline(time.Time{})
	ch, err := e.waitChannel(context.Background(), f.hello.id)
	if err == nil {
		err = ch.claim(false, conn)
	}
	if err != nil {
		log.Debug().Err(err).Msg("refused producer")
		e.refuse(conn, err.Error())
		return
	}
	ch.serveRemote(conn, fr)
}

// refuse sends an ERROR frame and closes conn. The peer's HELLO has been
// read completely, so closing does not reset the connection.
func (e *Exchange) refuse(conn net.Conn, msg string) {
	_ = conn.SetWriteDeadline(time.Now().Add(e.cfg.HandshakeTimeout))
	_, _ = conn.Write(appendError(nil, msg))
	conn.Close()
}

// serveRemote accepts the handshake and runs the reader until the channel
// ends. It owns one of the two gate.wg counts added by claim; the credit
// writer owns the other.
func (ch *inputChannel) serveRemote(conn net.Conn, fr *frameReader) {
	g := ch.gate
	e := g.ex
	defer g.wg.Done()
	_ = conn.SetWriteDeadline(time.Now().Add(e.cfg.HandshakeTimeout))
	_, err := conn.Write(appendHelloOK(nil, e.cfg.Credits, e.cfg.BufferSize))
	_ = conn.SetWriteDeadline(time.Time{})
	if err != nil {
		g.wg.Done() // no credit writer
		err = fmt.Errorf("send HELLO_OK: %w", err)
	} else {
		e.wg.Add(1) // safe: serveConn holds a count
		go ch.creditWriter(conn)
		err = ch.readLoop(conn, fr)
	}
	close(ch.done)
	conn.Close()
	if err != nil && !g.isClosed() {
		if p := ch.werr.Load(); p != nil {
			err = *p
		}
		err = fmt.Errorf("input channel %v from %s: %w", ch.id, conn.RemoteAddr(), err)
		e.log.Warn().Err(err).Msg("input channel failed")
		g.fail(err)
	}
}

var errCreditViolation = errors.New("producer sent DATA without credit")

// readLoop receives frames until END_OF_PARTITION (nil) or an error.
func (ch *inputChannel) readLoop(conn net.Conn, fr *frameReader) error {
	g := ch.gate
	e := g.ex
	for {
		f, err := fr.read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("connection closed by producer before END_OF_PARTITION")
			}
			return err
		}
		switch f.typ {
		case frameData:
			n := len(f.data)
			if ch.avail.Add(-1) < 0 {
				e.pool.put(f.data)
				return errCreditViolation
			}
			e.m.received(n)
			e.m.hold(n)
			if err := g.push(Item{Channel: ch.idx, Data: f.data, held: n}, nil, nil); err != nil {
				e.m.unhold(n)
				e.pool.put(f.data)
				return err
			}
		case frameEvent:
			e.m.eventsReceived.Add(1)
			ev := f.event
			eop := ev.Kind == EventEndOfPartition
			if eop {
				// Acknowledge at once: the data is complete in this process.
				ch.eop.Store(true)
				ch.wake()
			}
			if err := g.push(Item{Channel: ch.idx, Event: &ev}, nil, nil); err != nil {
				return err
			}
			if eop {
				ch.awaitProducerClose(conn, fr)
				return nil
			}
		default:
			return fmt.Errorf("%w: unexpected %s from producer", errBadFrame, f.typ)
		}
	}
}

// awaitProducerClose waits (bounded by AckTimeout) for the producer to
// close after it got END_ACK, so that this side never closes first with
// unread bytes. Problems here do not fail the channel: its data is complete.
func (ch *inputChannel) awaitProducerClose(conn net.Conn, fr *frameReader) {
	e := ch.gate.ex
	_ = conn.SetReadDeadline(time.Now().Add(e.cfg.AckTimeout))
	if t, _, err := fr.next(); err == nil {
		e.log.Warn().Stringer("channel", ch.id).Stringer("frame", t).Msg("frame after END_OF_PARTITION ignored")
	} else if !errors.Is(err, io.EOF) && !ch.gate.isClosed() {
		e.log.Debug().Err(err).Stringer("channel", ch.id).Msg("waiting for producer close")
	}
}

// creditWriter is the only writer of conn after the handshake: it sends
// released credits (coalesced) and, after END_OF_PARTITION, END_ACK
// followed by a half-close.
func (ch *inputChannel) creditWriter(conn net.Conn) {
	g := ch.gate
	defer g.ex.wg.Done()
	defer g.wg.Done()
	var scratch [16]byte
	for {
		select {
		case <-ch.notify:
		case <-ch.done:
			return
		}
		if ch.eop.Load() {
			_ = conn.SetWriteDeadline(time.Now().Add(g.ex.cfg.AckTimeout))
			if _, err := conn.Write(appendEndAck(scratch[:0])); err != nil {
				g.ex.log.Debug().Err(err).Stringer("channel", ch.id).Msg("send END_ACK")
				return
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
		if n := ch.pending.Swap(0); n > 0 {
			if _, err := conn.Write(appendCredit(scratch[:0], int(n))); err != nil {
				err = fmt.Errorf("send CREDIT: %w", err)
				ch.werr.CompareAndSwap(nil, &err)
				conn.Close() // wakes the reader, which reports werr
				return
			}
		}
	}
}
