package exchange

import (
	"context"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
	"time"
)

// checkLeaks registers a cleanup (run after all cleanups registered later,
// so after the exchanges are closed) that waits until the goroutine count
// is back to where it was.
func checkLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// waitFor polls cond until it holds or 5s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func newExchange(t testing.TB, cfg Config) *Exchange {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func chanID(edge, from, to int) ChannelID {
	return ChannelID{Job: "job", Attempt: 1, Edge: edge, From: from, To: to}
}

// payload builds a recognisable buffer: channel, sequence, then a pattern.
func payload(e *Exchange, ch, seq, size int) []byte {
	b := e.GetBuffer()
	b = binary.BigEndian.AppendUint32(b, uint32(ch))
	b = binary.BigEndian.AppendUint32(b, uint32(seq))
	for i := 8; i < size; i++ {
		b = append(b, byte(ch+seq+i))
	}
	return b
}

func checkPayload(t *testing.T, b []byte, ch, seq, size int) {
	t.Helper()
	if len(b) != size {
		t.Fatalf("channel %d seq %d: got %d bytes, want %d", ch, seq, len(b), size)
	}
	if c, s := int(binary.BigEndian.Uint32(b)), int(binary.BigEndian.Uint32(b[4:])); c != ch || s != seq {
		t.Fatalf("got channel %d seq %d, want channel %d seq %d", c, s, ch, seq)
	}
	for i := 8; i < size; i++ {
		if b[i] != byte(ch+seq+i) {
			t.Fatalf("channel %d seq %d: corrupt byte %d", ch, seq, i)
		}
	}
}

func wantErrContains(t *testing.T, err error, sub string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), sub) {
		t.Fatalf("got error %v, want one containing %q", err, sub)
	}
}
