package builtin

import (
	"context"
	"time"
)

// pacer spaces events to a rate. It computes when the next event is due from
// the start of the current run (no ticker), sleeps only when at least
// pacerMinSleep ahead (so high rates cost no timer per event, at the price of
// bursts that short), and does not catch up more than pacerMaxLag of lost time
// (a stalled downstream does not cause a burst afterwards).
type pacer struct {
	rate  float64 // events per second
	start time.Time
	n     int64 // events since start
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	timer *time.Timer
}

const (
	pacerMinSleep = time.Millisecond
	pacerMaxLag   = 100 * time.Millisecond
)

func newPacer(rate float64) *pacer {
	p := &pacer{rate: rate, now: time.Now}
	p.sleep = p.sleepTimer
	return p
}

// wait returns when the next event is due, or with ctx's error.
func (p *pacer) wait(ctx context.Context) error {
	now := p.now()
	if p.n == 0 {
		p.start = now
	}
	due := p.start.Add(time.Duration(float64(p.n) / p.rate * float64(time.Second)))
	switch ahead := due.Sub(now); {
	case ahead >= pacerMinSleep:
		if err := p.sleep(ctx, ahead); err != nil {
			return err
		}
	case -ahead > pacerMaxLag:
		p.start, p.n = now, 0
	}
	p.n++
	return nil
}

func (p *pacer) sleepTimer(ctx context.Context, d time.Duration) error {
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
		return nil
	case <-ctx.Done():
		p.timer.Stop()
		return ctx.Err()
	}
}
