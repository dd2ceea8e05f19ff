package builtin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// TokenizeConfig configures tokenize.
type TokenizeConfig struct {
	// Field is the string field to split; records where it is missing or
	// null produce no tokens.
	Field string `json:"field"`
	// As is the field name of the emitted token.
	As string `json:"as"`
	// Lowercase lowercases tokens.
	Lowercase bool `json:"lowercase"`
	// MinLength drops tokens of fewer characters.
	MinLength int `json:"minLength"`
}

// Validate implements operator.Validator.
func (c *TokenizeConfig) Validate() error {
	var errs []error
	errs = append(errs, required("field", c.Field), required("as", c.As))
	if c.MinLength < 1 {
		errs = append(errs, operator.Errorf("minLength", "must be at least 1, not %d", c.MinLength))
	}
	return errors.Join(errs...)
}

func newTokenizeConfig() *TokenizeConfig {
	return &TokenizeConfig{Field: "line", As: "word", Lowercase: true, MinLength: 1}
}

func tokenizeDef() operator.Definition {
	return operator.Definition{
		Name: Tokenize,
		Kind: operator.KindTransform,
		Doc: "Splits a string field into words (runs of letters, digits and combining marks; " +
			"everything else, apostrophes included, separates words) and emits {<as>: word} per word.",
		NewConfig:   func() any { return newTokenizeConfig() },
		NewOperator: newTokenize,
	}
}

// Byte classes of the ASCII fast path.
const (
	classWord  = 1 << iota // ASCII letter or digit
	classUpper             // ASCII upper-case letter
)

type tokenizeOp struct {
	nopOperator
	field     string
	as        string
	lowercase bool
	minLength int
	out       operator.Emitter
	rec       record.Record
	lower     []byte
	class     [utf8.RuneSelf]uint8
}

func newTokenize(cfg any) (operator.Operator, error) {
	c, err := configAs(Tokenize, cfg, newTokenizeConfig)
	if err != nil {
		return nil, err
	}
	t := &tokenizeOp{field: c.Field, as: c.As, lowercase: c.Lowercase, minLength: c.MinLength}
	for b := range utf8.RuneSelf {
		switch {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9':
			t.class[b] = classWord
		case b >= 'A' && b <= 'Z':
			t.class[b] = classWord | classUpper
		}
	}
	t.rec.Fields = make([]record.Field, 1)
	return t, nil
}

func (t *tokenizeOp) Open(_ context.Context, _ operator.Context, out operator.Emitter) error {
	t.out = out
	return nil
}

// isWordRune reports whether a non-ASCII rune belongs to a word. Combining
// marks count so that scripts written with them (Devanagari vowel signs,
// decomposed accents) are not cut inside words.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

func (t *tokenizeOp) Process(r *record.Record) error {
	t.rec.Time, t.rec.Timed = r.Time, r.Timed
	v, _ := r.Get(t.field)
	switch v.Kind() {
	case record.String:
	case record.Null:
		return nil
	default:
		return fmt.Errorf("tokenize: field %q is %s, want a string", t.field, v.Kind())
	}
	s := v.Str()
	class := &t.class
	for i := 0; i < len(s); {
		// skip separators
		if c := s[i]; c < utf8.RuneSelf {
			if class[c]&classWord == 0 {
				i++
				continue
			}
		} else if r, size := utf8.DecodeRuneInString(s[i:]); !isWordRune(r) {
			i += size
			continue
		}
		// ASCII fast path, then runes
		start := i
		var flags uint8
		for i < len(s) && s[i] < utf8.RuneSelf && class[s[i]]&classWord != 0 {
			flags |= class[s[i]]
			i++
		}
		chars, upper, ascii := i-start, flags&classUpper != 0, true
		for i < len(s) {
			c := s[i]
			if c < utf8.RuneSelf {
				cl := class[c]
				if cl&classWord == 0 {
					break
				}
				upper = upper || cl&classUpper != 0
				i++
				chars++
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if !isWordRune(r) {
				break
			}
			ascii = false
			i += size
			chars++
		}
		if chars < t.minLength {
			continue
		}
		tok := s[start:i]
		if t.lowercase && (upper || !ascii) {
			if ascii {
				t.lower = t.lower[:0]
				for j := 0; j < len(tok); j++ {
					c := tok[j]
					if t.class[c]&classUpper != 0 {
						c += 'a' - 'A'
					}
					t.lower = append(t.lower, c)
				}
				tok = string(t.lower)
			} else {
				tok = strings.ToLower(tok) // allocates only if it changes tok
			}
		}
		t.rec.Fields = t.rec.Fields[:1]
		f := &t.rec.Fields[0]
		f.Name, f.Value = t.as, record.Str(tok)
		if err := t.out.Emit(&t.rec); err != nil {
			return err
		}
	}
	return nil
}
