package exchange

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// ChannelID names one logical channel: producer subtask From sends to
// consumer subtask To on edge Edge of job attempt (Job, Attempt). All
// integers must be in [0, 2^32) and Job at most 1024 bytes.
type ChannelID struct {
	Job     string
	Attempt int
	Edge    int
	From    int
	To      int
}

func (id ChannelID) String() string {
	return fmt.Sprintf("%s#%d/e%d/%d->%d", id.Job, id.Attempt, id.Edge, id.From, id.To)
}

// Config configures an Exchange. Zero fields take the documented defaults.
// Producer and consumer processes should use the same BufferSize; a
// producer never sends buffers larger than the consumer's BufferSize.
type Config struct {
	ListenAddr    string // default "127.0.0.1:0"
	AdvertiseAddr string // address producers dial; default the listener's address
	Token         string // shared secret checked in HELLO; "" disables auth
	BufferSize    int    // max bytes per buffer, default 32 KiB
	Credits       int    // consumer buffers per input channel, default 4
	QueueLen      int    // producer-side queued buffers per remote output, default 2

	ConnectTimeout   time.Duration // TCP dial, default 5s
	HandshakeTimeout time.Duration // HELLO exchange I/O, default 5s
	RegisterTimeout  time.Duration // consumer waits this long for NewGate to register a channel named in HELLO, default 10s
	AckTimeout       time.Duration // Finish waits this long for END_ACK after END_OF_PARTITION was written, default 10s

	Logger zerolog.Logger // zero value is silent
}

const (
	defaultBufferSize = 32 << 10
	ioBufferSize      = 64 << 10
)

func (c *Config) setDefaults() error {
	if c.ListenAddr == "" {
		c.ListenAddr = "127.0.0.1:0"
	}
	if c.BufferSize == 0 {
		c.BufferSize = defaultBufferSize
	}
	if c.Credits == 0 {
		c.Credits = 4
	}
	if c.QueueLen == 0 {
		c.QueueLen = 2
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 5 * time.Second
	}
	if c.RegisterTimeout == 0 {
		c.RegisterTimeout = 10 * time.Second
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 10 * time.Second
	}
	switch {
	case c.BufferSize < 0 || c.BufferSize > maxBufferSize:
		return fmt.Errorf("buffer size %d out of range (0, %d]", c.BufferSize, maxBufferSize)
	case c.Credits < 0 || c.Credits > 1<<16:
		return fmt.Errorf("credits %d out of range (0, 65536]", c.Credits)
	case c.QueueLen < 0 || c.QueueLen > 1<<16:
		return fmt.Errorf("queue length %d out of range (0, 65536]", c.QueueLen)
	case len(c.Token) > maxTokenLen:
		return fmt.Errorf("token longer than %d bytes", maxTokenLen)
	case c.ConnectTimeout < 0 || c.HandshakeTimeout < 0 || c.RegisterTimeout < 0 || c.AckTimeout < 0:
		return errors.New("negative timeout")
	}
	return nil
}

// ErrClosed is returned (wrapped) by operations on a closed Exchange, Gate
// or Output.
var ErrClosed = errors.New("exchange: closed")

// ErrRefused is returned (wrapped, with the consumer's reason) by Connect
// when the consumer rejects the handshake: wrong token, unsupported
// version, channel not registered in time or already connected.
var ErrRefused = errors.New("exchange: connection refused by consumer")

// Exchange is the data plane endpoint of one executor process. All methods
// are safe for concurrent use.
type Exchange struct {
	cfg  Config
	log  zerolog.Logger
	ln   net.Listener
	addr string
	pool *bufferPool
	m    counters

	mu       sync.Mutex
	closed   bool
	channels map[ChannelID]*inputChannel // registered input channels
	regCh    chan struct{}               // closed and replaced on registration
	gates    map[*Gate]struct{}
	outputs  map[*Output]struct{}
	conns    map[net.Conn]struct{} // accepted, still served by serveConn

	done     chan struct{}      // closed by Close
	doneCtx  context.Context    // cancelled by Close
	cancelFn context.CancelFunc // cancels doneCtx
	wg       sync.WaitGroup
}

// New validates cfg, starts listening on cfg.ListenAddr and returns the
// Exchange. Call Close to stop it.
func New(cfg Config) (*Exchange, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("exchange config: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("exchange listen %s: %w", cfg.ListenAddr, err)
	}
	e := &Exchange{
		cfg:      cfg,
		log:      cfg.Logger.With().Str("component", "exchange").Logger(),
		ln:       ln,
		addr:     cfg.AdvertiseAddr,
		pool:     newBufferPool(cfg.BufferSize),
		channels: make(map[ChannelID]*inputChannel),
		regCh:    make(chan struct{}),
		gates:    make(map[*Gate]struct{}),
		outputs:  make(map[*Output]struct{}),
		conns:    make(map[net.Conn]struct{}),
		done:     make(chan struct{}),
	}
	if e.addr == "" {
		e.addr = ln.Addr().String()
	}
	e.doneCtx, e.cancelFn = context.WithCancel(context.Background())
	e.wg.Add(1)
	go e.acceptLoop()
	return e, nil
}

// Addr returns the address producers should pass to Connect to reach this
// Exchange. Safe for concurrent use.
func (e *Exchange) Addr() string { return e.addr }

// Metrics returns a snapshot of the counters. Safe for concurrent use.
func (e *Exchange) Metrics() Metrics { return e.m.snapshot() }

// GetBuffer returns a pooled buffer with len 0 and cap BufferSize for the
// caller to fill and pass to Output.Send. Safe for concurrent use.
func (e *Exchange) GetBuffer() []byte { return e.pool.get() }

// Close stops listening, aborts every open Output, closes every Gate and
// waits for all goroutines of the Exchange to exit. Idempotent; safe for
// concurrent use.
func (e *Exchange) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.wg.Wait()
		return nil
	}
	e.closed = true
	close(e.done)
	e.cancelFn()
	gates := make([]*Gate, 0, len(e.gates))
	for g := range e.gates {
		gates = append(gates, g)
	}
	outputs := make([]*Output, 0, len(e.outputs))
	for o := range e.outputs {
		outputs = append(outputs, o)
	}
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()

	err := e.ln.Close()
	for _, o := range outputs {
		o.Close()
	}
	for _, g := range gates {
		g.Close()
	}
	e.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("exchange close listener: %w", err)
	}
	return nil
}

func (e *Exchange) acceptLoop() {
	defer e.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		conn, err := e.ln.Accept()
		if err != nil {
			select {
			case <-e.done:
				return
			default:
			}
			if !errors.Is(err, net.ErrClosed) {
				// Transient (e.g. EMFILE): back off and retry.
				e.log.Warn().Err(err).Msg("accept failed")
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-e.done:
					t.Stop()
					return
				}
				backoff = min(2*backoff, time.Second)
				continue
			}
			return
		}
		backoff = 5 * time.Millisecond
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			conn.Close()
			return
		}
		e.conns[conn] = struct{}{}
		e.wg.Add(1)
		e.mu.Unlock()
		go e.serveConn(conn)
	}
}

func (e *Exchange) untrackConn(c net.Conn) {
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
}

// register adds the channels of g to the registry, atomically.
func (e *Exchange) register(g *Gate) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	for i, ch := range g.chans {
		if _, dup := e.channels[ch.id]; dup {
			return fmt.Errorf("channel %v already registered", ch.id)
		}
		for _, prev := range g.chans[:i] {
			if prev.id == ch.id {
				return fmt.Errorf("channel %v listed twice", ch.id)
			}
		}
	}
	for _, ch := range g.chans {
		e.channels[ch.id] = ch
	}
	e.gates[g] = struct{}{}
	close(e.regCh)
	e.regCh = make(chan struct{})
	return nil
}

func (e *Exchange) unregister(g *Gate) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ch := range g.chans {
		if e.channels[ch.id] == ch {
			delete(e.channels, ch.id)
		}
	}
	delete(e.gates, g)
}

// waitChannel returns the registered input channel id, waiting up to
// RegisterTimeout for a Gate to register it.
func (e *Exchange) waitChannel(ctx context.Context, id ChannelID) (*inputChannel, error) {
	var timer *time.Timer
	for {
		e.mu.Lock()
		ch, closed, wait := e.channels[id], e.closed, e.regCh
		e.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		if ch != nil {
			if timer != nil {
				timer.Stop()
			}
			return ch, nil
		}
		if timer == nil {
			timer = time.NewTimer(e.cfg.RegisterTimeout)
			defer timer.Stop()
		}
		select {
		case <-wait:
		case <-timer.C:
			return nil, fmt.Errorf("channel %v not registered within %v", id, e.cfg.RegisterTimeout)
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for channel %v registration: %w", id, ctx.Err())
		case <-e.done:
			return nil, ErrClosed
		}
	}
}

func (e *Exchange) addOutput(o *Output) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.outputs[o] = struct{}{}
	return nil
}

func (e *Exchange) removeOutput(o *Output) {
	e.mu.Lock()
	delete(e.outputs, o)
	e.mu.Unlock()
}
