package builtin

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// timeWindow is the event-time window [start, end), in milliseconds.
type timeWindow struct{ start, end int64 }

// maxTimestamp is the last instant of w, when it fires.
func (w timeWindow) maxTimestamp() int64 { return w.end - 1 }

// intersects reports whether w and o overlap or touch, so that sessions
// merge (Flink's TimeWindow.intersects).
func (w timeWindow) intersects(o timeWindow) bool { return w.start <= o.end && w.end >= o.start }

// cover returns the smallest window holding w and o.
func (w timeWindow) cover(o timeWindow) timeWindow {
	return timeWindow{min(w.start, o.start), max(w.end, o.end)}
}

// windowStart returns the start of the size-aligned window holding t
// (Flink's TimeWindow.getWindowStartWithOffset with offset 0); it is right
// for negative t too.
func windowStart(t, size int64) int64 {
	r := t % size
	if r < 0 {
		r += size
	}
	return t - r
}

// assignWindows appends the tumbling or sliding windows of event time t to
// dst (Flink's TumblingEventTimeWindows and SlidingEventTimeWindows, latest
// start first). Windows that would overflow int64 are left out.
func (s *windowSpec) assignWindows(dst []timeWindow, t int64) []timeWindow {
	slide := s.size
	if s.typ == windowSliding {
		slide = s.slide
	}
	first := windowStart(t, slide)
	if first > t {
		return dst // t is so close to math.MinInt64 that its window start underflows
	}
	// the windows holding t start in (t-size, t]; t-start cannot overflow
	for start := first; t-start < s.size; start -= slide {
		if start <= math.MaxInt64-s.size {
			dst = append(dst, timeWindow{start, start + s.size})
		}
		if start < math.MinInt64+slide {
			break
		}
	}
	return dst
}

// sessionWindow returns the session window that a record at t opens.
func (s *windowSpec) sessionWindow(t int64) timeWindow {
	if t > math.MaxInt64-s.gap {
		return timeWindow{t, math.MaxInt64}
	}
	return timeWindow{t, t + s.gap}
}

// isLate reports whether a record at t that no window took is late: Flink
// drops such a record silently unless t + allowed lateness <= watermark
// (WindowOperator.isElementLate).
func (s *windowSpec) isLate(t, wm int64) bool {
	if t > math.MaxInt64-s.lateness {
		return wm == math.MaxInt64
	}
	return t+s.lateness <= wm
}

// cleanupTime is when w's state goes: when the watermark reaches it, w
// takes no more records (Flink's WindowOperator.cleanupTime).
func (s *windowSpec) cleanupTime(w timeWindow) int64 {
	t := w.maxTimestamp()
	if t > math.MaxInt64-s.lateness {
		return math.MaxInt64
	}
	return t + s.lateness
}

// A window's entries in the map state: the accumulator under
// "<start>/<end>", and, while a window that fired waits for late records,
// a marker under "<start>/<end>/fired".
const firedSuffix = "/fired"

func windowField(w timeWindow) string {
	return strconv.FormatInt(w.start, 10) + "/" + strconv.FormatInt(w.end, 10)
}

func firedField(w timeWindow) string { return windowField(w) + firedSuffix }

// parseWindowField parses a map state field.
func parseWindowField(f string) (w timeWindow, fired bool, err error) {
	f, fired = strings.CutSuffix(f, firedSuffix)
	a, b, ok := strings.Cut(f, "/")
	if ok {
		w.start, err = strconv.ParseInt(a, 10, 64)
		if err == nil {
			w.end, err = strconv.ParseInt(b, 10, 64)
		}
	}
	if !ok || err != nil || w.end <= w.start {
		return w, fired, fmt.Errorf("bad window field %q", f)
	}
	return w, fired, nil
}

// fieldCache remembers the state field names of the last few windows, which
// most records fall into, so that naming them does not allocate.
type fieldCache struct {
	w    [8]timeWindow
	f    [8]string
	next int
}

func (c *fieldCache) field(w timeWindow) string {
	for i := range c.f {
		if c.w[i] == w && c.f[i] != "" {
			return c.f[i]
		}
	}
	f := windowField(w)
	c.w[c.next], c.f[c.next] = w, f
	c.next = (c.next + 1) % len(c.f)
	return f
}
