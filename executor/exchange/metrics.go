package exchange

import "sync/atomic"

// Metrics is a snapshot of an Exchange's counters. Byte counts are buffer
// payload bytes (frame headers and events excluded). Local (in-process)
// transfers count both as sent and as received.
//
// In-flight bytes are buffer bytes this Exchange holds: accepted by
// Output.Send but not yet written to a socket, plus received (or handed
// over locally) but not yet passed to Gate.Release. With B = BufferSize,
// C = Credits and Q = QueueLen, the in-flight bytes never exceed
//
//	C*B per registered input channel (remote or local)
//	+ Q*B per open remote output channel.
//
// Local output channels add nothing on the producer side: their buffers
// are counted once, against the consumer's credits. MaxInFlightBytes is
// the largest InFlightBytes ever observed.
type Metrics struct {
	BuffersSent       int64
	BytesSent         int64
	EventsSent        int64
	BuffersReceived   int64
	BytesReceived     int64
	EventsReceived    int64
	InFlightBytes     int64
	MaxInFlightBytes  int64
	BackpressureNanos int64 // total time Output.Send spent blocked
}

// counters are the live, atomically updated metrics of an Exchange.
type counters struct {
	buffersSent, bytesSent, eventsSent             atomic.Int64
	buffersReceived, bytesReceived, eventsReceived atomic.Int64
	inFlight, maxInFlight                          atomic.Int64
	backpressure                                   atomic.Int64
}

func (c *counters) sent(n int) {
	c.buffersSent.Add(1)
	c.bytesSent.Add(int64(n))
}

func (c *counters) received(n int) {
	c.buffersReceived.Add(1)
	c.bytesReceived.Add(int64(n))
}

// hold adds n bytes to the in-flight gauge and updates its maximum.
func (c *counters) hold(n int) {
	cur := c.inFlight.Add(int64(n))
	for {
		m := c.maxInFlight.Load()
		if cur <= m || c.maxInFlight.CompareAndSwap(m, cur) {
			return
		}
	}
}

// unhold removes n bytes from the in-flight gauge.
func (c *counters) unhold(n int) {
	c.inFlight.Add(-int64(n))
}

func (c *counters) snapshot() Metrics {
	return Metrics{
		BuffersSent:       c.buffersSent.Load(),
		BytesSent:         c.bytesSent.Load(),
		EventsSent:        c.eventsSent.Load(),
		BuffersReceived:   c.buffersReceived.Load(),
		BytesReceived:     c.bytesReceived.Load(),
		EventsReceived:    c.eventsReceived.Load(),
		InFlightBytes:     c.inFlight.Load(),
		MaxInFlightBytes:  c.maxInFlight.Load(),
		BackpressureNanos: c.backpressure.Load(),
	}
}
