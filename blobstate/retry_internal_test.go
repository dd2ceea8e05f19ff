package blobstate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

func TestTransient(t *testing.T) {
	status := func(code int) error {
		return &azcore.ResponseError{StatusCode: code, ErrorCode: http.StatusText(code)}
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{status(503), true},
		{status(429), true},
		{status(500), true},
		{status(408), true},
		{fmt.Errorf("put k: %w", status(502)), true},
		{status(404), false},
		{status(409), false},
		{status(403), false},
		{&url.Error{Op: "Put", URL: "u", Err: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, true},
		{&url.Error{Op: "Put", URL: "u", Err: io.EOF}, true},
		{syscall.ECONNRESET, true},
		{io.ErrUnexpectedEOF, true},
		{context.DeadlineExceeded, true},
		{context.Canceled, false},
		{&url.Error{Op: "Get", URL: "u", Err: &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}}, false},
		{ErrExists, false},
		{fs.ErrNotExist, false},
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOSPC}, false},
		{errors.New("something else"), false},
	} {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestRetryWaitsAndBudget(t *testing.T) {
	r := Retry{}.withDefaults()
	if r.Timeout != DefaultRetryTimeout || r.Backoff != DefaultBackoff || r.MaxBackoff != DefaultMaxBackoff {
		t.Fatalf("defaults: %+v", r)
	}
	for n := 1; n <= 40; n++ {
		step := min(r.Backoff<<min(n-1, 30), r.MaxBackoff)
		for range 20 {
			if w := r.wait(n); w < step/2 || w > step {
				t.Fatalf("wait(%d) = %s, want in [%s, %s]", n, w, step/2, step)
			}
		}
	}
	o := r.sdkOptions()
	var total time.Duration
	for try := int32(1); try <= o.MaxRetries; try++ {
		total += min(time.Duration(1<<try-1)*o.RetryDelay, o.MaxRetryDelay)
	}
	if total < r.Timeout || total > r.Timeout+o.MaxRetryDelay {
		t.Fatalf("SDK retries %d wait %s in all, want about %s", o.MaxRetries, total, r.Timeout)
	}
}
