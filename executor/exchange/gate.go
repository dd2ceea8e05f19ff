package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Item is one element returned by Gate.Next: an event if Event != nil,
// otherwise a buffer in Data (possibly empty). Channel is the index of the
// channel in the ids passed to NewGate. Pass every Item back, unmodified,
// to Gate.Release exactly once.
type Item struct {
	Channel int
	Data    []byte
	Event   *Event

	held int // bytes counted in flight
}

// Gate is the consumer side of one subtask input: it merges the buffers and
// events of several input channels into one stream. Items of one channel
// arrive in the order they were sent; items of different channels are
// interleaved in arrival order.
type Gate struct {
	ex    *Exchange
	ids   []ChannelID
	chans []*inputChannel
	queue chan Item

	// Owned by the goroutine calling Next.
	eop       []bool
	remaining int

	mu   sync.Mutex // guards shut and channel claims
	shut bool

	pushMu   sync.RWMutex // held shared while pushing into queue
	pushShut bool

	closed    chan struct{}
	closeOnce sync.Once

	failed   chan struct{}
	failOnce sync.Once
	failErr  error

	wg sync.WaitGroup // goroutines serving remote channels of this gate
}

// inputChannel is the consumer end of one channel.
type inputChannel struct {
	gate *Gate
	idx  int
	id   ChannelID

	claimed bool        // guarded by gate.mu
	local   atomic.Bool // set at claim, before any item is pushed
	conn    net.Conn    // remote only; guarded by gate.mu

	// Local: one token per buffer the consumer holds.
	localCredits chan struct{}

	// Remote.
	avail   atomic.Int32  // credits the producer may still use
	pending atomic.Int32  // released credits not yet sent back
	notify  chan struct{} // wakes the credit writer (cap 1)
	eop     atomic.Bool   // END_OF_PARTITION received
	done    chan struct{} // closed when the reader exits
	werr    atomic.Pointer[error]
}

// NewGate registers the input channels ids (typically one per producing
// subtask) and returns the Gate delivering their data. Producers may
// connect before or after this call (see Config.RegisterTimeout). Safe for
// concurrent use.
func (e *Exchange) NewGate(ids []ChannelID) (*Gate, error) {
	if len(ids) == 0 {
		return nil, errors.New("new gate: no channels")
	}
	credits := e.cfg.Credits
	g := &Gate{
		ex:        e,
		ids:       append([]ChannelID(nil), ids...),
		chans:     make([]*inputChannel, len(ids)),
		queue:     make(chan Item, len(ids)*(credits+1)+16),
		eop:       make([]bool, len(ids)),
		remaining: len(ids),
		closed:    make(chan struct{}),
		failed:    make(chan struct{}),
	}
	for i, id := range ids {
		if err := id.validate(); err != nil {
			return nil, fmt.Errorf("new gate: %w", err)
		}
		ch := &inputChannel{
			gate:         g,
			idx:          i,
			id:           id,
			localCredits: make(chan struct{}, credits),
			notify:       make(chan struct{}, 1),
			done:         make(chan struct{}),
		}
		ch.avail.Store(int32(credits))
		g.chans[i] = ch
	}
	if err := e.register(g); err != nil {
		return nil, fmt.Errorf("new gate: %w", err)
	}
	return g, nil
}

// IDs returns the channels of the gate, in Item.Channel order. The slice
// must not be modified. Safe for concurrent use.
func (g *Gate) IDs() []ChannelID { return g.ids }

// Next returns the next buffer or event from any channel, blocking until
// one is available. Each channel's END_OF_PARTITION is returned as an
// event item; after all channels delivered it, Next returns io.EOF. A
// broken channel (producer died, protocol error) makes Next return that
// error, wrapped with the channel id, from then on. After Close it returns
// ErrClosed. Next must not be called concurrently with itself.
func (g *Gate) Next(ctx context.Context) (Item, error) {
	if g.remaining == 0 {
		return Item{}, io.EOF
	}
	select {
	case <-g.failed:
		return Item{}, g.failErr
	case <-g.closed:
		return Item{}, fmt.Errorf("gate next: %w", ErrClosed)
	default:
	}
	var it Item
	select {
	case it = <-g.queue:
	default:
		select {
		case it = <-g.queue:
		case <-g.failed:
			return Item{}, g.failErr
		case <-g.closed:
			return Item{}, fmt.Errorf("gate next: %w", ErrClosed)
		case <-ctx.Done():
			return Item{}, ctx.Err()
		}
	}
	if it.Event != nil && it.Event.Kind == EventEndOfPartition && !g.eop[it.Channel] {
		g.eop[it.Channel] = true
		g.remaining--
	}
	return it, nil
}

// Release hands a buffer item back: its memory returns to the Exchange's
// pool (the caller must not touch it.Data afterwards) and its channel gets
// one credit back, allowing the producer to send another buffer. Events
// need no release (calling Release on them is a no-op). Safe for
// concurrent use, also after Close.
func (g *Gate) Release(it Item) {
	if it.Event != nil || it.Channel < 0 || it.Channel >= len(g.chans) {
		return
	}
	g.ex.m.unhold(it.held)
	g.ex.pool.put(it.Data)
	ch := g.chans[it.Channel]
	if ch.local.Load() {
		select {
		case <-ch.localCredits:
		default:
		}
		return
	}
	ch.avail.Add(1)
	ch.pending.Add(1)
	ch.wake()
}

// Close unregisters the channels, disconnects their producers (whose Send
// then fails), drops undelivered buffers and waits for the gate's
// goroutines. Items already returned by Next may still be released.
// Idempotent; safe for concurrent use.
func (g *Gate) Close() error {
	g.closeOnce.Do(func() {
		close(g.closed)
		g.mu.Lock()
		g.shut = true
		for _, ch := range g.chans {
			// A channel that delivered END_OF_PARTITION is complete: let its
			// goroutines send END_ACK and see the producer close (bounded by
			// AckTimeout), or the producer's Finish would fail.
			if ch.conn != nil && !ch.eop.Load() {
				ch.conn.Close()
			}
		}
		g.mu.Unlock()
		g.pushMu.Lock() // wait for pushers to observe closed
		g.pushShut = true
		g.pushMu.Unlock()
		g.ex.unregister(g)
		g.wg.Wait()
		for {
			select {
			case it := <-g.queue:
				if it.Event == nil {
					g.ex.m.unhold(it.held)
					g.ex.pool.put(it.Data)
				}
			default:
				return
			}
		}
	})
	return nil
}

func (g *Gate) isClosed() bool {
	select {
	case <-g.closed:
		return true
	default:
		return false
	}
}

// fail makes Next return err from now on (first error wins).
func (g *Gate) fail(err error) {
	g.failOnce.Do(func() {
		g.failErr = err
		close(g.failed)
	})
}

var errCancelled = errors.New("cancelled")

// push appends it to the queue. It returns ErrClosed if the gate is
// closed and errCancelled if cancel1 or cancel2 fires first.
func (g *Gate) push(it Item, cancel1, cancel2 <-chan struct{}) error {
	g.pushMu.RLock()
	defer g.pushMu.RUnlock()
	if g.pushShut {
		return ErrClosed
	}
	select {
	case g.queue <- it:
		return nil
	default:
	}
	select {
	case g.queue <- it:
		return nil
	case <-g.closed:
		return ErrClosed
	case <-cancel1:
		return errCancelled
	case <-cancel2:
		return errCancelled
	}
}

// claim binds the channel to its single producer.
func (ch *inputChannel) claim(local bool, conn net.Conn) error {
	g := ch.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut {
		return fmt.Errorf("channel %v: gate %w", ch.id, ErrClosed)
	}
	if ch.claimed {
		return fmt.Errorf("channel %v already connected", ch.id)
	}
	ch.claimed = true
	ch.local.Store(local)
	if !local {
		ch.conn = conn
		g.wg.Add(2) // reader and credit writer
	}
	return nil
}

func (ch *inputChannel) wake() {
	select {
	case ch.notify <- struct{}{}:
	default:
	}
}
