package jobspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// The formats Parse understands.
const (
	FormatJSON = "json"
	FormatYAML = "yaml"
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Parse reads a spec from data in the given format: FormatJSON, FormatYAML
// ("yml" is accepted too) or "" to guess (a document whose first non-space
// byte is '{' is JSON, anything else YAML).
//
// Syntax errors give the line and column. Fields the spec does not know
// (outside vertex configs, which Validate checks) and values of the wrong
// type are reported all at once in a *ValidationError naming their paths.
// Parse neither validates the graph nor fills in defaults: see Validate and
// Normalize.
func Parse(data []byte, format string) (*Spec, error) {
	if len(data) > MaxSpecSize {
		return nil, fmt.Errorf("parse job spec: %d bytes is over the limit of %d bytes", len(data), MaxSpecSize)
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	switch format {
	case "":
		format = sniff(data)
	case FormatJSON, FormatYAML:
	case "yml":
		format = FormatYAML
	default:
		return nil, fmt.Errorf("parse job spec: unknown format %q (want %q or %q)", format, FormatJSON, FormatYAML)
	}
	if format == FormatYAML {
		j, err := yamlToJSON(data)
		if err != nil {
			return nil, fmt.Errorf("parse job spec: %w", err)
		}
		data = j
	} else if err := checkJSONSyntax(data); err != nil {
		return nil, fmt.Errorf("parse job spec: %w", err)
	}
	var s Spec
	if errs := decodeStrict(data, &s); len(errs) > 0 {
		return nil, &ValidationError{Errors: errs}
	}
	return &s, nil
}

// sniff guesses the format of data.
func sniff(data []byte) string {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return FormatJSON
	}
	return FormatYAML
}

// checkJSONSyntax reports the first syntax error in data with its position.
func checkJSONSyntax(data []byte) error {
	if json.Valid(data) {
		return nil
	}
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(data, int(se.Offset)-1)
		return fmt.Errorf("json: line %d, column %d: %s", line, col, se.Error())
	}
	if err == nil {
		// json.Valid and json.Unmarshal disagree; should not happen.
		return errors.New("json: invalid document")
	}
	return fmt.Errorf("json: %w", err)
}

// position returns the 1-based line and column (in bytes) of data[off].
func position(data []byte, off int) (line, col int) {
	off = max(0, min(off, len(data)))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = off - bytes.LastIndexByte(before, '\n')
	return line, col
}
