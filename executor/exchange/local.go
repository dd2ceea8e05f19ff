package exchange

import "context"

// In-process channels: the producer hands buffers straight to the
// consumer's Gate, without copying. The consumer's credit bound applies:
// Send takes one of the channel's Credits tokens (blocking while all are
// taken) and Gate.Release gives it back. There is no producer-side queue.

func (o *Output) sendLocal(ctx context.Context, buf []byte) error {
	ch := o.local
	m := &o.ex.m
	if err := o.acquire(ctx, ch.localCredits); err != nil {
		o.ex.pool.put(buf)
		return err
	}
	n := len(buf)
	m.hold(n)
	if err := ch.gate.push(Item{Channel: ch.idx, Data: buf, held: n}, ctx.Done(), o.done); err != nil {
		m.unhold(n) // before returning the token, so the gauge never exceeds C*B
		select {
		case <-ch.localCredits:
		default:
		}
		o.ex.pool.put(buf)
		return o.cancelErr(ctx, err)
	}
	m.sent(n)
	m.received(n)
	return nil
}
