package operatortest

import (
	"context"
	"fmt"
	"io"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/sluicehq/sluice/executor/operator"
)

// Commit makes staged sink output visible, as the coordinator does once
// the checkpoint that staged it is complete (or, for
// operator.FinalCheckpoint, once the job has finished): for each
// commitable, it copies Staged to Final unless Final exists
// (create-if-absent), then deletes Staged. Committing again is harmless:
// a Final that exists is kept, and a Staged already deleted is fine then.
// Buckets are opened through oc.
func Commit(ctx context.Context, oc operator.Context, cs []operator.Commitable) error {
	for _, c := range cs {
		b, err := oc.Bucket(ctx, c.Bucket)
		if err != nil {
			return fmt.Errorf("commit %s: %w", c.Final, err)
		}
		if err := commitOne(ctx, b, c); err != nil {
			return fmt.Errorf("commit %s as %s: %w", c.Staged, c.Final, err)
		}
	}
	return nil
}

func commitOne(ctx context.Context, b *blob.Bucket, c operator.Commitable) error {
	r, err := b.NewReader(ctx, c.Staged, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		if ok, _ := b.Exists(ctx, c.Final); ok {
			return nil // committed before
		}
		return fmt.Errorf("neither the staged nor the final object exists")
	}
	if err != nil {
		return err
	}
	defer r.Close()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := b.NewWriter(wctx, c.Final, &blob.WriterOptions{IfNotExist: true, ContentType: r.ContentType()})
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		cancel()
		w.Close()
		return err
	}
	if err := w.Close(); err != nil && gcerrors.Code(err) != gcerrors.FailedPrecondition {
		return err
	}
	if err := b.Delete(ctx, c.Staged); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return err
	}
	return nil
}
