package task

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/executor/exchange"
	"github.com/sluicehq/sluice/executor/record"
)

// output is the producer end of one channel (an *exchange.Output).
type output interface {
	Send(ctx context.Context, buf []byte) error
	SendEvent(ctx context.Context, ev exchange.Event) error
	Finish(ctx context.Context) error
	Close() error
	BackpressureNanos() int64
}

// edgeWriter partitions, encodes and sends the records of one outgoing edge.
// Emit runs on the subtask goroutine; flush may also run on the flusher
// goroutine, hence the mutex.
type edgeWriter struct {
	ctx          context.Context
	partitioning string
	key          *keySelector
	maxPar       int
	outs         []output
	getBuf       func() []byte

	mu      sync.Mutex
	bufs    [][]byte
	scratch []byte
	hdr     [binary.MaxVarintLen64]byte
	rr      int
	closed  bool

	bytesOut atomic.Int64
}

// Emit implements operator.Emitter.
func (w *edgeWriter) Emit(r *record.Record) error {
	w.scratch = record.AppendRecord(w.scratch[:0], r)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch w.partitioning {
	case "hash":
		k, err := w.key.key(r)
		if err != nil {
			return err
		}
		kg := record.KeyGroup(k.Hash(), w.maxPar)
		return w.write(record.SubtaskForKeyGroup(kg, w.maxPar, len(w.outs)))
	case "rebalance":
		t := w.rr
		w.rr++
		if w.rr == len(w.outs) {
			w.rr = 0
		}
		return w.write(t)
	case "broadcast":
		for t := range w.outs {
			if err := w.write(t); err != nil {
				return err
			}
		}
		return nil
	default: // forward
		return w.write(0)
	}
}

// write appends the record in scratch, length-prefixed, to channel t's
// buffer, sending buffers as they fill. Called with mu held.
func (w *edgeWriter) write(t int) error {
	n := binary.PutUvarint(w.hdr[:], uint64(len(w.scratch)))
	need := n + len(w.scratch)
	b := w.bufs[t]
	if b == nil {
		b = w.getBuf()
	}
	if len(b)+need > cap(b) && len(b) > 0 {
		if err := w.send(t, b); err != nil {
			return err
		}
		b = w.getBuf()
	}
	if len(b)+need <= cap(b) {
		b = append(b, w.hdr[:n]...)
		w.bufs[t] = append(b, w.scratch...)
		return nil
	}
	// larger than a buffer: span it over fresh buffers
	for _, part := range [][]byte{w.hdr[:n], w.scratch} {
		for len(part) > 0 {
			k := min(cap(b)-len(b), len(part))
			b = append(b, part[:k]...)
			part = part[k:]
			if len(b) == cap(b) {
				if err := w.send(t, b); err != nil {
					return err
				}
				b = w.getBuf()
			}
		}
	}
	w.bufs[t] = b
	return nil
}

func (w *edgeWriter) send(t int, b []byte) error {
	w.bufs[t] = nil
	w.bytesOut.Add(int64(len(b)))
	if err := w.outs[t].Send(w.ctx, b); err != nil {
		return fmt.Errorf("send to channel %d: %w", t, err)
	}
	return nil
}

// flush sends every partially filled buffer.
func (w *edgeWriter) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *edgeWriter) flushLocked() error {
	if w.closed {
		return nil
	}
	for t, b := range w.bufs {
		if len(b) > 0 {
			if err := w.send(t, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish flushes and ends every channel cleanly.
func (w *edgeWriter) finish(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.flushLocked(); err != nil {
		return err
	}
	w.closed = true
	var errs []error
	for t, o := range w.outs {
		if err := o.Finish(ctx); err != nil {
			errs = append(errs, fmt.Errorf("finish channel %d: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// abort closes every channel without ending it; consumers see an error.
func (w *edgeWriter) abort() {
	for _, o := range w.outs {
		_ = o.Close()
	}
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

func (w *edgeWriter) backpressureNanos() int64 {
	var n int64
	for _, o := range w.outs {
		n += o.BackpressureNanos()
	}
	return n
}

// sendEvent flushes every channel's buffer and then sends ev on it, so the
// event follows the records emitted before it.
func (w *edgeWriter) sendEvent(ev exchange.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.flushLocked(); err != nil {
		return err
	}
	for t, o := range w.outs {
		if err := o.SendEvent(w.ctx, ev); err != nil {
			return fmt.Errorf("send event to channel %d: %w", t, err)
		}
	}
	return nil
}
