package builtin

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// PrintConfig configures print.
type PrintConfig struct {
	// Prefix starts each line with "<vertex>:<subtask>> ", as Flink's print
	// sink does.
	Prefix bool `json:"prefix"`
}

func printDef() operator.Definition {
	return operator.Definition{
		Name:        Print,
		Kind:        operator.KindSink,
		Doc:         `Writes each record as a JSON line to the executor's stdout, after "<vertex>:<subtask>> ".`,
		NewConfig:   func() any { return &PrintConfig{Prefix: true} },
		NewOperator: newPrint,
	}
}

type printSink struct {
	nopOperator
	prefix bool
	w      io.Writer
	head   []byte
	buf    []byte
}

func newPrint(cfg any) (operator.Operator, error) {
	c, err := configAs(Print, cfg, func() *PrintConfig { return &PrintConfig{Prefix: true} })
	if err != nil {
		return nil, err
	}
	return &printSink{prefix: c.Prefix}, nil
}

func (p *printSink) Open(_ context.Context, oc operator.Context, _ operator.Emitter) error {
	p.w = oc.Stdout()
	if p.prefix {
		p.head = append(p.head[:0], oc.Vertex()...)
		p.head = append(p.head, ':')
		p.head = strconv.AppendInt(p.head, int64(oc.Subtask()), 10)
		p.head = append(p.head, "> "...)
	}
	return nil
}

// Process writes one whole line per Write, so that lines of subtasks sharing
// stdout do not interleave.
func (p *printSink) Process(r *record.Record) error {
	p.buf = append(p.buf[:0], p.head...)
	p.buf = r.AppendJSON(p.buf)
	p.buf = append(p.buf, '\n')
	if _, err := p.w.Write(p.buf); err != nil {
		return fmt.Errorf("print: %w", err)
	}
	return nil
}
