package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/store"
)

// bucketStorage is the coordinator's use of a job's bucket: checkpoint
// metadata, verification, commits of staged output, retention.
type bucketStorage struct {
	b *blobstate.Bucket
}

// storage opens the bucket at url (cached for the coordinator's life).
func (c *Coordinator) storage(ctx context.Context, url string) (*bucketStorage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.buckets[url]; ok {
		return st, nil
	}
	b, err := blobstate.OpenBucket(ctx, url, blobstate.Options{})
	if err != nil {
		return nil, err
	}
	st := &bucketStorage{b: b}
	if c.buckets == nil {
		c.buckets = map[string]*bucketStorage{}
	}
	c.buckets[url] = st
	return st, nil
}

// dir returns the checkpoint directory at path ("checkpoints/<job>/chk-7/").
func (s *bucketStorage) dir(path string) (*blobstate.Dir, error) {
	return blobstate.DirAt(s.b, path)
}

// writeMetadata writes a complete checkpoint's _metadata, last and once.
func (s *bucketStorage) writeMetadata(ctx context.Context, j *store.Job, cc *store.CompletedCheckpoint) error {
	stateJSON, err := json.Marshal(cc)
	if err != nil {
		return err
	}
	md := &blobstate.Metadata{
		Version: 1, Job: j.ID, Checkpoint: cc.ID, Savepoint: cc.Savepoint,
		CompletedAt: cc.CompletedAt, State: stateJSON,
	}
	for _, kps := range cc.Keyed {
		for _, kp := range kps {
			md.Pieces = append(md.Pieces, blobstate.Piece{Name: kp.Piece.Name, Size: kp.Piece.Size, SHA256: kp.Piece.SHA256})
		}
	}
	d, err := s.dir(cc.Dir)
	if err != nil {
		return err
	}
	if err := d.WriteMetadata(ctx, md); err != nil {
		return fmt.Errorf("write _metadata of checkpoint %d: %w", cc.ID, err)
	}
	return nil
}

// verify checks that a checkpoint is complete and every piece intact.
func (s *bucketStorage) verify(ctx context.Context, path string) error {
	d, err := s.dir(path)
	if err != nil {
		return err
	}
	md, err := d.ReadMetadata(ctx)
	if err != nil {
		return err
	}
	return d.Verify(ctx, md)
}

// readCompleted reads a complete checkpoint or savepoint's description.
func (s *bucketStorage) readCompleted(ctx context.Context, path string) (*store.CompletedCheckpoint, error) {
	d, err := s.dir(path)
	if err != nil {
		return nil, err
	}
	md, err := d.ReadMetadata(ctx)
	if err != nil {
		return nil, err
	}
	if err := d.Verify(ctx, md); err != nil {
		return nil, err
	}
	var cc store.CompletedCheckpoint
	if err := json.Unmarshal(md.State, &cc); err != nil {
		return nil, fmt.Errorf("%s_metadata: %w", path, err)
	}
	cc.Dir = path
	return &cc, nil
}

// commit makes staged output visible under its final name. It is
// idempotent: a final object that exists is the same commit done before.
func (s *bucketStorage) commit(ctx context.Context, c api.Commitable) error {
	b := s.b
	if c.Bucket != "" && c.Bucket != b.URL() {
		ob, err := blobstate.OpenBucket(ctx, c.Bucket, blobstate.Options{})
		if err != nil {
			return err
		}
		defer ob.Close()
		b = ob
	}
	err := b.CopyOnce(ctx, c.Staged, c.Final)
	switch {
	case err == nil, errors.Is(err, blobstate.ErrExists):
	case gcerrors.Code(err) == gcerrors.NotFound || errors.Is(err, blobstate.ErrNotFound):
		// staged gone: fine if the final object is there (committed before)
		if ok, xerr := b.Exists(ctx, c.Final); xerr == nil && ok {
			return nil
		}
		return fmt.Errorf("commit %s: the staged object %s is gone and %s does not exist", c.Final, c.Staged, c.Final)
	default:
		return fmt.Errorf("commit %s: %w", c.Final, err)
	}
	if err := b.Delete(ctx, c.Staged); err != nil && gcerrors.Code(err) != gcerrors.NotFound && !errors.Is(err, blobstate.ErrNotFound) {
		return fmt.Errorf("delete staged %s after commit: %w", c.Staged, err)
	}
	return nil
}

// retain deletes a job's checkpoint directories that are not in keep and
// older than the newest kept one.
func (s *bucketStorage) retain(ctx context.Context, job string, keep []int64) error {
	if len(keep) == 0 {
		return nil
	}
	kept := map[int64]bool{}
	newest := keep[0]
	for _, id := range keep {
		kept[id] = true
		newest = max(newest, id)
	}
	prefix := fmt.Sprintf("checkpoints/%s/", job)
	it := s.b.Blob().List(&blob.ListOptions{Prefix: prefix, Delimiter: "/"})
	var errs []error
	for {
		obj, err := it.Next(ctx)
		if err != nil {
			break
		}
		name := strings.TrimSuffix(strings.TrimPrefix(obj.Key, prefix), "/")
		id, err := strconv.ParseInt(strings.TrimPrefix(name, "chk-"), 10, 64)
		if !obj.IsDir || err != nil || kept[id] || id >= newest {
			continue
		}
		if err := blobstate.NewCheckpoints(s.b, job).Dir(id).Delete(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
