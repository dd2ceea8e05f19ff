package blobstate

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// checkKey accepts the keys that every backend stores under the same name
// without escaping: Sluice's own keys, and users' output names. Bucket's
// methods refuse other keys with an error naming them, rather than have
// file:// and azblob:// disagree about where an object lives.
func checkKey(key string) error {
	bad := ""
	switch {
	case key == "":
		bad = "empty"
	case !utf8.ValidString(key):
		bad = "not UTF-8"
	case strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/"):
		bad = "starts or ends with /"
	case strings.Contains(key, "//"):
		bad = "has an empty path segment"
	case strings.ContainsAny(key, "\\\"#%?\x7f"):
		bad = `has one of \ " # % ?`
	case strings.Contains(key, "__0x"):
		bad = "has __0x (an escape sequence)"
	case strings.HasSuffix(key, ".attrs"):
		bad = "ends with .attrs (reserved by file:// buckets)"
	case len(key) > 1024:
		bad = "longer than 1024 bytes"
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			bad = "has a . or .. segment"
		}
	}
	for _, r := range key {
		if r < 0x20 {
			bad = "has a control character"
		}
	}
	if bad != "" {
		return fmt.Errorf("object key %q: %s", key, bad)
	}
	return nil
}
