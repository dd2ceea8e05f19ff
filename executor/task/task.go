package task

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"gocloud.dev/blob"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/jobspec"
	"github.com/sluicehq/sluice/coordinator/plan"
	"github.com/sluicehq/sluice/executor/exchange"
	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
	"github.com/sluicehq/sluice/executor/state"
)

// SplitSource hands out a source subtask's splits (the coordinator's split
// enumerator, over the internal API).
type SplitSource interface {
	NextSplit(ctx context.Context, vertex string, subtask int) (Assignment, error)
}

// Assignment answers a split request: a split (whose first Skip records were
// read before a recovery), Done when no split is left, or Wait when a
// continuous source has nothing new yet.
type Assignment struct {
	Split *operator.Split
	Skip  int64
	Done  bool
	Wait  bool
}

// Restorer loads a keyed vertex's state from the checkpoint being restored
// into b: the key groups that subtask index of parallelism owns.
type Restorer interface {
	RestoreKeyed(ctx context.Context, vertex string, index, parallelism int, b *state.Backend) error
}

// BucketOpener opens (and caches) buckets; "" is the job's default bucket.
type BucketOpener func(ctx context.Context, url string) (*blob.Bucket, error)

// Config describes one subtask. All fields but FlushInterval and Logger are
// required.
type Config struct {
	Job      string
	Attempt  int
	Spec     *jobspec.Spec
	Plan     *plan.Plan
	ID       plan.SubtaskID
	Registry *operator.Registry
	Exchange *exchange.Exchange
	// Peers maps a slot to its executor's data address.
	Peers   map[int]string
	Splits  SplitSource
	Buckets BucketOpener
	Stdout  io.Writer
	// FlushInterval bounds how long a record may wait in a partly filled
	// buffer; default 100 ms.
	FlushInterval time.Duration
	// AtLeastOnce skips barrier alignment (checkpoints are then
	// at-least-once).
	AtLeastOnce bool
	// Restore, when set, restores keyed state before the operators open.
	Restore Restorer
	// RestoredWatermark is the watermark of the restored checkpoint
	// (math.MinInt64 for none): operators start from it.
	RestoredWatermark int64
	// Snapshots receives this subtask's part of each checkpoint, on the
	// subtask's goroutine; it must not block for long.
	Snapshots func(Snapshot)
	// WatermarkInterval is how often sources with event time emit
	// watermarks; default 200 ms.
	WatermarkInterval time.Duration
	Logger            zerolog.Logger
}

// Task is one running subtask.
type Task struct {
	cfg      Config
	pipe     plan.Pipeline
	log      zerolog.Logger
	gate     *exchange.Gate
	inEdges  []int // per gate channel: index into inSel / plan edge
	inSel    []*keySelector
	stages   []*stage
	writers  []*edgeWriter
	bytesIn  counter
	combined bool // the head is keyed and its producers combine

	headIn    operator.Emitter    // feeds the first operator (non-source heads)
	combiners []operator.Operator // per combining output edge
	curEdge   int                 // input edge of the record being processed
	firstAt   atomic.Int64        // unix nanos of the first record handled

	keyed       *state.Backend // the head's keyed state, if it is keyed
	sideWriters map[string][]*edgeWriter
	mainWriters []*edgeWriter
	watermark   int64 // current input watermark (subtask goroutine)
	src         *sourceRun
	align       *aligner
	pendingChk  atomic.Pointer[Barrier] // a checkpoint triggered at a source
	lastChk     int64                   // the last checkpoint taken
	final       []operator.Commitable   // staged at the end of input
}

// stage is one chained operator.
type stage struct {
	vertex   string
	def      operator.Definition
	cfg      any
	op       operator.Operator // nil for a source head
	src      operator.Source
	in, out  counter
	keyed    bool
	opened   bool
	ctx      *opContext
	consumer operator.Emitter
	countMu  sync.Mutex
	counters map[string]*atomic.Int64
	// the event time of the record being processed, which records emitted
	// during Process inherit (as Flink's TimestampedCollector does)
	inTime    int64
	inTimed   bool
	inProcess bool
}

// New prepares a subtask: decodes its operators' configs and registers its
// input channels with the exchange, so that producers can connect before Run.
func New(cfg Config) (*Task, error) {
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 100 * time.Millisecond
	}
	if cfg.WatermarkInterval == 0 {
		cfg.WatermarkInterval = 200 * time.Millisecond
	}
	if cfg.ID.Pipeline < 0 || cfg.ID.Pipeline >= len(cfg.Plan.Pipelines) {
		return nil, fmt.Errorf("subtask %v: no such pipeline", cfg.ID)
	}
	t := &Task{cfg: cfg, pipe: cfg.Plan.Pipelines[cfg.ID.Pipeline], watermark: math.MinInt64, sideWriters: map[string][]*edgeWriter{}}
	t.log = cfg.Logger.With().Str("job", cfg.Job).Str("task", fmt.Sprintf("%v[%d]", t.pipe.Vertices, cfg.ID.Index)).Logger()
	for i, vid := range t.pipe.Vertices {
		v := cfg.Spec.Vertices[cfg.Spec.VertexIndex(vid)]
		def, ok := cfg.Registry.Resolve(v.Operator, i == 0 && len(t.pipe.Inputs) == 0)
		if !ok {
			return nil, fmt.Errorf("vertex %s: unknown operator %q", vid, v.Operator)
		}
		dc, ferrs := def.DecodeConfig(v.Config)
		if len(ferrs) > 0 {
			return nil, fmt.Errorf("vertex %s config: %v", vid, ferrs[0])
		}
		t.stages = append(t.stages, &stage{vertex: vid, def: def, cfg: dc, keyed: def.Keyed, counters: map[string]*atomic.Int64{}})
	}
	if t.stages[0].keyed {
		t.keyed = state.NewBackend(cfg.Plan.MaxParallelism)
	}
	if t.stages[0].def.Kind == operator.KindSource && len(t.pipe.Inputs) == 0 {
		if err := t.setupSource(); err != nil {
			return nil, err
		}
	}
	if len(t.pipe.Inputs) > 0 {
		if err := t.setupInputs(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *Task) setupInputs() error {
	var ids []exchange.ChannelID
	head := t.stages[0]
	t.combined = head.keyed
	for i, e := range t.pipe.Inputs {
		pe := t.cfg.Plan.Edges[e]
		var sel *keySelector
		if pe.Partitioning == "hash" {
			s, err := newKeySelector(pe.Key)
			if err != nil {
				return fmt.Errorf("edge %s->%s: %w", pe.From, pe.To, err)
			}
			sel = s
		}
		t.inSel = append(t.inSel, sel)
		if !combines(pe, head.def, head.cfg) {
			t.combined = false
		}
		for _, ch := range t.cfg.Plan.Channels(pe.ID) {
			if ch[1] != t.cfg.ID.Index {
				continue
			}
			ids = append(ids, exchange.ChannelID{Job: t.cfg.Job, Attempt: t.cfg.Attempt, Edge: pe.ID, From: ch[0], To: ch[1]})
			t.inEdges = append(t.inEdges, i)
		}
	}
	g, err := t.cfg.Exchange.NewGate(ids)
	if err != nil {
		return fmt.Errorf("register inputs: %w", err)
	}
	t.gate = g
	return nil
}

// combines reports whether a combiner runs before the shuffle of edge pe into
// an operator. Producer and consumer decide alike from the plan and config.
func combines(pe plan.Edge, def operator.Definition, cfg any) bool {
	if pe.Partitioning != "hash" || !def.Keyed || def.NewCombiner == nil {
		return false
	}
	_, ok := def.NewCombiner(cfg)
	return ok
}

// Metrics returns the subtask's counters, per vertex. Safe for concurrent
// use.
func (t *Task) Metrics() api.TaskMetrics {
	m := api.TaskMetrics{Pipeline: t.cfg.ID.Pipeline, Index: t.cfg.ID.Index, Vertices: map[string]api.Metrics{}}
	for i, s := range t.stages {
		vm := api.Metrics{RecordsIn: s.in.load(), RecordsOut: s.out.load(), Counters: s.counterValues()}
		if i == 0 {
			vm.BytesIn = t.bytesIn.load()
		}
		if i == len(t.stages)-1 {
			for _, w := range t.writers {
				vm.BytesOut += w.bytesOut.Load()
				vm.BackpressureMillis += w.backpressureNanos() / 1e6
			}
		}
		m.Vertices[s.vertex] = vm
	}
	if f := t.firstAt.Load(); f != 0 {
		m.FirstRecordAt = time.Unix(0, f).UTC()
	}
	return m
}

// Run runs the subtask to its end: the input is exhausted and every output
// finished (nil), ctx is cancelled, or something failed.
func (t *Task) Run(ctx context.Context) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
		for _, s := range t.stages {
			s.in.sync()
			s.out.sync()
		}
		t.bytesIn.sync()
	}()
	defer t.closeAll(&err)

	if t.cfg.RestoredWatermark > t.watermark {
		t.watermark = t.cfg.RestoredWatermark
	}
	if t.keyed != nil && t.cfg.Restore != nil {
		if err := t.cfg.Restore.RestoreKeyed(ctx, t.stages[0].vertex, t.cfg.ID.Index, t.pipe.Parallelism, t.keyed); err != nil {
			return fmt.Errorf("restore state of %s: %w", t.stages[0].vertex, err)
		}
	}
	if err := t.connectOutputs(ctx); err != nil {
		return err
	}
	if err := t.openChain(ctx); err != nil {
		return err
	}
	flushDone := t.startFlusher(ctx)
	if t.stages[0].src != nil {
		err = t.runSource(ctx)
	} else {
		err = t.runInputs(ctx)
	}
	if err == nil {
		// the end of a bounded input is the end of event time
		err = t.advanceWatermark(math.MaxInt64)
	}
	if err == nil {
		err = t.endInput()
	}
	flushDone()
	if err != nil {
		return err
	}
	for _, w := range t.writers {
		if err := w.finish(ctx); err != nil {
			return err
		}
	}
	return nil
}

// FinalCommitables returns what the sinks staged after the last checkpoint,
// to be committed when the whole job has finished. Valid after Run returned
// nil.
func (t *Task) FinalCommitables() []operator.Commitable { return t.final }

func (t *Task) connectOutputs(ctx context.Context) error {
	for _, e := range t.pipe.Outputs {
		pe := t.cfg.Plan.Edges[e]
		w := &edgeWriter{ctx: ctx, partitioning: pe.Partitioning, maxPar: t.cfg.Plan.MaxParallelism, getBuf: t.cfg.Exchange.GetBuffer}
		if pe.Partitioning == "hash" {
			s, err := newKeySelector(pe.Key)
			if err != nil {
				return fmt.Errorf("edge %s->%s: %w", pe.From, pe.To, err)
			}
			w.key = s
		}
		t.writers = append(t.writers, w) // before connecting, so that closeAll aborts it
		if pe.Output == "" {
			t.mainWriters = append(t.mainWriters, w)
		} else {
			t.sideWriters[pe.Output] = append(t.sideWriters[pe.Output], w)
		}
		for _, ch := range t.cfg.Plan.Channels(pe.ID) {
			if ch[0] != t.cfg.ID.Index {
				continue
			}
			to := plan.SubtaskID{Pipeline: pe.ToPipeline, Index: ch[1]}
			addr, ok := t.cfg.Peers[t.cfg.Plan.SlotOf(to)]
			if !ok {
				return fmt.Errorf("edge %s->%s: no executor for slot %d", pe.From, pe.To, t.cfg.Plan.SlotOf(to))
			}
			id := exchange.ChannelID{Job: t.cfg.Job, Attempt: t.cfg.Attempt, Edge: pe.ID, From: ch[0], To: ch[1]}
			o, err := t.cfg.Exchange.Connect(ctx, id, addr)
			if err != nil {
				return fmt.Errorf("edge %s->%s: %w", pe.From, pe.To, err)
			}
			w.outs = append(w.outs, o)
		}
		w.bufs = make([][]byte, len(w.outs))
	}
	return nil
}

// openChain opens operators tail first, so that each one's downstream is
// ready before it can emit.
func (t *Task) openChain(ctx context.Context) error {
	tail, err := t.tailEmitter(ctx)
	if err != nil {
		return err
	}
	next := tail
	for i := len(t.stages) - 1; i >= 0; i-- {
		s := t.stages[i]
		s.ctx = t.newContext(s, i)
		out := countingEmitter(&s.out, next)
		if s.def.Kind != operator.KindSource {
			out = inheritTime(s, out)
		}
		if i == 0 {
			out = t.markFirst(out)
			if s.def.Kind == operator.KindSource {
				out = t.sourceEmitter(out)
			}
		}
		if i == 0 && s.def.Kind == operator.KindSource {
			src, err := s.def.NewSource(s.cfg)
			if err != nil {
				return fmt.Errorf("create source %s: %w", s.vertex, err)
			}
			s.src = src
			s.opened = true
			if err := src.Open(ctx, s.ctx); err != nil {
				return fmt.Errorf("open source %s: %w", s.vertex, err)
			}
			s.consumer = out
			break
		}
		op, err := s.def.NewOperator(s.cfg)
		if err != nil {
			return fmt.Errorf("create operator %s: %w", s.vertex, err)
		}
		s.op = op
		s.opened = true
		if err := op.Open(ctx, s.ctx, out); err != nil {
			return fmt.Errorf("open operator %s: %w", s.vertex, err)
		}
		s.consumer = out
		in := &s.in
		next = operator.EmitterFunc(func(r *record.Record) error {
			in.inc()
			s.inTime, s.inTimed, s.inProcess = r.Time, r.Timed, true
			err := op.Process(r)
			s.inProcess = false
			return err
		})
	}
	t.headIn = next
	return nil
}

// inheritTime gives the records an operator emits while processing a
// record that record's event time, as Flink's TimestampedCollector does
// (operators reuse their output records, so an unset time cannot be told
// from a stale one). Records emitted outside Process, a window's results on
// a watermark, say, keep the time the operator gave them.
func inheritTime(s *stage, next operator.Emitter) operator.Emitter {
	return operator.EmitterFunc(func(r *record.Record) error {
		if s.inProcess {
			r.Time, r.Timed = s.inTime, s.inTimed
		}
		return next.Emit(r)
	})
}

// countingEmitter counts what a stage emits.
func countingEmitter(c *counter, next operator.Emitter) operator.Emitter {
	return operator.EmitterFunc(func(r *record.Record) error {
		c.inc()
		return next.Emit(r)
	})
}

// tailEmitter fans the last operator's records out to the edge writers,
// through combiners where the downstream keyed operator has one.
func (t *Task) tailEmitter(ctx context.Context) (operator.Emitter, error) {
	var targets []operator.Emitter
	for i, e := range t.pipe.Outputs {
		pe := t.cfg.Plan.Edges[e]
		w := t.writers[i]
		if pe.Output != "" {
			continue // side outputs are reached through Context.SideOutput
		}
		down := t.cfg.Plan.Pipelines[pe.ToPipeline].Vertices[0]
		dv := t.cfg.Spec.Vertices[t.cfg.Spec.VertexIndex(down)]
		def, _ := t.cfg.Registry.Resolve(dv.Operator, false)
		dcfg, _ := def.DecodeConfig(dv.Config)
		if !combines(pe, def, dcfg) {
			targets = append(targets, w)
			continue
		}
		cmb, _ := def.NewCombiner(dcfg)
		cs := &stage{vertex: down + "(combiner)", def: def, keyed: true}
		cctx := t.newContext(cs, -1)
		cctx.sel = w.key
		// partial results carry the key under its name: partition them by
		// that field (the edge's key may be an expression over raw records)
		w.key = &keySelector{src: w.key.name(), field: w.key.name()}
		if err := cmb.Open(ctx, cctx, w); err != nil {
			return nil, fmt.Errorf("open combiner for %s: %w", down, err)
		}
		t.combiners = append(t.combiners, cmb)
		targets = append(targets, operator.EmitterFunc(cmb.Process))
	}
	switch len(targets) {
	case 0:
		return operator.EmitterFunc(func(*record.Record) error { return nil }), nil
	case 1:
		return targets[0], nil
	}
	return operator.EmitterFunc(func(r *record.Record) error {
		for _, tg := range targets {
			if err := tg.Emit(r); err != nil {
				return err
			}
		}
		return nil
	}), nil
}

func (t *Task) startFlusher(ctx context.Context) (stop func()) {
	if len(t.writers) == 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(t.cfg.FlushInterval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				for _, w := range t.writers {
					if err := w.flush(); err != nil {
						return // the subtask goroutine sees the same error
					}
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// endInput tells each operator, head first, that its input is exhausted,
// then flushes the combiners.
func (t *Task) endInput() error {
	for _, s := range t.stages {
		if s.op == nil {
			continue
		}
		if err := s.op.EndInput(); err != nil {
			return fmt.Errorf("operator %s at end of input: %w", s.vertex, err)
		}
	}
	for _, c := range t.combiners {
		if err := c.EndInput(); err != nil {
			return fmt.Errorf("combiner at end of input: %w", err)
		}
	}
	for _, s := range t.stages {
		if c, ok := s.op.(operator.Committer); ok {
			cs, err := c.PrepareCommit(operator.FinalCheckpoint)
			if err != nil {
				return fmt.Errorf("sink %s at end of input: %w", s.vertex, err)
			}
			t.final = append(t.final, cs...)
		}
	}
	return nil
}

// closeAll closes operators, outputs and inputs. After a failure the
// outputs are aborted so that consumers fail fast instead of waiting.
func (t *Task) closeAll(errp *error) {
	var errs []error
	for _, c := range t.combiners {
		errs = append(errs, c.Close())
	}
	for _, s := range t.stages {
		if !s.opened {
			continue
		}
		if s.op != nil {
			errs = append(errs, s.op.Close())
		}
		if s.src != nil {
			errs = append(errs, s.src.Close())
		}
	}
	for _, w := range t.writers {
		if *errp != nil {
			w.abort()
		}
	}
	if t.gate != nil {
		errs = append(errs, t.gate.Close())
	}
	if *errp == nil {
		if err := errors.Join(errs...); err != nil {
			*errp = fmt.Errorf("close: %w", err)
		}
	}
}

// markFirst records when the head operator first emits a record.
func (t *Task) markFirst(next operator.Emitter) operator.Emitter {
	seen := false
	return operator.EmitterFunc(func(r *record.Record) error {
		if !seen {
			seen = true
			t.firstAt.Store(time.Now().UnixNano())
		}
		return next.Emit(r)
	})
}

// syncCounters publishes the stages' record counts; it runs on the subtask
// goroutine, which owns them.
func (t *Task) syncCounters() {
	for _, s := range t.stages {
		s.in.sync()
		s.out.sync()
	}
	t.bytesIn.sync()
}
