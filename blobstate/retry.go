package blobstate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Retry bounds the retries of transient storage errors: timeouts, refused
// or reset connections, and HTTP 408, 429, 500, 502, 503 and 504. Waits grow
// exponentially from Backoff to MaxBackoff, each one jittered. The zero value
// uses the defaults.
type Retry struct {
	// Timeout is how long one operation may keep retrying: no attempt
	// starts later than this after the first; default 2m.
	Timeout time.Duration
	// Backoff is the first wait; default 100ms.
	Backoff time.Duration
	// MaxBackoff caps a wait; default 5s.
	MaxBackoff time.Duration
}

// Retry defaults.
const (
	DefaultRetryTimeout = 2 * time.Minute
	DefaultBackoff      = 100 * time.Millisecond
	DefaultMaxBackoff   = 5 * time.Second
)

func (r Retry) withDefaults() Retry {
	if r.Timeout <= 0 {
		r.Timeout = DefaultRetryTimeout
	}
	if r.Backoff <= 0 {
		r.Backoff = DefaultBackoff
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = DefaultMaxBackoff
	}
	if r.MaxBackoff < r.Backoff {
		r.MaxBackoff = r.Backoff
	}
	return r
}

// wait returns the jittered wait before retry number n (1, 2, ...): half
// the exponential step plus a random part of the other half, so that
// writers that failed together do not retry together.
func (r Retry) wait(n int) time.Duration {
	d := r.Backoff << min(n-1, 30)
	if d > r.MaxBackoff || d <= 0 {
		d = r.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// sdkOptions are the Azure SDK pipeline's per-request retry options for the
// same budget: the pipeline waits (2^try-1)*Backoff, capped at MaxBackoff,
// and gets as many tries as those waits take to add up to Timeout.
func (r Retry) sdkOptions() policy.RetryOptions {
	var total time.Duration
	n := int32(0)
	for total < r.Timeout && n < 100 {
		n++
		d := time.Duration(1<<min(n, 30)-1) * r.Backoff
		if d > r.MaxBackoff || d <= 0 {
			d = r.MaxBackoff
		}
		total += d
	}
	return policy.RetryOptions{MaxRetries: n, RetryDelay: r.Backoff, MaxRetryDelay: r.MaxBackoff}
}

// noSDKRetries turns the SDK pipeline's retries off for one call, for
// operations that retry as a whole in (*Bucket).retrying.
func noSDKRetries(ctx context.Context) context.Context {
	return policy.WithRetryOptions(ctx, policy.RetryOptions{MaxRetries: -1})
}

// retrying runs op until it succeeds, fails with an error that is not
// transient, or the retry budget is spent: no attempt starts later than
// Timeout after the first (an attempt that is moving data is not cut short;
// the transport bounds one that hangs). op learns whether an earlier
// attempt failed in a way that may have left its effect behind (ambiguous),
// which write-once operations need to tell their own earlier write from
// someone else's. The error names what was being done and, after retries,
// how many attempts were made.
func (b *Bucket) retrying(ctx context.Context, what string, op func(ctx context.Context, ambiguous bool) error) error {
	if b.kind == kindAzure {
		ctx = noSDKRetries(ctx)
	}
	start := time.Now()
	deadline := start.Add(b.retry.Timeout)
	ambiguous := false
	for attempt := 1; ; attempt++ {
		err := op(ctx, ambiguous)
		if err == nil {
			return nil
		}
		err = concise(err)
		if !Transient(err) || ctx.Err() != nil {
			if attempt > 1 {
				return fmt.Errorf("%s in %s: %d attempts in %s: %w", what, b.name, attempt, time.Since(start).Round(time.Millisecond), err)
			}
			return fmt.Errorf("%s in %s: %w", what, b.name, err)
		}
		ambiguous = true
		wait := b.retry.wait(attempt)
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("%s in %s: gave up after %d attempts in %s: %w", what, b.name, attempt, time.Since(start).Round(time.Millisecond), err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s in %s: %d attempts in %s: %w", what, b.name, attempt, time.Since(start).Round(time.Millisecond), ctx.Err())
		case <-t.C:
		}
	}
}

// Transient reports whether err is worth retrying: a timeout, a refused,
// reset or cut connection, or an HTTP status that means "later" (408, 429,
// 500, 502, 503, 504). Operators that stream through *blob.Bucket can use
// it to resume a read cut in the middle of a body, which the Azure SDK's
// pipeline does not retry.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrExists) {
		return false
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	// certificates and unknown hosts do not fix themselves
	var (
		dnsErr  *net.DNSError
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		host    x509.HostnameError
		verify  *tls.CertificateVerificationError
	)
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) || errors.As(err, &verify) ||
		(errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ETIMEDOUT) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	var ue *url.Error
	return errors.As(err, &oe) || errors.As(err, &ue) // transport failures: EOF, closed connections
}

// conciseError replaces the Azure SDK's multi-line description of an HTTP
// error with its status and error code; the caller's message already names
// the object.
type conciseError struct {
	msg string
	err error
}

func (e *conciseError) Error() string { return e.msg }
func (e *conciseError) Unwrap() error { return e.err }

func concise(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return &conciseError{msg: fmt.Sprintf("HTTP %d %s", re.StatusCode, re.ErrorCode), err: err}
	}
	return err
}
