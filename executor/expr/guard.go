package expr

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"

	"github.com/sluicehq/sluice/executor/record"
)

// Names of the internal functions the guard patches into expressions. They
// start with "__" so that they cannot clash with field names in practice.
const (
	fnAdd  = "__add"
	fnStep = "__step"
)

// guard is an ast.Visitor run by expr-lang on the type-checked tree. It
//   - rewrites a + b, unless both operands are known to be numbers, into
//     __add(a, b), which counts the bytes of concatenated strings;
//   - prefixes every predicate (loop body) with a call to __step, which
//     counts iterations;
//   - collects the identifiers the expression reads, so that only those
//     fields are bound for each evaluation, and notes whether it uses $env.
type guard struct {
	funcs   map[string]bool
	idents  map[string]struct{}
	usesEnv bool
}

func (g *guard) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if n.Value == "$env" {
			g.usesEnv = true
			return
		}
		if g.funcs[n.Value] {
			return
		}
		if g.idents == nil {
			g.idents = map[string]struct{}{}
		}
		g.idents[n.Value] = struct{}{}
	case *ast.BinaryNode:
		if n.Operator != "+" || (isNumber(n.Left) && isNumber(n.Right)) {
			return
		}
		ast.Patch(node, &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: fnAdd},
			Arguments: []ast.Node{n.Left, n.Right},
		})
	case *ast.PredicateNode:
		if seq, ok := n.Node.(*ast.SequenceNode); ok && len(seq.Nodes) > 0 && isStep(seq.Nodes[0]) {
			return
		}
		step := &ast.CallNode{Callee: &ast.IdentifierNode{Value: fnStep}}
		step.SetLocation(n.Location())
		step.Callee.SetLocation(n.Location())
		seq := &ast.SequenceNode{Nodes: []ast.Node{step, n.Node}}
		seq.SetLocation(n.Node.Location())
		n.Node = seq
	}
}

func (g *guard) identifiers() []string {
	names := make([]string, 0, len(g.idents))
	for n := range g.idents {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func isStep(n ast.Node) bool {
	c, ok := n.(*ast.CallNode)
	if !ok {
		return false
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	return ok && id.Value == fnStep
}

func isNumber(n ast.Node) bool {
	t := n.Type()
	if t == nil {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

type function struct {
	name string
	fn   func(args ...any) (any, error)
}

// functions are the functions compiled into p: the guard's helpers, the
// guarded replacements of expr builtins, and Sluice's additions.
func (p *Program) functions() []function {
	return []function{
		{fnAdd, p.add},
		{fnStep, p.step},
		{"join", p.join},
		{"replace", p.replace},
		{"coalesce", coalesce},
		{"hash", hash},
	}
}

// charge accounts for n more bytes of built strings.
func (p *Program) charge(n int) error {
	p.strBytes += n
	if n < 0 || p.strBytes > MaxStringBytes {
		return fmt.Errorf("%w: it built more than %d bytes of strings", ErrLimit, MaxStringBytes)
	}
	return nil
}

func (p *Program) step(...any) (any, error) {
	p.steps++
	if p.steps > MaxIterations {
		return nil, fmt.Errorf("%w: it ran more than %d loop iterations", ErrLimit, MaxIterations)
	}
	return nil, nil
}

func (p *Program) add(args ...any) (any, error) {
	if x, ok := args[0].(string); ok {
		if y, ok := args[1].(string); ok {
			if err := p.charge(len(x) + len(y)); err != nil {
				return nil, err
			}
			return x + y, nil
		}
	}
	return runtime.Add(args[0], args[1]), nil
}

func (p *Program) join(args ...any) (any, error) {
	if len(args) < 1 || len(args) > 2 {
		return nil, fmt.Errorf("join takes 1 or 2 arguments, got %d", len(args))
	}
	glue := ""
	if len(args) == 2 {
		g, ok := args[1].(string)
		if !ok {
			return nil, fmt.Errorf("join: separator is %s, want a string", TypeName(args[1]))
		}
		glue = g
	}
	var parts []string
	switch l := args[0].(type) {
	case []string:
		parts = l
	case []any:
		parts = make([]string, len(l))
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("join: element %d is %s, want a string", i, TypeName(e))
			}
			parts[i] = s
		}
	default:
		return nil, fmt.Errorf("join: argument is %s, want a list of strings", TypeName(args[0]))
	}
	n := 0
	for _, s := range parts {
		n += len(s)
	}
	if len(parts) > 1 {
		n += len(glue) * (len(parts) - 1)
	}
	if err := p.charge(n); err != nil {
		return nil, err
	}
	return strings.Join(parts, glue), nil
}

func (p *Program) replace(args ...any) (any, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("replace takes 3 arguments, got %d", len(args))
	}
	var s [3]string
	for i := range s {
		x, ok := args[i].(string)
		if !ok {
			return nil, fmt.Errorf("replace: argument %d is %s, want a string", i+1, TypeName(args[i]))
		}
		s[i] = x
	}
	str, old, repl := s[0], s[1], s[2]
	var n int
	if old == "" {
		n = len(str) + (len(str)+1)*len(repl)
	} else {
		n = len(str) + strings.Count(str, old)*(len(repl)-len(old))
	}
	if err := p.charge(n); err != nil {
		return nil, err
	}
	return strings.ReplaceAll(str, old, repl), nil
}

func coalesce(args ...any) (any, error) {
	for _, a := range args {
		if a != nil {
			return a, nil
		}
	}
	return nil, nil
}

func hash(args ...any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("hash takes 1 argument, got %d", len(args))
	}
	v, err := ToValue(args[0])
	if err != nil {
		return nil, fmt.Errorf("hash: %w", err)
	}
	k, err := record.KeyOf(v)
	if err != nil {
		return nil, fmt.Errorf("hash: %w", err)
	}
	return int(k.Hash() >> 1), nil
}
