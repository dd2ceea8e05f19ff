package builtin

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gocloud.dev/blob"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// FilesSinkConfig configures the files sink, which writes one part object
// per subtask: <prefix>part-<vertex>-<subtask %05d>.<jsonl|csv|txt>.
type FilesSinkConfig struct {
	// Bucket is the bucket URL; "" is the job's default bucket.
	Bucket string `json:"bucket"`
	// Prefix starts the object names; "{job}" in it is replaced by the job
	// id, and a '/' is added unless it is empty or ends with one.
	Prefix string `json:"prefix"`
	// Format is "jsonl" (a JSON object per line), "csv" or "text" (the
	// values of Fields, or of all fields, separated by tabs: with one field,
	// the bare value).
	Format string `json:"format"`
	// Fields selects the fields to write and their order; csv requires it.
	// Missing fields are written as null (jsonl) or empty (csv, text).
	Fields []string `json:"fields"`
	// Header writes the field names as the first row (csv only).
	Header bool `json:"header"`
}

// Formats of the files sink.
const (
	formatJSONL = "jsonl"
	formatCSV   = "csv"
	formatText  = "text"
)

// Validate implements operator.Validator.
func (c *FilesSinkConfig) Validate() error {
	var errs []error
	errs = append(errs, required("prefix", c.Prefix))
	switch c.Format {
	case formatJSONL, formatText:
	case formatCSV:
		if len(c.Fields) == 0 {
			errs = append(errs, operator.Errorf("fields", "required by format %q", formatCSV))
		}
	default:
		errs = append(errs, operator.Errorf("format", "must be %q, %q or %q, not %q", formatJSONL, formatCSV, formatText, c.Format))
	}
	if c.Header && c.Format != formatCSV {
		errs = append(errs, operator.Errorf("header", "only format %q has a header", formatCSV))
	}
	seen := map[string]bool{}
	for i, f := range c.Fields {
		field := fmt.Sprintf("fields[%d]", i)
		switch {
		case f == "":
			errs = append(errs, operator.Errorf(field, "empty field name"))
		case seen[f]:
			errs = append(errs, operator.Errorf(field, "duplicate field %q", f))
		}
		seen[f] = true
	}
	return errors.Join(errs...)
}

func newFilesSinkConfig() *FilesSinkConfig { return &FilesSinkConfig{Format: formatJSONL} }

func filesSinkDef() operator.Definition {
	return operator.Definition{
		Name: FilesSink,
		Kind: operator.KindSink,
		Doc: "Writes records to one object per subtask, <prefix>part-<vertex>-<subtask>.<ext>, " +
			"as jsonl, csv or text. An object appears only when its subtask finishes its input.",
		NewConfig:   func() any { return newFilesSinkConfig() },
		NewOperator: newFilesSink,
	}
}

// filesSinkBuffer is the write buffer in front of the bucket writer.
const filesSinkBuffer = 256 << 10

type filesSink struct {
	cfg    *FilesSinkConfig
	key    string
	cancel context.CancelFunc // aborts the write
	w      *blob.Writer       // nil once committed or aborted
	bw     *bufio.Writer
	csv    *csv.Writer
	row    []string
	buf    []byte
	proj   record.Record
}

func newFilesSink(cfg any) (operator.Operator, error) {
	c, err := configAs(FilesSink, cfg, newFilesSinkConfig)
	if err != nil {
		return nil, err
	}
	return &filesSink{cfg: c}, nil
}

// partName returns the object name of a subtask's part.
func partName(prefix, job, vertex string, subtask int, format string) string {
	prefix = strings.ReplaceAll(prefix, "{job}", job)
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	ext := map[string]string{formatJSONL: "jsonl", formatCSV: "csv", formatText: "txt"}[format]
	return fmt.Sprintf("%spart-%s-%05d.%s", prefix, vertex, subtask, ext)
}

func (s *filesSink) Open(ctx context.Context, oc operator.Context, _ operator.Emitter) error {
	b, err := oc.Bucket(ctx, s.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("files sink: open %s: %w", bucketName(s.cfg.Bucket), err)
	}
	s.key = partName(s.cfg.Prefix, oc.Job(), oc.Vertex(), oc.Subtask(), s.cfg.Format)
	contentType := map[string]string{
		formatJSONL: "application/x-ndjson",
		formatCSV:   "text/csv; charset=utf-8",
		formatText:  "text/plain; charset=utf-8",
	}[s.cfg.Format]
	wctx, cancel := context.WithCancel(ctx)
	w, err := b.NewWriter(wctx, s.key, &blob.WriterOptions{ContentType: contentType})
	if err != nil {
		cancel()
		return fmt.Errorf("files sink: create %s in %s: %w", s.key, bucketName(s.cfg.Bucket), err)
	}
	s.w, s.cancel = w, cancel
	s.bw = bufio.NewWriterSize(w, filesSinkBuffer)
	if s.cfg.Format == formatCSV {
		s.csv = csv.NewWriter(s.bw)
		s.row = make([]string, len(s.cfg.Fields))
		if s.cfg.Header {
			if err := s.csv.Write(s.cfg.Fields); err != nil {
				return s.writeError(err)
			}
		}
	}
	return nil
}

func (s *filesSink) writeError(err error) error {
	return fmt.Errorf("files sink: write %s in %s: %w", s.key, bucketName(s.cfg.Bucket), err)
}

func (s *filesSink) Process(r *record.Record) error {
	var err error
	switch s.cfg.Format {
	case formatJSONL:
		if len(s.cfg.Fields) > 0 {
			s.proj.Fields = s.proj.Fields[:0]
			for _, f := range s.cfg.Fields {
				v, _ := r.Get(f)
				s.proj.Fields = append(s.proj.Fields, record.Field{Name: f, Value: v})
			}
			r = &s.proj
		}
		s.buf = r.AppendJSON(s.buf[:0])
		s.buf = append(s.buf, '\n')
		_, err = s.bw.Write(s.buf)
	case formatCSV:
		for i, f := range s.cfg.Fields {
			v, _ := r.Get(f)
			s.row[i] = string(appendText(s.buf[:0], v))
		}
		err = s.csv.Write(s.row)
	case formatText:
		s.buf = s.buf[:0]
		if len(s.cfg.Fields) > 0 {
			for i, f := range s.cfg.Fields {
				if i > 0 {
					s.buf = append(s.buf, '\t')
				}
				v, _ := r.Get(f)
				s.buf = appendText(s.buf, v)
			}
		} else {
			for i := range r.Fields {
				if i > 0 {
					s.buf = append(s.buf, '\t')
				}
				s.buf = appendText(s.buf, r.Fields[i].Value)
			}
		}
		s.buf = append(s.buf, '\n')
		_, err = s.bw.Write(s.buf)
	}
	if err != nil {
		return s.writeError(err)
	}
	return nil
}

// appendText renders a value as a text or csv cell: strings bare, null empty,
// lists as JSON.
func appendText(dst []byte, v record.Value) []byte {
	switch v.Kind() {
	case record.Null:
		return dst
	case record.String:
		return append(dst, v.Str()...)
	case record.Int:
		return strconv.AppendInt(dst, v.Int(), 10)
	case record.List:
		return v.AppendJSON(dst)
	}
	return append(dst, v.String()...)
}

// EndInput flushes and commits the object.
func (s *filesSink) EndInput() error {
	if s.w == nil {
		return nil
	}
	if s.csv != nil {
		s.csv.Flush()
		if err := s.csv.Error(); err != nil {
			return s.writeError(err)
		}
	}
	if err := s.bw.Flush(); err != nil {
		return s.writeError(err)
	}
	w := s.w
	s.w = nil
	if err := w.Close(); err != nil {
		return fmt.Errorf("files sink: commit %s in %s: %w", s.key, bucketName(s.cfg.Bucket), err)
	}
	return nil
}

// Close aborts the write unless EndInput committed it, so that a failed or
// cancelled subtask leaves no partial object.
func (s *filesSink) Close() error {
	if s.w != nil {
		s.cancel()
		_ = s.w.Close() // fails with the cancellation: the write is aborted
		s.w = nil
	}
	if s.cancel != nil {
		s.cancel()
	}
	return nil
}
