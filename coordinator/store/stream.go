package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"
)

// TLSConfig encrypts raft traffic between the nodes of a group. Every node
// serves its certificate on its raft listener and presents it when it
// dials a peer; both ends verify the other against CAs. A dialer checks the
// certificate against the host of the peer's raft address, so node
// certificates must carry the nodes' raft hosts or IPs as SANs (the same
// names the HTTPS API is reached by, as a rule). An acceptor checks only
// that the dialer's certificate chains to CAs (any extended key usage, so a
// server certificate will do): which node it is, the raft messages say.
type TLSConfig struct {
	// Cert is this node's certificate with its key.
	Cert tls.Certificate
	// CAs verifies the peers' certificates; nil uses the system pool.
	CAs *x509.CertPool
}

// tcpLayer is raft's StreamLayer over a listener we opened ourselves, so
// that "127.0.0.1:0" works. With TLS, connections are TLS in both
// directions (see TLSConfig). With a token, every connection starts with a
// preamble (a magic and the token's SHA-256), written by the dialer and
// checked by the acceptor, inside TLS when there is TLS: a node takes raft
// traffic only from nodes that know the group's token.
//
// Accepted connections are admitted (TLS handshake, preamble) each on a
// goroutine of its own and within admitTimeout, so that a slow or hostile
// peer holds up no one.
type tcpLayer struct {
	ln  net.Listener
	adv net.Addr
	cfg layerConfig

	serverTLS *tls.Config // nil without TLS

	conns     chan net.Conn
	ctx       context.Context // done once the layer is closed
	cancel    context.CancelFunc
	closeOnce sync.Once
}

// layerConfig configures a tcpLayer.
type layerConfig struct {
	token string
	tls   *TLSConfig // nil: plain TCP
	// admitTimeout bounds an accepted connection's TLS handshake and
	// preamble together; zero means defaultAdmitTimeout.
	admitTimeout time.Duration
	log          zerolog.Logger
}

const preambleMagic = "SLR1"

// defaultAdmitTimeout bounds how long an accepted connection may take to
// complete its TLS handshake and send its preamble, and a dial's handshake
// when raft gives no timeout.
const defaultAdmitTimeout = 5 * time.Second

var errLayerClosed = errors.New("raft stream layer closed")

func newTCPLayer(ln net.Listener, adv net.Addr, cfg layerConfig) *tcpLayer {
	if cfg.admitTimeout <= 0 {
		cfg.admitTimeout = defaultAdmitTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &tcpLayer{ln: ln, adv: adv, cfg: cfg, conns: make(chan net.Conn), ctx: ctx, cancel: cancel}
	if cfg.tls != nil {
		t.serverTLS = &tls.Config{
			Certificates: []tls.Certificate{cfg.tls.Cert},
			// verified in VerifyConnection, with any extended key usage
			ClientAuth:       tls.RequireAnyClientCert,
			VerifyConnection: verifyPeerChain(cfg.tls.CAs),
			MinVersion:       tls.VersionTLS13,
		}
	}
	if t.admits() {
		go t.acceptLoop()
	}
	return t
}

// admits reports whether accepted connections go through admit rather than
// straight to raft.
func (t *tcpLayer) admits() bool { return t.cfg.token != "" || t.cfg.tls != nil }

// clientTLS is the dialer's TLS config for a peer at host.
func (t *tcpLayer) clientTLS(host string) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{t.cfg.tls.Cert},
		RootCAs:      t.cfg.tls.CAs,
		ServerName:   host,
		MinVersion:   tls.VersionTLS13,
	}
}

// verifyPeerChain checks that a dialing peer's certificate chains to cas
// (the system pool when nil).
func verifyPeerChain(cas *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the raft peer presented no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots: cas, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			return fmt.Errorf("verify the raft peer's certificate: %w", err)
		}
		return nil
	}
}

func (t *tcpLayer) preamble() []byte {
	sum := sha256.Sum256([]byte(t.cfg.token))
	return append([]byte(preambleMagic), sum[:]...)
}

// acceptLoop accepts connections and hands over those admit lets in.
func (t *tcpLayer) acceptLoop() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			t.Close()
			return
		}
		go t.admit(c)
	}
}

// admit runs the TLS handshake and checks the preamble of an accepted
// connection, within admitTimeout, and hands it to Accept.
func (t *tcpLayer) admit(raw net.Conn) {
	// closing the layer drops connections still being admitted
	stop := context.AfterFunc(t.ctx, func() { raw.Close() })
	defer stop()
	remote := raw.RemoteAddr().String()
	_ = raw.SetDeadline(time.Now().Add(t.cfg.admitTimeout))
	var c net.Conn = raw
	if t.serverTLS != nil {
		tc := tls.Server(raw, t.serverTLS)
		if err := tc.Handshake(); err != nil {
			t.cfg.log.Warn().Str("remote", remote).Err(err).Msg("refused a raft connection: TLS handshake failed")
			raw.Close()
			return
		}
		c = tc
	}
	if t.cfg.token != "" {
		want := t.preamble()
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil || subtle.ConstantTimeCompare(got, want) != 1 {
			t.cfg.log.Warn().Str("remote", remote).Msg("refused a raft connection without the group's token")
			c.Close()
			return
		}
	}
	_ = raw.SetDeadline(time.Time{})
	select {
	case t.conns <- c:
	case <-t.ctx.Done():
		c.Close()
	}
}

func (t *tcpLayer) Accept() (net.Conn, error) {
	if !t.admits() {
		return t.ln.Accept()
	}
	select {
	case c := <-t.conns:
		return c, nil
	case <-t.ctx.Done():
		return nil, errLayerClosed
	}
}

func (t *tcpLayer) Close() error {
	var err error
	t.closeOnce.Do(func() {
		t.cancel()
		err = t.ln.Close()
	})
	return err
}

func (t *tcpLayer) Addr() net.Addr { return t.adv }

// Dial connects to a peer: TLS handshake (verifying the peer's certificate
// against the host of addr) and preamble, within timeout.
func (t *tcpLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = defaultAdmitTimeout
	}
	raw, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, fmt.Errorf("dial raft peer %s: %w", addr, err)
	}
	if !t.admits() {
		return raw, nil
	}
	_ = raw.SetDeadline(time.Now().Add(timeout))
	var c net.Conn = raw
	if t.cfg.tls != nil {
		host, _, err := net.SplitHostPort(string(addr))
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("raft peer address %q: %w", addr, err)
		}
		tc := tls.Client(raw, t.clientTLS(host))
		if err := tc.Handshake(); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS handshake with raft peer %s: %w", addr, err)
		}
		c = tc
	}
	if t.cfg.token != "" {
		if _, err := c.Write(t.preamble()); err != nil {
			c.Close()
			return nil, fmt.Errorf("send the preamble to raft peer %s: %w", addr, err)
		}
	}
	_ = raw.SetDeadline(time.Time{})
	return c, nil
}
