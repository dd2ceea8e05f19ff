package exchange

import "sync"

// bufferPool recycles []byte of a fixed capacity. Safe for concurrent use.
//
// Buffers are stored as *[]byte so that Put does not box a slice header
// (an allocation); the emptied *[]byte holders are themselves recycled, so
// the steady state allocates nothing.
type bufferPool struct {
	size    int
	bufs    sync.Pool // *[]byte holding a buffer
	holders sync.Pool // empty *[]byte
}

func newBufferPool(size int) *bufferPool {
	return &bufferPool{size: size}
}

// get returns a buffer with len 0 and cap == size.
func (p *bufferPool) get() []byte {
	h, ok := p.bufs.Get().(*[]byte)
	if !ok {
		return make([]byte, 0, p.size)
	}
	b := (*h)[:0]
	*h = nil
	p.holders.Put(h)
	return b
}

// put recycles b if it has exactly the pool's capacity; other buffers
// (allocated by the caller) are left to the garbage collector.
func (p *bufferPool) put(b []byte) {
	if p == nil || cap(b) != p.size {
		return
	}
	h, ok := p.holders.Get().(*[]byte)
	if !ok {
		h = new([]byte)
	}
	*h = b[:0]
	p.bufs.Put(h)
}
