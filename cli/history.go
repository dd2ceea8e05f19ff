package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluicehq/sluice/archive"
	"github.com/sluicehq/sluice/blobstate"
)

// historyCmd serves the archived jobs of a bucket: the API paths of the
// coordinator for ended jobs, and the web UI.
func historyCmd(ctx context.Context, o *Options, args []string) error {
	fs := newFlagSet("history", o)
	bucket := fs.String("bucket", envOr("SLUICE_BUCKET", ""), "bucket URL (or directory) whose archive/ to serve; default .sluice/bucket, sluice local's")
	addr := fs.String("addr", envOr("SLUICE_HISTORY_ADDR", "127.0.0.1:8082"), "HTTP listen address")
	logLevel := fs.String("log-level", "info", "log level")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *bucket == "" {
		*bucket = filepath.Join(".sluice", "bucket")
	}
	log := daemonLogger(o.Stderr, *logLevel)
	h, err := startHistory(ctx, *bucket, *addr, log, o.Stdout)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info().Msg("shutting down")
	return h.Close()
}

// historyServer is a running history server.
type historyServer struct {
	URL    string
	bucket *blobstate.Bucket
	srv    *http.Server
}

// startHistory opens the bucket and serves its archives on addr; an empty
// addr serves nothing (a nil server, which Close accepts). It prints the
// address to out.
func startHistory(ctx context.Context, bucketURL, addr string, log zerolog.Logger, out io.Writer) (*historyServer, error) {
	if addr == "" {
		return nil, nil
	}
	b, err := blobstate.OpenBucket(ctx, bucketURL, blobstate.Options{})
	if err != nil {
		return nil, err
	}
	s, err := archive.NewServer(archive.Config{Bucket: b, Logger: log})
	if err != nil {
		b.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("history server: listen on %s: %w", addr, err)
	}
	h := &historyServer{
		URL:    "http://" + ln.Addr().String(),
		bucket: b,
		srv:    &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second},
	}
	go func() { _ = h.srv.Serve(ln) }()
	log.Info().Str("component", "history").Str("addr", h.URL).Str("bucket", b.String()).Msg("history server up")
	fmt.Fprintf(out, "sluice history: %s serves the archive of %s\n", h.URL, b)
	return h, nil
}

// Close stops the server.
func (h *historyServer) Close() error {
	if h == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.srv.Shutdown(ctx)
	if cerr := h.bucket.Close(); err == nil {
		err = cerr
	}
	return err
}
