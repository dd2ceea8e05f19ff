package store

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"
)

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sluice test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// node issues a node certificate for 127.0.0.1, a server certificate as
// for HTTPS (no client auth usage).
func (ca *testCA) node(t *testing.T) *TLSConfig {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "sluice node"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &TLSConfig{Cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, CAs: ca.pool}
}

// logBuf collects a logger's output.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuf) logger() zerolog.Logger { return zerolog.New(l) }

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(timeout); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// wireTap is a TCP proxy that records every byte it forwards, one
// recording per connection and direction.
type wireTap struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	streams []*bytes.Buffer
	conns   []net.Conn
}

func newWireTap(t *testing.T, target string) *wireTap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wireTap{ln: ln, target: target}
	go w.serve()
	t.Cleanup(w.close)
	return w
}

func (w *wireTap) addr() string { return w.ln.Addr().String() }

func (w *wireTap) serve() {
	for {
		in, err := w.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", w.target)
		if err != nil {
			in.Close()
			continue
		}
		up, down := &bytes.Buffer{}, &bytes.Buffer{}
		w.mu.Lock()
		w.streams = append(w.streams, up, down)
		w.conns = append(w.conns, in, out)
		w.mu.Unlock()
		go w.pipe(out, in, up)
		go w.pipe(in, out, down)
	}
}

// pipe copies src to dst, recording into rec.
func (w *wireTap) pipe(dst, src net.Conn, rec *bytes.Buffer) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			w.mu.Lock()
			rec.Write(buf[:n])
			w.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

// recorded returns copies of the streams recorded so far.
func (w *wireTap) recorded() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([][]byte, 0, len(w.streams))
	for _, s := range w.streams {
		out = append(out, bytes.Clone(s.Bytes()))
	}
	return out
}

func (w *wireTap) close() {
	w.ln.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.conns {
		c.Close()
	}
}

// openGroup starts a bootstrapped group, one node per config (NodeID,
// BindAddr and Peers set by the caller), and closes it with the test.
func openGroup(t *testing.T, cfgs []Config) []*Store {
	t.Helper()
	stores := make([]*Store, len(cfgs))
	for i, cfg := range cfgs {
		cfg.Dir = t.TempDir()
		cfg.Bootstrap = true
		s, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
		t.Cleanup(func() { s.Close() })
	}
	return stores
}

// waitLeader returns the index of the leader among stores[:n].
func waitLeader(t *testing.T, stores []*Store, n int) int {
	t.Helper()
	l := -1
	waitFor(t, 20*time.Second, "a leader", func() bool {
		for i, s := range stores[:n] {
			if s.IsLeader() {
				l = i
				return true
			}
		}
		return false
	})
	return l
}

// markedJob is a job whose ID shows up in the raft log entry that carries
// it: on the wire unless the wire is encrypted.
func markedJob(marker string) *Job {
	j := testJob()
	j.ID = marker
	return j
}

// TestTLSGroupReplicatesEncrypted runs a three-node group whose raft
// traffic all passes through recording proxies (each node advertises its
// proxy's address), elects a leader and replicates a job to every node.
// In plain TCP the job's ID and the token preamble are on the wire (the
// recordings would see plaintext); over TLS neither is, and every
// connection opens with a TLS handshake record. Stalled connections to
// every node from the start do not hold up the election.
func TestTLSGroupReplicatesEncrypted(t *testing.T) {
	const token = "secret"
	ca := newTestCA(t)
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", encrypted), func(t *testing.T) {
			var peers []Peer
			var binds []string
			var taps []*wireTap
			for i := 1; i <= 3; i++ {
				bind := freePort(t)
				tap := newWireTap(t, bind)
				binds = append(binds, bind)
				taps = append(taps, tap)
				peers = append(peers, Peer{ID: fmt.Sprintf("n%d", i), Addr: tap.addr()})
			}
			var cfgs []Config
			for i, p := range peers {
				cfg := Config{NodeID: p.ID, BindAddr: binds[i], AdvertiseAddr: p.Addr, Peers: peers, Token: token}
				if encrypted {
					cfg.TLS = ca.node(t)
				}
				cfgs = append(cfgs, cfg)
			}
			stores := openGroup(t, cfgs)
			for _, b := range binds { // peers that never complete a handshake
				c, err := net.Dial("tcp", b)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
			}
			l := waitLeader(t, stores, 3)
			marker := fmt.Sprintf("wire-marker-%d", time.Now().UnixNano())
			if _, err := stores[l].Apply(Command{Submit: &SubmitCmd{Job: markedJob(marker)}}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 20*time.Second, "the job on every node", func() bool {
				for _, s := range stores {
					if _, ok := s.Job(marker); !ok {
						return false
					}
				}
				return true
			})

			var all [][]byte
			for _, tap := range taps {
				all = append(all, tap.recorded()...)
			}
			pre := (&tcpLayer{cfg: layerConfig{token: token}}).preamble()
			var sawMarker, sawPreamble bool
			total := 0
			for i, s := range all {
				total += len(s)
				sawMarker = sawMarker || bytes.Contains(s, []byte(marker))
				sawPreamble = sawPreamble || bytes.Contains(s, pre)
				// client-to-server recordings are the even ones
				if encrypted && i%2 == 0 && len(s) > 0 && s[0] != 0x16 {
					t.Errorf("a raft connection opened with %#x, not a TLS handshake record", s[0])
				}
			}
			if total == 0 {
				t.Fatal("nothing recorded on the wire")
			}
			if encrypted && (sawMarker || sawPreamble) {
				t.Fatalf("plaintext on the wire over TLS: job ID %v, token preamble %v", sawMarker, sawPreamble)
			}
			if !encrypted && (!sawMarker || !sawPreamble) {
				t.Fatalf("the tap missed plaintext raft traffic (job ID %v, preamble %v): it proves nothing", sawMarker, sawPreamble)
			}
		})
	}
}

// TestTLSRefusesUntrustedPeers connects to a TLS node's raft port with the
// right token: in plain TCP, over TLS without a client certificate and
// over TLS with a certificate from another CA. Each is dropped, and a
// warning names it.
func TestTLSRefusesUntrustedPeers(t *testing.T) {
	const token = "secret"
	ca := newTestCA(t)
	var logs logBuf
	addr := freePort(t)
	s, err := Open(Config{Dir: t.TempDir(), BindAddr: addr, Bootstrap: true, Token: token, TLS: ca.node(t), Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pre := (&tcpLayer{cfg: layerConfig{token: token}}).preamble()

	refused := func(t *testing.T, c net.Conn) {
		t.Helper()
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the connection was kept open")
		}
		// a TLS alert at most: never a raft answer
		if len(got) > 0 && got[0] != 0x15 {
			t.Fatalf("served %q", got)
		}
		local := c.LocalAddr().String()
		waitFor(t, 10*time.Second, "a warning naming "+local, func() bool {
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, `"level":"warn"`) && strings.Contains(line, local) && strings.Contains(line, "refused a raft connection") {
					return true
				}
			}
			return false
		})
	}

	t.Run("plain TCP", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(pre); err != nil {
			t.Fatal(err)
		}
		refused(t, c)
	})
	other := newTestCA(t).node(t)
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
	}{
		{"TLS without a certificate", nil},
		{"TLS with a certificate from another CA", []tls.Certificate{other.Cert}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// the client trusts the node; TLS 1.3: it is done with the
			// handshake before the node has checked its certificate
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool, Certificates: tc.certs, MinVersion: tls.VersionTLS13})
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.Write(pre)
			raw := c.NetConn()
			defer raw.Close()
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.ReadAll(c)
			var ne net.Error
			if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
				t.Fatalf("the peer was served (read: %v)", err)
			}
			local := raw.LocalAddr().String()
			waitFor(t, 10*time.Second, "a warning naming "+local, func() bool {
				return strings.Contains(logs.String(), local)
			})
		})
	}
}

// TestTLSGroupShutsOutMisconfiguredNode bootstraps three nodes of which the
// third has no TLS, or a certificate from another CA: the other two elect
// a leader and commit a job, the third refuses their connections (and they
// its) and never gets the job.
func TestTLSGroupShutsOutMisconfiguredNode(t *testing.T) {
	ca := newTestCA(t)
	for _, tc := range []struct {
		name string
		tls  func(t *testing.T) *TLSConfig
	}{
		{"without TLS", func(*testing.T) *TLSConfig { return nil }},
		{"another CA", func(t *testing.T) *TLSConfig { return newTestCA(t).node(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var peers []Peer
			for i := 1; i <= 3; i++ {
				peers = append(peers, Peer{ID: fmt.Sprintf("n%d", i), Addr: freePort(t)})
			}
			var odd logBuf
			var cfgs []Config
			for i, p := range peers {
				cfg := Config{NodeID: p.ID, BindAddr: p.Addr, Peers: peers, Token: "secret", TLS: ca.node(t)}
				if i == 2 {
					cfg.TLS = tc.tls(t)
					cfg.Logger = odd.logger()
				}
				cfgs = append(cfgs, cfg)
			}
			stores := openGroup(t, cfgs)
			l := waitLeader(t, stores, 2)
			if _, err := stores[l].Apply(Command{Submit: &SubmitCmd{Job: testJob()}}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 20*time.Second, "the job on the two good nodes", func() bool {
				_, ok0 := stores[0].Job("j1")
				_, ok1 := stores[1].Job("j1")
				return ok0 && ok1
			})
			// the leader keeps trying the third node; it is refused
			waitFor(t, 20*time.Second, "the odd node to refuse a connection", func() bool {
				return strings.Contains(odd.String(), "refused a raft connection")
			})
			if _, ok := stores[2].Job("j1"); ok {
				t.Fatal("the misconfigured node got the job")
			}
			if stores[2].IsLeader() {
				t.Fatal("the misconfigured node leads")
			}
		})
	}
}

// TestTLSAcceptNotBlockedByStalledHandshake opens connections that never
// finish their TLS handshake (one silent, one stopping inside a record)
// and then a good one: the good one is accepted while the others are
// still pending; those are dropped after the admit timeout, with a warning.
func TestTLSAcceptNotBlockedByStalledHandshake(t *testing.T) {
	ca := newTestCA(t)
	var logs logBuf
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	ln := listen()
	srv := newTCPLayer(ln, ln.Addr(), layerConfig{token: "secret", tls: ca.node(t), admitTimeout: 2 * time.Second, log: logs.logger()})
	defer srv.Close()
	cln := listen()
	cli := newTCPLayer(cln, cln.Addr(), layerConfig{token: "secret", tls: ca.node(t)})
	defer cli.Close()

	var stalled []net.Conn
	for _, opening := range [][]byte{nil, {0x16, 0x03, 0x01, 0x01, 0x00, 0x01}} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(opening); err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, c)
	}

	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := srv.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	good, err := cli.Dial(raft.ServerAddress(srv.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	var in net.Conn
	select {
	case in = <-accepted:
		defer in.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the good connection was not accepted")
	}
	// the stalled ones are still being waited for
	for _, c := range stalled {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		var ne net.Error
		if _, err := c.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("a stalled connection was done with before the good one was accepted: %v", err)
		}
	}
	if _, err := good.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	_ = in.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(in, got); err != nil || string(got) != "ping" {
		t.Fatalf("read %q, %v", got, err)
	}
	for _, c := range stalled {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var ne net.Error
		if _, err := io.ReadAll(c); errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("a stalled connection was never dropped")
		}
		local := c.LocalAddr().String()
		waitFor(t, 10*time.Second, "a warning naming "+local, func() bool {
			return strings.Contains(logs.String(), local)
		})
	}
}
