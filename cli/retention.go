package cli

import (
	"flag"
	"fmt"
	"time"
)

// retentionFlags are the coordinator's retention of ended jobs (see
// coordinator.Config.RetainEnded): how long, and how many, ended jobs stay
// in the replicated store and the coordinator's job list once archived.
type retentionFlags struct {
	ended *time.Duration
	max   *int
}

func addRetentionFlags(fs *flag.FlagSet) *retentionFlags {
	return &retentionFlags{
		ended: fs.Duration("retain-ended", time.Hour, "how long an ended job stays in the coordinator's store and job list once its archive is written; then it is retired and served from its archive (the history server lists it); 0 retires it at once"),
		max:   fs.Int("retain-ended-max", 1000, "the most ended jobs the coordinator keeps; beyond it the earliest ended are retired sooner, once archived; 0 keeps none"),
	}
}

// values returns the flags as coordinator.Config takes them, where zero
// picks the default and a negative value means none.
func (r *retentionFlags) values() (time.Duration, int, error) {
	d, n := *r.ended, *r.max
	if d < 0 {
		return 0, 0, usageError{fmt.Errorf("--retain-ended %s: want 0 or more", d)}
	}
	if n < 0 {
		return 0, 0, usageError{fmt.Errorf("--retain-ended-max %d: want 0 or more", n)}
	}
	if d == 0 {
		d = -1
	}
	if n == 0 {
		n = -1
	}
	return d, n, nil
}
