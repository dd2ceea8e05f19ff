package launch

import (
	"bytes"
	"io"
	"os"
	"sync"
)

// lockedWriter serializes writes to w, which executors share.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) write(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// An error (a closed stdout) must not stop the copy: the executor would
	// block on a full pipe. The output is lost either way.
	_, _ = l.w.Write(b)
}

// copyLines copies r to w until r ends, in chunks of whole lines (a line
// longer than the buffer is written in pieces).
func copyLines(w *lockedWriter, r *os.File) {
	buf := make([]byte, 0, 64<<10)
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			w.write(buf[:i+1])
			buf = buf[:copy(buf, buf[i+1:])]
		} else if len(buf) == cap(buf) {
			w.write(buf)
			buf = buf[:0]
		}
		if err != nil {
			if len(buf) > 0 {
				w.write(buf)
			}
			return
		}
	}
}

// copyStderr copies r to the log and the tail until r ends.
func copyStderr(r *os.File, log *bestEffortWriter, tail *tailBuffer) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			log.Write(buf[:n])
			tail.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// bestEffortWriter writes to w, if any, until the first error, which it
// keeps; it never fails, so that the executor's output keeps being drained.
type bestEffortWriter struct {
	w   io.Writer
	err error
}

func (b *bestEffortWriter) Write(p []byte) {
	if b.w == nil || b.err != nil {
		return
	}
	_, b.err = b.w.Write(p)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu        sync.Mutex
	buf       []byte
	max       int
	truncated bool
}

func newTailBuffer(max int) *tailBuffer {
	return &tailBuffer{max: max, buf: make([]byte, 0, 2*max)}
}

func (t *tailBuffer) Write(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		t.truncated = true
		return
	}
	if len(t.buf)+len(p) > cap(t.buf) {
		keep := t.max - len(p)
		t.buf = t.buf[:copy(t.buf, t.buf[len(t.buf)-keep:])]
		t.truncated = true
	}
	t.buf = append(t.buf, p...)
}

// String returns the tail; when older output was dropped, it starts at a
// line boundary if there is one.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > t.max {
		b = b[len(b)-t.max:]
		t.truncated = true
	}
	if t.truncated {
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	return string(b)
}
