// Package expr compiles and evaluates the user expressions of Sluice job specs
// (filter conditions, map projections, reduce functions) with
// github.com/expr-lang/expr.
//
// A record's fields are the expression's variables; a name that is not a field
// of the record evaluates to nil. Field names that collide with expr builtins
// (len, count, ...) or keywords are reachable through $env, e.g. $env["len"];
// `"f" in $env` tests whether a record has field f.
//
// A map literal as the body of a closure must be parenthesized, because
// braces there start the closure: map(tags, ({"tag": #})).
//
// Values reach expressions as nil, string, int, float64, bool and []any, and
// results convert back to record values (see ToValue).
//
// Besides expr's builtins (lower, upper, split, trim, len, map, filter, reduce,
// ...), expressions may call:
//
//	coalesce(a, b, ...)  the first argument that is not nil
//	hash(v)              a stable, non-negative int hash of a non-list value
//
// Expressions come from users and are bounded: the source may be at most
// MaxSourceLen bytes and MaxNodes syntax nodes, and one evaluation may allocate
// at most MemoryBudget elements (ranges, arrays, maps), build at most
// MaxStringBytes bytes of strings (+, join, replace) and run at most
// MaxIterations loop-body steps (map, filter, all, reduce, ...). Exceeding a
// limit fails the evaluation with an error that matches ErrLimit.
//
// A Program is compiled once per subtask and is not safe for concurrent use:
// it reuses one VM and one variable map between evaluations.
package expr
