package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"gocloud.dev/blob"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
)

// progress draws a job's live figures: redrawn in place on a terminal, a
// line every few seconds otherwise.
type progress struct {
	w         io.Writer
	tty       bool
	lines     int
	lastPrint time.Time
}

func newProgress(w io.Writer, tty bool) *progress { return &progress{w: w, tty: tty} }

func (p *progress) draw(j *api.Job, elapsed time.Duration) {
	if !p.tty {
		if time.Since(p.lastPrint) < 2*time.Second && !j.State.Terminal() {
			return
		}
		p.lastPrint = time.Now()
		var parts []string
		for _, v := range j.Vertices {
			parts = append(parts, fmt.Sprintf("%s in=%s out=%s", v.ID, human(v.Metrics.RecordsIn), human(v.Metrics.RecordsOut)))
		}
		fmt.Fprintf(p.w, "[%5.1fs] %-9s %s\n", elapsed.Seconds(), j.State, strings.Join(parts, " | "))
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  elapsed %s\n", j.ID, j.State, elapsed.Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "vertex\toperator\tpar\trecords in\tin/s\trecords out\tout/s\tbackpressure\t")
	for _, v := range j.Vertices {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", v.ID, v.Operator, v.Parallelism,
			human(v.Metrics.RecordsIn), human(int64(v.RecordsInRate)),
			human(v.Metrics.RecordsOut), human(int64(v.RecordsOutRate)),
			(time.Duration(v.Metrics.BackpressureMillis) * time.Millisecond).Round(time.Millisecond))
	}
	tw.Flush()
	out := b.String()
	if p.lines > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.lines)
	}
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		fmt.Fprintf(p.w, "\x1b[2K%s\n", line)
	}
	p.lines = strings.Count(out, "\n")
}

func (p *progress) done() {}

func human(n int64) string {
	switch {
	case n >= 10_000_000_000:
		return fmt.Sprintf("%.0fG", float64(n)/1e9)
	case n >= 1_000_000_000:
		return fmt.Sprintf("%.1fG", float64(n)/1e9)
	case n >= 10_000_000:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	case n >= 1_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// printSummary tells how the job ended, its figures, and where its output is.
func printSummary(o *Options, j *api.Job, bucket, logDir string) {
	w := o.Stderr
	dur := time.Duration(0)
	if j.EndedAt != nil {
		dur = j.EndedAt.Sub(j.SubmittedAt)
	}
	fmt.Fprintf(w, "\njob %s (%s) %s in %s\n", j.ID, j.Name, j.State, dur.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "vertex\toperator\tpar\trecords in\trecords out\tbytes in\tbytes out\t")
	for _, v := range j.Vertices {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t\n", v.ID, v.Operator, v.Parallelism,
			v.Metrics.RecordsIn, v.Metrics.RecordsOut, v.Metrics.BytesIn, v.Metrics.BytesOut)
	}
	tw.Flush()
	if j.Error != "" {
		fmt.Fprintf(w, "error: %s\n", j.Error)
		fmt.Fprintf(w, "executor logs: %s\n", logDir)
	}
	if j.State != api.JobFinished || j.Spec == nil {
		return
	}
	for _, v := range j.Spec.Vertices {
		if v.Operator != "files" || !isSink(j, v.ID) {
			continue
		}
		var cfg struct {
			Bucket string `json:"bucket"`
			Prefix string `json:"prefix"`
		}
		_ = json.Unmarshal(v.Config, &cfg)
		b := bucket
		if cfg.Bucket != "" {
			b = cfg.Bucket
		}
		prefix := strings.ReplaceAll(cfg.Prefix, "{job}", j.ID)
		n := countObjects(b, prefix)
		fmt.Fprintf(o.Stdout, "output of %s: %s (%d files)\n", v.ID, describeLocation(b, prefix), n)
	}
}

func isSink(j *api.Job, vertex string) bool {
	for _, e := range j.Spec.Edges {
		if e.From == vertex {
			return false
		}
	}
	return true
}

func describeLocation(bucket, prefix string) string {
	if strings.HasPrefix(bucket, "file://") {
		return strings.TrimRight(strings.TrimPrefix(bucket, "file://"), "/") + "/" + prefix
	}
	return bucket + " prefix " + prefix
}

func countObjects(bucket, prefix string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := blobstate.Open(ctx, bucket)
	if err != nil {
		return 0
	}
	defer b.Close()
	n := 0
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err != nil {
			break
		}
		if !obj.IsDir {
			n++
		}
	}
	return n
}
