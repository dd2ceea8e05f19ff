package task

import "sync/atomic"

// counter counts on the subtask goroutine without atomics and publishes the
// value for other goroutines every 1024 increments and on sync.
type counter struct {
	n   int64
	pub atomic.Int64
}

func (c *counter) inc() {
	c.n++
	if c.n&1023 == 0 {
		c.pub.Store(c.n)
	}
}

func (c *counter) add(d int64) {
	c.n += d
	c.pub.Store(c.n)
}

func (c *counter) sync() { c.pub.Store(c.n) }

func (c *counter) load() int64 { return c.pub.Load() }
