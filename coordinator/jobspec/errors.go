package jobspec

import "strings"

// FieldError is one problem with a spec, at Path: a dotted path into the
// document with list indexes ("edges[1].partitioning",
// "vertices[2].config.key"), or "" for the whole document.
type FieldError struct {
	Path string `json:"path"`
	Msg  string `json:"msg"`
}

func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// ValidationError lists every problem Parse or Validate found in a spec.
type ValidationError struct {
	Errors []FieldError `json:"errors"`
}

// Error lists the problems, one "path: message" per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual problems, so that errors.As finds a
// FieldError.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, fe := range e.Errors {
		errs[i] = fe
	}
	return errs
}

// problems collects FieldErrors.
type problems []FieldError

func (p *problems) add(path, msg string) {
	*p = append(*p, FieldError{Path: path, Msg: msg})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Errors: p}
}
