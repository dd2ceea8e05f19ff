package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/operator/operatortest"
	"github.com/sluicehq/sluice/executor/record"
)

func TestDatagenBounded(t *testing.T) {
	d := def(t, "datagen")
	cfg := operatortest.DecodeConfig(t, d, `{"count":2500,"keys":7,"seed":42,"chunk":1000}`)
	oc := operatortest.NewContext(t)
	splits, err := d.Splits(t.Context(), oc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ranges []datagenSplit
	for _, s := range splits {
		var ds datagenSplit
		if err := json.Unmarshal(s.Data, &ds); err != nil {
			t.Fatal(err)
		}
		ranges = append(ranges, ds)
	}
	want := []datagenSplit{{0, 1000, 1}, {1000, 2000, 1}, {2000, 2500, 1}}
	if len(ranges) != len(want) {
		t.Fatalf("splits %+v", ranges)
	}
	for i := range want {
		if ranges[i] != want[i] {
			t.Fatalf("split %d = %+v, want %+v", i, ranges[i], want[i])
		}
	}
	out := operatortest.ReadAllSplits(t, d, cfg, oc)
	if len(out) != 2500 {
		t.Fatalf("%d records", len(out))
	}
	counts := map[string]int{}
	for i, r := range out {
		id, _ := r.Get("id")
		key, _ := r.Get("key")
		v, _ := r.Get("value")
		if id.Int() != int64(i) || key.Str() != "key-"+itoa(int64(i)%7) || v.Kind() != record.Int || v.Int() < 0 || v.Int() >= 1000 {
			t.Fatalf("record %d: %s", i, r)
		}
		if v.Int() != datagenValue(42, int64(i)) {
			t.Fatalf("record %d: value %d", i, v.Int())
		}
		counts[key.Str()]++
		if len(r.Fields) != 3 || r.Fields[0].Name != "id" || r.Fields[1].Name != "key" || r.Fields[2].Name != "value" {
			t.Fatalf("record %d: %s", i, r)
		}
	}
	if len(counts) != 7 {
		t.Fatalf("keys %v", counts)
	}

	// deterministic: same seed, same values however split; other seed differs
	again := operatortest.ReadAllSplits(t, d, operatortest.DecodeConfig(t, d, `{"count":2500,"keys":7,"seed":42,"chunk":333}`), oc)
	if operatortest.JSON(again) != operatortest.JSON(out) {
		t.Fatal("output depends on the chunk size")
	}
	other := operatortest.ReadAllSplits(t, d, operatortest.DecodeConfig(t, d, `{"count":2500,"keys":7,"seed":43,"chunk":1000}`), oc)
	if operatortest.JSON(other) == operatortest.JSON(out) {
		t.Fatal("seed changes nothing")
	}
	// values are spread over [0, 1000)
	var buckets [10]int
	for _, r := range out {
		v, _ := r.Get("value")
		buckets[v.Int()/100]++
	}
	for i, n := range buckets {
		if n < 150 || n > 350 {
			t.Errorf("values in [%d, %d): %d of 2500", i*100, i*100+100, n)
		}
	}
}

func itoa(i int64) string { return record.IntV(i).String() }

func TestDatagenUnbounded(t *testing.T) {
	d := def(t, "datagen")
	cfg := operatortest.DecodeConfig(t, d, `{"keys":3}`)
	oc := operatortest.NewContext(t)
	oc.NumSubtasks = 4
	splits, err := d.Splits(t.Context(), oc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(splits) != 4 {
		t.Fatalf("%d splits", len(splits))
	}
	seen := map[int64]bool{}
	for i, s := range splits {
		src, err := d.NewSource(cfg)
		if err != nil {
			t.Fatal(err)
		}
		out := operatortest.ReadN(t, src, oc, s, 50)
		for j, r := range out {
			id, _ := r.Get("id")
			if id.Int() != int64(i+4*j) {
				t.Fatalf("split %d record %d: %s", i, j, r)
			}
			if seen[id.Int()] {
				t.Fatalf("id %d twice", id.Int())
			}
			seen[id.Int()] = true
		}
	}
}

func TestDatagenCancel(t *testing.T) {
	src, err := newDatagen(&DatagenConfig{Keys: 1, Chunk: 1, Rate: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	if err := src.Open(ctx, operatortest.NewContext(t)); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(datagenSplit{Start: 0, End: unboundedEnd, Step: 1})
	n := 0
	// the first record is due at once, the second in 1000 s: cancel after
	// the first and the read must return
	err = src.ReadSplit(ctx, operator.Split{ID: "s", Data: data}, operator.EmitterFunc(func(*record.Record) error {
		n++
		cancel()
		return nil
	}))
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Fatalf("err = %v after %d records", err, n)
	}
}

func TestDatagenBadSplit(t *testing.T) {
	src, _ := newDatagen(nil)
	for _, data := range []string{`{`, `{"start":0,"end":5,"step":0}`, `{"start":5,"end":2,"step":1}`} {
		_, err := operatortest.ReadSplits(t, src, operatortest.NewContext(t), []operator.Split{{ID: "x", Data: json.RawMessage(data)}})
		if err == nil {
			t.Errorf("split %s: no error", data)
		}
	}
}

// fakeClock drives a pacer without real time.
type fakeClock struct {
	now    time.Time
	slept  time.Duration
	sleeps int
}

func (c *fakeClock) install(p *pacer) {
	p.now = func() time.Time { return c.now }
	p.sleep = func(_ context.Context, d time.Duration) error {
		c.now = c.now.Add(d)
		c.slept += d
		c.sleeps++
		return nil
	}
}

func TestPacer(t *testing.T) {
	t.Run("slow rate", func(t *testing.T) {
		p := newPacer(10)
		c := &fakeClock{now: time.Unix(1000, 0)}
		c.install(p)
		for range 21 {
			if err := p.wait(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		// 21 events at 10/s span 2 s
		if c.slept != 2*time.Second || c.sleeps != 20 {
			t.Fatalf("slept %v in %d sleeps", c.slept, c.sleeps)
		}
	})
	t.Run("fast rate sleeps rarely", func(t *testing.T) {
		p := newPacer(1e6)
		c := &fakeClock{now: time.Unix(1000, 0)}
		c.install(p)
		for range 100001 {
			if err := p.wait(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if c.slept < 99*time.Millisecond || c.slept > 100*time.Millisecond || c.sleeps > 100 {
			t.Fatalf("slept %v in %d sleeps", c.slept, c.sleeps)
		}
	})
	t.Run("no burst after a stall", func(t *testing.T) {
		p := newPacer(100)
		c := &fakeClock{now: time.Unix(1000, 0)}
		c.install(p)
		for range 10 {
			_ = p.wait(t.Context())
		}
		c.now = c.now.Add(10 * time.Second) // downstream stalled
		c.slept, c.sleeps = 0, 0
		for range 11 {
			_ = p.wait(t.Context())
		}
		// after the stall the rate holds: 11 events take 100 ms
		if c.slept != 100*time.Millisecond {
			t.Fatalf("slept %v after the stall", c.slept)
		}
	})
	t.Run("real timer", func(t *testing.T) {
		p := newPacer(200)
		start := time.Now()
		for range 21 {
			if err := p.wait(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		// a lower bound only: a loaded machine may be slower
		if d := time.Since(start); d < 95*time.Millisecond {
			t.Fatalf("21 events at 200/s took %v", d)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		p.n, p.start = 1, time.Now() // next event due in 5 ms
		if err := p.wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled wait: %v", err)
		}
	})
}

func BenchmarkDatagen(b *testing.B) {
	src, _ := newDatagen(nil)
	data, _ := json.Marshal(datagenSplit{Start: 0, End: 1 << 62, Step: 1})
	if err := src.Open(b.Context(), operatortest.NewContext(b)); err != nil {
		b.Fatal(err)
	}
	n := 0
	b.ReportAllocs()
	stop := errors.New("stop")
	b.ResetTimer()
	err := src.ReadSplit(b.Context(), operator.Split{ID: "s", Data: data}, operator.EmitterFunc(func(*record.Record) error {
		n++
		if n >= b.N {
			return stop
		}
		return nil
	}))
	if !errors.Is(err, stop) {
		b.Fatal(err)
	}
}

func TestDatagenAdvance(t *testing.T) {
	d := def(t, "datagen")
	cfg := operatortest.DecodeConfig(t, d, `{"keys":5,"timeField":"ts","interval":"250ms"}`)
	oc := operatortest.NewContext(t)
	split := func(ds datagenSplit) operator.Split {
		data, _ := json.Marshal(ds)
		return operator.Split{ID: "s", Data: data}
	}
	read := func(s operator.Split, n int) []*record.Record {
		src, err := d.NewSource(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var ds datagenSplit
		_ = json.Unmarshal(s.Data, &ds)
		if ds.End == unboundedEnd {
			return operatortest.ReadN(t, src, oc, s, n)
		}
		out, err := operatortest.ReadSplits(t, src, oc, []operator.Split{s})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, ds := range []datagenSplit{{0, 100, 1}, {5, 37, 1}, {3, unboundedEnd, 4}} {
		all := read(split(ds), 120)
		for _, n := range []int64{0, 1, 7, 31, 32, 1000} {
			src, _ := d.NewSource(cfg)
			adv, err := src.(operator.SplitAdvancer).Advance(split(ds), n)
			if err != nil {
				t.Fatal(err)
			}
			if adv.ID != "s" {
				t.Fatalf("advanced split id %q", adv.ID)
			}
			want := all[min(int(n), len(all)):]
			if ds.End == unboundedEnd {
				want = read(split(ds), int(n)+10)[n:]
			}
			got := read(adv, len(want))
			if operatortest.JSON(got) != operatortest.JSON(want) {
				t.Fatalf("%+v advanced by %d: got %d records\n%s\nwant\n%s", ds, n, len(got), head(got), head(want))
			}
		}
	}
	// event times are id * interval
	r := read(split(datagenSplit{2, 4, 1}), 2)
	if operatortest.JSON(r) != lines(`{"id":2,"key":"key-2","value":`+itoa(datagenValue(0, 2))+`,"ts":500}`, `{"id":3,"key":"key-3","value":`+itoa(datagenValue(0, 3))+`,"ts":750}`) {
		t.Fatalf("got %s", operatortest.JSON(r))
	}
	src, _ := d.NewSource(cfg)
	if _, err := src.(operator.SplitAdvancer).Advance(split(datagenSplit{0, 5, 1}), -1); err == nil {
		t.Fatal("negative advance: no error")
	}
	if _, err := src.(operator.SplitAdvancer).Advance(operator.Split{ID: "x", Data: json.RawMessage(`{`)}, 1); err == nil {
		t.Fatal("bad split: no error")
	}
}
