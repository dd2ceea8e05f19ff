package exchange

import "testing"

func TestBufferPool(t *testing.T) {
	p := newBufferPool(128)
	b := p.get()
	if len(b) != 0 || cap(b) != 128 {
		t.Fatalf("len %d cap %d", len(b), cap(b))
	}
	p.put(append(b, 1, 2, 3))
	p.put(make([]byte, 10)) // foreign capacity: dropped
	for range 10 {
		if b := p.get(); len(b) != 0 || cap(b) != 128 {
			t.Fatalf("len %d cap %d", len(b), cap(b))
		}
	}
	// Steady state does not allocate (the race detector disables pooling
	// guarantees, so only check without it).
	if !raceEnabled {
		if n := testing.AllocsPerRun(100, func() { p.put(p.get()) }); n > 0 {
			t.Fatalf("%.1f allocs per get/put", n)
		}
	}
}
