package expr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/sluicehq/sluice/executor/record"
)

// Limits on user expressions.
const (
	// MaxSourceLen is the longest accepted expression, in bytes.
	MaxSourceLen = 4096
	// MaxNodes is the largest accepted syntax tree, in nodes.
	MaxNodes = 1000
	// MemoryBudget is expr-lang's VM budget for one evaluation: the number of
	// elements of the ranges, arrays and maps it may build.
	MemoryBudget = 1_000_000
	// MaxStringBytes is how many bytes of strings one evaluation may build
	// with +, join and replace.
	MaxStringBytes = 16 << 20
	// MaxIterations is how many loop-body steps (of map, filter, all, any,
	// reduce, ...) one evaluation may run, nested loops included.
	MaxIterations = 1_000_000
)

// ErrLimit is matched (errors.Is) by evaluation errors caused by exceeding
// one of the limits.
var ErrLimit = errors.New("expression resource limit exceeded")

// Program is a compiled expression. It is not safe for concurrent use.
type Program struct {
	src  string
	prog *vm.Program
	vm   vm.VM
	env  map[string]any
	// names are the variables the expression reads; bound one by one unless
	// all is set (the expression uses $env and may read any field).
	names []string
	all   bool

	// per-evaluation counters of the guarded operations
	strBytes int
	steps    int
}

// Compile compiles src. Syntax and type errors name the expression.
func Compile(src string) (*Program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty expression")
	}
	if len(src) > MaxSourceLen {
		return nil, fmt.Errorf("expression %s is %d bytes long, more than the limit of %d", quote(src), len(src), MaxSourceLen)
	}
	p := &Program{src: src, env: make(map[string]any)}
	g := &guard{funcs: map[string]bool{}}
	opts := []expr.Option{
		expr.Env(map[string]any{}),
		expr.AllowUndefinedVariables(),
		expr.MaxNodes(MaxNodes),
	}
	for _, f := range p.functions() {
		g.funcs[f.name] = true
		opts = append(opts, expr.Function(f.name, f.fn))
	}
	opts = append(opts, expr.Patch(g))
	prog, err := compile(src, opts)
	if err != nil {
		return nil, compileError(src, err)
	}
	p.prog = prog
	p.vm.MemoryBudget = MemoryBudget
	p.all = g.usesEnv
	if !p.all {
		p.names = g.identifiers()
	}
	return p, nil
}

// compile runs expr.Compile, turning a panic inside expr-lang (which it does
// for some malformed trees) into an error.
func compile(src string, opts []expr.Option) (prog *vm.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return expr.Compile(src, opts...)
}

// Check compiles src and discards the result; use it to validate a job spec.
func Check(src string) error {
	_, err := Compile(src)
	return err
}

// Source returns the expression's text.
func (p *Program) Source() string { return p.src }

// Bind sets the program's variables to r's fields and returns the variable
// map, which the caller may extend (with an accumulator, say) before calling
// EvalWith. The map is reused by the next Bind or Eval.
func (p *Program) Bind(r *record.Record) map[string]any {
	env := p.env
	if p.all {
		clear(env)
		for i := range r.Fields {
			env[r.Fields[i].Name] = ToAny(r.Fields[i].Value)
		}
		return env
	}
	for _, name := range p.names {
		var x any
		for i := range r.Fields {
			if r.Fields[i].Name == name {
				x = ToAny(r.Fields[i].Value)
				break
			}
		}
		env[name] = x
	}
	return env
}

// Eval evaluates the expression with r's fields as variables.
func (p *Program) Eval(r *record.Record) (any, error) {
	return p.EvalWith(p.Bind(r))
}

// EvalWith evaluates the expression with vars as its variables.
func (p *Program) EvalWith(vars map[string]any) (any, error) {
	p.strBytes, p.steps = 0, 0
	out, err := p.vm.Run(p.prog, vars)
	if err != nil {
		return nil, p.evalError(err)
	}
	return out, nil
}

// EvalValue evaluates the expression and converts the result to a Value.
func (p *Program) EvalValue(r *record.Record) (record.Value, error) {
	out, err := p.Eval(r)
	if err != nil {
		return record.Value{}, err
	}
	v, err := ToValue(out)
	if err != nil {
		return record.Value{}, fmt.Errorf("expression %s: result: %w", quote(p.src), err)
	}
	return v, nil
}

// EvalBool evaluates a condition; a result that is not a bool is an error
// naming its type.
func (p *Program) EvalBool(r *record.Record) (bool, error) {
	out, err := p.Eval(r)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("expression %s returned %s, want a bool", quote(p.src), TypeName(out))
	}
	return b, nil
}

func (p *Program) evalError(err error) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return fmt.Errorf("expression %s: %w", quote(p.src), err)
	}
	msg := fe.Message
	if fe.Prev != nil && !strings.Contains(msg, fe.Prev.Error()) {
		msg = fe.Prev.Error()
	}
	at := ""
	if fe.Line > 0 {
		at = fmt.Sprintf(" (%d:%d)", fe.Line, fe.Column+1)
	}
	if strings.Contains(msg, "memory budget exceeded") {
		return fmt.Errorf("expression %s: %w: it built more than %d elements (ranges, arrays, maps)%s",
			quote(p.src), ErrLimit, MemoryBudget, at)
	}
	if fe.Prev != nil {
		return fmt.Errorf("expression %s: %w%s", quote(p.src), fe.Prev, at)
	}
	return fmt.Errorf("expression %s: %s%s", quote(p.src), msg, at)
}

func compileError(src string, err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		at := ""
		if fe.Line > 0 {
			at = fmt.Sprintf(" (%d:%d)", fe.Line, fe.Column+1)
		}
		return fmt.Errorf("invalid expression %s: %s%s", quote(src), fe.Message, at)
	}
	return fmt.Errorf("invalid expression %s: %v", quote(src), err)
}

// quote quotes an expression for an error message, shortening long ones.
func quote(src string) string {
	const max = 80
	if len(src) > max {
		cut := max
		for cut > 0 && src[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		return fmt.Sprintf("%q...", src[:cut])
	}
	return fmt.Sprintf("%q", src)
}
