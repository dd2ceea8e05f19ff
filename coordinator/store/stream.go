package store

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"
)

// tcpLayer is raft's StreamLayer over a listener we opened ourselves, so
// that "127.0.0.1:0" works. With a token, every connection starts with a
// preamble (a magic and the token's SHA-256), written by the dialer and
// checked by the acceptor: a node takes raft traffic only from nodes that
// know the group's token.
type tcpLayer struct {
	ln    net.Listener
	adv   net.Addr
	token string
	log   zerolog.Logger

	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

const preambleMagic = "SLR1"

// preambleTimeout bounds how long an accepted connection may take to send
// its preamble.
const preambleTimeout = 5 * time.Second

var errLayerClosed = errors.New("raft stream layer closed")

func newTCPLayer(ln net.Listener, adv net.Addr, token string, log zerolog.Logger) *tcpLayer {
	t := &tcpLayer{ln: ln, adv: adv, token: token, log: log, conns: make(chan net.Conn), closed: make(chan struct{})}
	if token != "" {
		go t.acceptLoop()
	}
	return t
}

func (t *tcpLayer) preamble() []byte {
	sum := sha256.Sum256([]byte(t.token))
	return append([]byte(preambleMagic), sum[:]...)
}

// acceptLoop accepts connections and hands over those whose preamble is
// right; each is checked on a goroutine of its own, so that a slow peer
// holds up no one.
func (t *tcpLayer) acceptLoop() {
	want := t.preamble()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			t.Close()
			return
		}
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(preambleTimeout))
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil || subtle.ConstantTimeCompare(got, want) != 1 {
				t.log.Warn().Str("remote", c.RemoteAddr().String()).Msg("refused a raft connection without the group's token")
				c.Close()
				return
			}
			_ = c.SetReadDeadline(time.Time{})
			select {
			case t.conns <- c:
			case <-t.closed:
				c.Close()
			}
		}()
	}
}

func (t *tcpLayer) Accept() (net.Conn, error) {
	if t.token == "" {
		return t.ln.Accept()
	}
	select {
	case c := <-t.conns:
		return c, nil
	case <-t.closed:
		return nil, errLayerClosed
	}
}

func (t *tcpLayer) Close() error {
	var err error
	t.closeOnce.Do(func() {
		close(t.closed)
		err = t.ln.Close()
	})
	return err
}

func (t *tcpLayer) Addr() net.Addr { return t.adv }

func (t *tcpLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil || t.token == "" {
		return c, err
	}
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write(t.preamble()); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Time{})
	return c, nil
}
