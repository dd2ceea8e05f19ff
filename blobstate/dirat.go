package blobstate

import (
	"fmt"
	"strconv"
	"strings"
)

// DirAt returns the checkpoint or savepoint directory at path, as the
// coordinator records it: "checkpoints/<job>/chk-<n>/" or "savepoints/<id>/".
func DirAt(b *Bucket, path string) (*Dir, error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) == 3 && parts[0] == "checkpoints" && strings.HasPrefix(parts[2], "chk-"):
		digits := strings.TrimPrefix(parts[2], "chk-")
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("checkpoint directory %q: %w", path, err)
		}
		if strconv.FormatInt(n, 10) != digits {
			return nil, fmt.Errorf("checkpoint directory %q: not chk-<n> as Checkpoints.Dir names it", path)
		}
		return NewCheckpoints(b, parts[1]).Dir(n), nil
	case len(parts) == 2 && parts[0] == "savepoints":
		return SavepointDir(b, parts[1]), nil
	}
	return nil, fmt.Errorf("%q is neither checkpoints/<job>/chk-<n>/ nor savepoints/<id>/", path)
}
