package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

// writeTestPKI writes a throwaway CA and a node certificate for 127.0.0.1
// (a server certificate, as for HTTPS) into dir.
func writeTestPKI(t *testing.T, dir string) (caFile, certFile, keyFile string, nodeDER []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sluice node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	nodeDER, err = x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("node.pem", "CERTIFICATE", nodeDER),
		write("node-key.pem", "EC PRIVATE KEY", keyDER), nodeDER
}

// TestTLSCoordinatorGroup starts three `sluice coordinator` nodes in this
// process with --tls-cert/--tls-key/--tls-ca: they serve HTTPS, form a raft
// group over TLS (every node sees the leader), and the raft port serves the
// node certificate.
func TestTLSCoordinatorGroup(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, nodeDER := writeTestPKI(t, dir)
	const token = "tls-test-token"
	var raftAddrs, httpAddrs, peers []string
	for i := 1; i <= 3; i++ {
		raftAddrs = append(raftAddrs, freeAddr(t, "127.0.0.1"))
		httpAddrs = append(httpAddrs, freeAddr(t, "127.0.0.1"))
		peers = append(peers, fmt.Sprintf("n%d=%s", i, raftAddrs[i-1]))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 3)
	t.Cleanup(func() {
		cancel()
		for i := 0; i < 3; i++ {
			if err := <-done; err != nil {
				t.Errorf("coordinator: %v", err)
			}
		}
	})
	for i := range raftAddrs {
		args := []string{
			"--id", fmt.Sprintf("n%d", i+1), "--data-dir", dir, "--addr", httpAddrs[i], "--raft", raftAddrs[i],
			"--peers", strings.Join(peers, ","), "--bucket", "file://" + filepath.ToSlash(filepath.Join(dir, "bucket")),
			"--token", token, "--tls-cert", certFile, "--tls-key", keyFile, "--tls-ca", caFile, "--log-level", "warn",
		}
		go func() {
			done <- coordinatorCmd(ctx, &Options{Registry: testRegistry(), Stdout: io.Discard, Stderr: io.Discard}, args)
		}()
	}

	hc, err := httpClientWithCA(caFile)
	if err != nil {
		t.Fatal(err)
	}
	for i, addr := range httpAddrs {
		cl := api.NewClient("https://"+addr, token)
		cl.HTTP = hc
		var last string
		for deadline := time.Now().Add(30 * time.Second); ; {
			c, err := cl.Cluster(ctx)
			if err == nil && c.Leader != "" && !c.Stale && len(c.Members) == 3 {
				break
			}
			last = fmt.Sprintf("%+v, %v", c, err)
			if time.Now().After(deadline) {
				t.Fatalf("node n%d sees no leader over TLS raft: %s", i+1, last)
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(50 * time.Millisecond): // polling the group's state
			}
		}
	}

	// the raft port speaks TLS with the node certificate
	pool, err := loadCAPool(caFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", raftAddrs[0], &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatalf("TLS handshake with the raft port: %v", err)
	}
	defer c.Close()
	if certs := c.ConnectionState().PeerCertificates; len(certs) == 0 || !bytes.Equal(certs[0].Raw, nodeDER) {
		t.Fatal("the raft port did not serve the --tls-cert certificate")
	}
}
