package cli

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sluicehq/sluice/coordinator/store"
)

// securityFlags are the auth token and TLS flags shared by the daemons and
// the client commands.
type securityFlags struct {
	token, tokenFile *string
	cert, key, ca    *string
}

func addSecurityFlags(fs *flag.FlagSet, server bool) *securityFlags {
	s := &securityFlags{
		token:     fs.String("token", os.Getenv("SLUICE_TOKEN"), "shared auth token (env SLUICE_TOKEN)"),
		tokenFile: fs.String("token-file", os.Getenv("SLUICE_TOKEN_FILE"), "file holding the auth token (env SLUICE_TOKEN_FILE)"),
		ca:        fs.String("tls-ca", os.Getenv("SLUICE_TLS_CA"), "CA certificate (PEM) to verify the coordinators and agents by, and coordinators their raft peers (env SLUICE_TLS_CA)"),
	}
	if server {
		s.cert = fs.String("tls-cert", os.Getenv("SLUICE_TLS_CERT"), "serve HTTPS with this certificate, and on coordinators encrypt raft traffic with it (PEM; env SLUICE_TLS_CERT)")
		s.key = fs.String("tls-key", os.Getenv("SLUICE_TLS_KEY"), "the certificate's key (PEM; env SLUICE_TLS_KEY)")
	}
	return s
}

// tokenValue returns the token from --token or --token-file.
func (s *securityFlags) tokenValue() (string, error) {
	if *s.token != "" {
		return *s.token, nil
	}
	if *s.tokenFile == "" {
		return "", nil
	}
	data, err := os.ReadFile(*s.tokenFile)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	t := strings.TrimSpace(string(data))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty", *s.tokenFile)
	}
	return t, nil
}

// tlsFiles returns the server certificate and key ("" for plain HTTP).
func (s *securityFlags) tlsFiles() (cert, key string, err error) {
	if s.cert == nil || (*s.cert == "" && *s.key == "") {
		return "", "", nil
	}
	if *s.cert == "" || *s.key == "" {
		return "", "", usageError{fmt.Errorf("--tls-cert and --tls-key go together")}
	}
	return *s.cert, *s.key, nil
}

func (s *securityFlags) scheme() string {
	if s.cert != nil && *s.cert != "" {
		return "https"
	}
	return "http"
}

// httpClient returns the client for calls to coordinators and agents.
func (s *securityFlags) httpClient() (*http.Client, error) {
	return httpClientWithCA(*s.ca)
}

// raftTLS returns the TLS config for the node's raft traffic: its
// certificate and key from --tls-cert/--tls-key, peers verified against
// --tls-ca (the system pool without it); nil without a certificate (plain
// TCP).
func (s *securityFlags) raftTLS() (*store.TLSConfig, error) {
	certFile, keyFile, err := s.tlsFiles()
	if err != nil || certFile == "" {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load the TLS certificate for raft: %w", err)
	}
	pool, err := loadCAPool(*s.ca)
	if err != nil {
		return nil, err
	}
	return &store.TLSConfig{Cert: cert, CAs: pool}, nil
}

// loadCAPool reads a PEM CA file; nil for "" (the system pool).
func loadCAPool(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("TLS CA %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

func httpClientWithCA(caFile string) (*http.Client, error) {
	c := &http.Client{Timeout: 75 * time.Second}
	pool, err := loadCAPool(caFile)
	if err != nil || pool == nil {
		return c, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	c.Transport = tr
	return c, nil
}
