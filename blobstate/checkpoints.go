package blobstate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Checkpoints is the checkpoint storage of one job: checkpoints/<job>/.
// Its methods may be called from several goroutines at once.
type Checkpoints struct {
	b      *Bucket
	job    string
	prefix string
	err    error
}

// NewCheckpoints returns the checkpoint storage of job in b. An invalid job
// id (empty, or not one path segment) makes every method fail.
func NewCheckpoints(b *Bucket, job string) *Checkpoints {
	c := &Checkpoints{b: b, job: job, prefix: "checkpoints/" + job + "/"}
	if err := checkID(job); err != nil {
		c.err = fmt.Errorf("checkpoints: job id: %w", err)
	}
	return c
}

// Prefix returns checkpoints/<job>/.
func (c *Checkpoints) Prefix() string { return c.prefix }

// Dir returns the directory of checkpoint n (n >= 1).
func (c *Checkpoints) Dir(n int64) *Dir {
	d := &Dir{
		b:      c.b,
		prefix: c.prefix + "chk-" + strconv.FormatInt(n, 10) + "/",
		label:  fmt.Sprintf("chk-%d of job %s", n, c.job),
		job:    c.job,
		n:      n,
		err:    c.err,
	}
	if d.err == nil && n < 1 {
		d.err = fmt.Errorf("checkpoint %d of job %s: checkpoints are numbered from 1", n, c.job)
	}
	return d
}

// Complete returns the numbers of the complete checkpoints (those with
// _metadata), ascending.
func (c *Checkpoints) Complete(ctx context.Context) ([]int64, error) {
	all, err := c.list(ctx)
	if err != nil {
		return nil, err
	}
	var done []int64
	for _, n := range all {
		ok, err := c.Dir(n).IsComplete(ctx)
		if err != nil {
			return nil, err
		}
		if ok {
			done = append(done, n)
		}
	}
	return done, nil
}

// Retain keeps the newest keep complete checkpoints (keep >= 1) and
// deletes the older complete ones, and the incomplete ones older than the
// newest complete one (aborted or failed attempts). Incomplete checkpoints
// newer than that may be in progress and are kept.
func (c *Checkpoints) Retain(ctx context.Context, keep int) error {
	if c.err != nil {
		return c.err
	}
	if keep < 1 {
		return fmt.Errorf("checkpoints of job %s: retain %d: keep at least 1", c.job, keep)
	}
	all, err := c.list(ctx)
	if err != nil {
		return err
	}
	done, err := c.Complete(ctx)
	if err != nil {
		return err
	}
	if len(done) == 0 {
		return nil
	}
	newest := done[len(done)-1]
	kept := make(map[int64]bool, keep)
	for _, n := range done[max(0, len(done)-keep):] {
		kept[n] = true
	}
	var errs []error
	for _, n := range all {
		if n < newest && !kept[n] {
			if err := c.Dir(n).Delete(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// list returns the numbers of every checkpoint directory, complete or not,
// ascending.
func (c *Checkpoints) list(ctx context.Context) ([]int64, error) {
	if c.err != nil {
		return nil, c.err
	}
	objs, err := c.b.List(ctx, c.prefix, "/")
	if err != nil {
		return nil, fmt.Errorf("checkpoints of job %s: %w", c.job, err)
	}
	var ns []int64
	for _, o := range objs {
		if !o.IsDir {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(o.Key, c.prefix), "/")
		digits, ok := strings.CutPrefix(name, "chk-")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil || n < 1 || strconv.FormatInt(n, 10) != digits {
			continue
		}
		ns = append(ns, n)
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
	return ns, nil
}

// checkID accepts a job or savepoint id: one path segment of letters,
// digits, '-', '_' and '.', not starting with '.'.
func checkID(id string) error {
	if id == "" {
		return errors.New("empty")
	}
	if len(id) > 200 {
		return fmt.Errorf("%q: longer than 200 bytes", id)
	}
	if id[0] == '.' {
		return fmt.Errorf("%q: starts with '.'", id)
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return fmt.Errorf("%q: only letters, digits, '-', '_' and '.'", id)
		}
	}
	return checkKey(id)
}
