package blobstate_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/blobstate/blobstatetest"
)

// faultProxy stands between a bucket and Azurite and injects faults into
// the requests that a rule picks.
type faultProxy struct {
	*httptest.Server
	mu    sync.Mutex
	rule  func(r *http.Request) fault
	count map[string]int // requests by method
}

type fault int

const (
	pass      fault = iota
	status503       // answer 503 ServerBusy without forwarding
	status500       // answer 500 without forwarding
	lostReply       // forward, then cut the connection instead of answering
)

func newFaultProxy(t *testing.T, endpoint string) *faultProxy {
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	target.Path = ""
	p := &faultProxy{count: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.count[r.Method]++
		f := pass
		if p.rule != nil {
			f = p.rule(r)
		}
		p.mu.Unlock()
		switch f {
		case status503:
			w.Header().Set("x-ms-error-code", "ServerBusy")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case status500:
			w.Header().Set("x-ms-error-code", "InternalError")
			http.Error(w, "internal error", http.StatusInternalServerError)
		case lostReply:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *faultProxy) setRule(rule func(r *http.Request) fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rule = rule
	p.count = map[string]int{}
}

func (p *faultProxy) requests(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count[method]
}

// openProxied opens a new Azurite container through a fault proxy.
func openProxied(t *testing.T, r blobstate.Retry) (*blobstate.Bucket, *faultProxy) {
	u := blobstatetest.NewContainer(t)
	p := newFaultProxy(t, blobstatetest.Endpoint(t))
	parsed, _ := url.Parse(u)
	q := parsed.Query()
	q.Set("domain", strings.TrimPrefix(p.URL, "http://"))
	parsed.RawQuery = q.Encode()
	b, err := blobstate.OpenBucket(context.Background(), parsed.String(), blobstate.Options{Getenv: blobstatetest.Getenv, Retry: r})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, p
}

// firstN returns a rule that applies f to the first n requests with method.
func firstN(method string, n int, f fault) func(r *http.Request) fault {
	seen := 0
	return func(r *http.Request) fault {
		if r.Method != method || seen >= n {
			return pass
		}
		seen++
		return f
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	b, p := openProxied(t, blobstate.Retry{Backoff: 10 * time.Millisecond})
	ctx := context.Background()
	// Sluice's own writes retry as a whole
	p.setRule(firstN(http.MethodPut, 3, status503))
	if err := b.Write(ctx, "k1", []byte("v1")); err != nil {
		t.Fatalf("write through 3 x 503: %v", err)
	}
	if n := p.requests(http.MethodPut); n != 4 {
		t.Errorf("%d PUTs, want 4 (3 refused, 1 retry that worked)", n)
	}
	// operators' writes through *blob.Bucket retry in the SDK pipeline
	p.setRule(firstN(http.MethodPut, 3, status500))
	if err := b.Blob().WriteAll(ctx, "k2", []byte("v2"), nil); err != nil {
		t.Fatalf("blob.WriteAll through 3 x 500: %v", err)
	}
	if got, err := b.Read(ctx, "k2"); err != nil || string(got) != "v2" {
		t.Fatalf("read k2: %q, %v", got, err)
	}
}

// TestLostReplyOfWriteOnce: the first attempt creates the object but its
// reply is lost; the retry finds the object, and because it holds exactly
// this call's data, WriteOnce succeeds instead of reporting ErrExists.
func TestLostReplyOfWriteOnce(t *testing.T) {
	b, p := openProxied(t, blobstate.Retry{Backoff: 10 * time.Millisecond})
	ctx := context.Background()
	p.setRule(firstN(http.MethodPut, 1, lostReply))
	if err := b.WriteOnce(ctx, "chk-1/_metadata", []byte("mine")); err != nil {
		t.Fatalf("write-once with a lost reply: %v", err)
	}
	if n := p.requests(http.MethodPut); n != 2 {
		t.Errorf("%d PUTs, want 2", n)
	}
	if err := b.WriteOnce(ctx, "chk-1/_metadata", []byte("theirs")); !errors.Is(err, blobstate.ErrExists) {
		t.Fatalf("another writer: %v, want ErrExists", err)
	}

	if err := b.Write(ctx, "staged", []byte("part")); err != nil {
		t.Fatal(err)
	}
	p.setRule(firstN(http.MethodPut, 1, lostReply))
	if err := b.CopyOnce(ctx, "staged", "part-0"); err != nil {
		t.Fatalf("copy-once with a lost reply: %v", err)
	}
	if got, _ := b.Read(ctx, "part-0"); string(got) != "part" {
		t.Fatalf("committed %q", got)
	}
}

func TestPersistentFailureNamesObjectAndCause(t *testing.T) {
	b, p := openProxied(t, blobstate.Retry{Timeout: time.Second, Backoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	p.setRule(func(r *http.Request) fault {
		if r.Method == http.MethodPut {
			return status500
		}
		return pass
	})
	err := b.WriteOnce(context.Background(), "checkpoints/j/chk-9/_metadata", []byte("x"))
	if err == nil {
		t.Fatal("write succeeded through a failing server")
	}
	for _, want := range []string{"checkpoints/j/chk-9/_metadata", b.String(), "attempts", "500", "InternalError"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	if n := p.requests(http.MethodPut); n < 3 {
		t.Errorf("only %d attempts in a second", n)
	}
	t.Log(err)

	// the storage is gone altogether: connection refused
	p.Close()
	err = b.Write(context.Background(), "out/part-1", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "out/part-1") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("write to a closed port: %v; want an error naming the object and the refused connection", err)
	}
	t.Log(err)
}
