package builtin

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"gocloud.dev/blob"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// FilesSourceConfig configures the files source, which emits {<field>: line}
// for every line of every object under a prefix.
type FilesSourceConfig struct {
	// Bucket is the bucket URL; "" is the job's default bucket.
	Bucket string `json:"bucket"`
	// Prefix selects the objects, recursively; "" selects the whole bucket.
	// Objects with a path element
	// (after the prefix's last '/') that starts with '.' or '_' are skipped:
	// they are hidden or still being written.
	Prefix string `json:"prefix"`
	// SplitSize is the size in bytes of the byte ranges objects are cut into.
	SplitSize int64 `json:"splitSize"`
	// Field is the output field of the line.
	Field string `json:"field"`
	// Continuous keeps the source running: the coordinator lists the
	// prefix again every discoverInterval and hands out the splits of new
	// objects. Each object is then one split (ID "<key>@0"), read as of its
	// size when first listed: an object that changes or grows after that
	// is not read again, so write new objects instead (and write them
	// under a name starting with '.' or '_' until complete, or atomically
	// as object stores do). A prefix without objects is not an error.
	Continuous bool `json:"continuous"`
	// DiscoverInterval is how often a continuous source lists the prefix,
	// a duration such as "1s" (at least 10ms).
	DiscoverInterval string `json:"discoverInterval"`
}

// Limits of FilesSourceConfig.SplitSize.
const (
	defaultSplitSize = 8 << 20
	minSplitSize     = 1 << 10
)

// Validate implements operator.Validator.
func (c *FilesSourceConfig) Validate() error {
	var errs []error
	errs = append(errs, required("field", c.Field)) // an empty prefix reads the whole bucket
	if c.SplitSize < minSplitSize {
		errs = append(errs, operator.Errorf("splitSize", "must be at least %d bytes, not %d", minSplitSize, c.SplitSize))
	}
	if _, err := c.discoverInterval(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// discoverInterval parses DiscoverInterval ("" is 1 s).
func (c *FilesSourceConfig) discoverInterval() (time.Duration, error) {
	if c.DiscoverInterval == "" {
		return time.Second, nil
	}
	ms, err := parseMillis(c.DiscoverInterval)
	if err == nil && ms < 10 {
		err = fmt.Errorf("must be at least 10ms, not %q", c.DiscoverInterval)
	}
	if err != nil {
		return 0, operator.Errorf("discoverInterval", "%v", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

func newFilesSourceConfig() *FilesSourceConfig {
	return &FilesSourceConfig{SplitSize: defaultSplitSize, Field: "line", DiscoverInterval: "1s"}
}

func filesSourceDef() operator.Definition {
	return operator.Definition{
		Name: FilesSource,
		Kind: operator.KindSource,
		Doc: "Reads the lines of every object under prefix in bucket, cut into splits of splitSize bytes; " +
			`emits {<field>: line} per line, without the "\n" or "\r\n". ` +
			"With continuous, it keeps running and reads new objects as they appear.",
		NewConfig: func() any { return newFilesSourceConfig() },
		NewSource: newFilesSource,
		Splits:    filesSplits,
		Discover:  filesDiscover,
	}
}

// filesDiscover returns how often a continuous files source lists its
// prefix again (0 when it is bounded).
func filesDiscover(cfg any) time.Duration {
	c, err := configAs(FilesSource, cfg, newFilesSourceConfig)
	if err != nil || !c.Continuous {
		return 0
	}
	d, _ := c.discoverInterval()
	return d
}

// fileSplit is the Data of a files split: bytes [Start, End) of object Key,
// whose size was Size when the splits were made (0 for a continuous
// source, which does not check it). The split reads the lines that start
// in [Start, End).
type fileSplit struct {
	Key   string `json:"key"`
	Start int64  `json:"start"`
	End   int64  `json:"end"`
	Size  int64  `json:"size"`
}

func filesSplits(ctx context.Context, env operator.EnumerateEnv, cfg any) ([]operator.Split, error) {
	c, err := configAs(FilesSource, cfg, newFilesSourceConfig)
	if err != nil {
		return nil, err
	}
	b, err := env.Bucket(ctx, c.Bucket)
	if err != nil {
		return nil, operator.Errorf("bucket", "open %s: %v", bucketName(c.Bucket), err)
	}
	var (
		objects int
		ranges  []fileSplit
	)
	it := b.List(&blob.ListOptions{Prefix: c.Prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, operator.Errorf("bucket", "list %q in %s: %v", c.Prefix, bucketName(c.Bucket), err)
		}
		if obj.IsDir || strings.HasSuffix(obj.Key, "/") || hiddenObject(c.Prefix, obj.Key) {
			continue
		}
		objects++
		if c.Continuous {
			// one split per object, whose ID stays the same if it grows
			if obj.Size > 0 {
				ranges = append(ranges, fileSplit{Key: obj.Key, End: obj.Size})
			}
			continue
		}
		ranges = appendRanges(ranges, obj.Key, obj.Size, c.SplitSize)
	}
	if objects == 0 && !c.Continuous {
		return nil, operator.Errorf("prefix", "no objects under %q in %s", c.Prefix, bucketName(c.Bucket))
	}
	slices.SortFunc(ranges, func(a, b fileSplit) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return cmp.Compare(a.Start, b.Start)
	})
	splits := make([]operator.Split, len(ranges))
	for i, r := range ranges {
		if splits[i], err = r.split(); err != nil {
			return nil, err
		}
	}
	return splits, nil
}

// appendRanges cuts an object of size bytes into ranges of splitSize.
func appendRanges(dst []fileSplit, key string, size, splitSize int64) []fileSplit {
	for start := int64(0); start < size; start += splitSize {
		dst = append(dst, fileSplit{Key: key, Start: start, End: min(start+splitSize, size), Size: size})
	}
	return dst
}

func (f fileSplit) split() (operator.Split, error) {
	data, err := json.Marshal(f)
	if err != nil {
		return operator.Split{}, fmt.Errorf("files: split of %s: %w", f.Key, err)
	}
	return operator.Split{ID: fmt.Sprintf("%s@%d", f.Key, f.Start), Data: data}, nil
}

// hiddenObject reports whether a path element of key after the prefix's
// directory starts with '.' or '_'.
func hiddenObject(prefix, key string) bool {
	rel := key[strings.LastIndexByte(prefix, '/')+1:]
	for rel != "" {
		if rel[0] == '.' || rel[0] == '_' {
			return true
		}
		i := strings.IndexByte(rel, '/')
		if i < 0 {
			break
		}
		rel = rel[i+1:]
	}
	return false
}

// filesReadBuffer is the read buffer of the files source; longer lines are
// accumulated, never truncated.
const filesReadBuffer = 256 << 10

type filesSource struct {
	cfg    *FilesSourceConfig
	bucket *blob.Bucket
	br     *bufio.Reader
	long   []byte // accumulates lines longer than the buffer
	rec    record.Record
}

func newFilesSource(cfg any) (operator.Source, error) {
	c, err := configAs(FilesSource, cfg, newFilesSourceConfig)
	if err != nil {
		return nil, err
	}
	return &filesSource{cfg: c}, nil
}

func (s *filesSource) Open(ctx context.Context, oc operator.Context) error {
	b, err := oc.Bucket(ctx, s.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("files: open %s: %w", bucketName(s.cfg.Bucket), err)
	}
	s.bucket = b
	s.br = bufio.NewReaderSize(nil, filesReadBuffer)
	return nil
}

func (s *filesSource) ReadSplit(ctx context.Context, sp operator.Split, out operator.Emitter) error {
	var f fileSplit
	if err := json.Unmarshal(sp.Data, &f); err != nil {
		return fmt.Errorf("files: split %s: %w", sp.ID, err)
	}
	if f.Start < 0 || f.End < f.Start {
		return fmt.Errorf("files: split %s: bad range [%d, %d)", sp.ID, f.Start, f.End)
	}
	if f.Start == f.End {
		return nil
	}
	if err := s.read(ctx, f, out); err != nil {
		return fmt.Errorf("read split %s of %s: %w", sp.ID, bucketName(s.cfg.Bucket), err)
	}
	return nil
}

// read emits every line whose first byte is in [f.Start, f.End). A line
// that starts before f.Start belongs to the previous split, so reading starts
// one byte early and skips through the first '\n'; the last line is read to
// its end even past f.End.
func (s *filesSource) read(ctx context.Context, f fileSplit, out operator.Emitter) error {
	off := max(f.Start-1, 0)
	rr, err := s.bucket.NewRangeReader(ctx, f.Key, off, -1, nil)
	if err != nil {
		return err
	}
	defer rr.Close()
	if f.Size > 0 && rr.Size() != f.Size {
		return fmt.Errorf("object %s is %d bytes long, not %d as when the job was submitted", f.Key, rr.Size(), f.Size)
	}
	s.br.Reset(rr)
	defer s.br.Reset(nil)
	pos := f.Start
	if f.Start > 0 {
		n, err := s.skipLine()
		pos = off + n
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	done := ctx.Done()
	for pos < f.End {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		line, err := s.readLine()
		if len(line) == 0 && err == io.EOF {
			return nil
		}
		if err != nil && err != io.EOF {
			return err
		}
		pos += int64(len(line))
		if line[len(line)-1] == '\n' {
			line = line[:len(line)-1]
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		s.rec.Fields = append(s.rec.Fields[:0], record.Field{Name: s.cfg.Field, Value: record.Str(string(line))})
		if err := out.Emit(&s.rec); err != nil {
			return err
		}
		if err == io.EOF {
			return nil
		}
	}
	return nil
}

// readLine returns the next line including its '\n' (absent on the last line
// of an object without a final newline), valid until the next read.
func (s *filesSource) readLine() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	s.long = append(s.long[:0], line...)
	for {
		line, err = s.br.ReadSlice('\n')
		s.long = append(s.long, line...)
		if err != bufio.ErrBufferFull {
			return s.long, err
		}
	}
}

// skipLine discards through the next '\n' and returns how many bytes it
// discarded.
func (s *filesSource) skipLine() (int64, error) {
	var n int64
	for {
		line, err := s.br.ReadSlice('\n')
		n += int64(len(line))
		if err != bufio.ErrBufferFull {
			return n, err
		}
	}
}

func (s *filesSource) Close() error {
	s.bucket, s.br, s.long = nil, nil, nil
	return nil
}
