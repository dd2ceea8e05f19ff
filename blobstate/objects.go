package blobstate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Sentinel errors of Bucket's methods; they arrive wrapped with the object
// and the bucket.
var (
	// ErrExists: WriteOnce or CopyOnce found its target already there.
	ErrExists = errors.New("object already exists")
	// ErrNotFound: the object to read or copy does not exist.
	ErrNotFound = errors.New("object not found")
)

// Write creates or replaces the object key with data. Readers see the old
// object or the new one, never a part of it.
func (b *Bucket) Write(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("write in %s: %w", b.name, err)
	}
	return b.retrying(ctx, "write "+key, func(ctx context.Context, _ bool) error {
		switch b.kind {
		case kindFile:
			return b.fileWrite(key, data, false)
		case kindAzure:
			return b.azureWrite(ctx, key, data, false)
		}
		return b.bucket.WriteAll(ctx, key, data, nil)
	})
}

// WriteOnce creates the object key with data if it does not exist, and
// fails with ErrExists if it does: of several writers racing to create the
// same key, exactly one succeeds. WriteOnce is safe to retry: when an
// earlier attempt of the same call failed in a way that may have left the
// object behind (a lost reply), an object holding exactly data counts as
// this call's own.
func (b *Bucket) WriteOnce(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("write-once in %s: %w", b.name, err)
	}
	return b.retrying(ctx, "write-once "+key, func(ctx context.Context, ambiguous bool) error {
		var err error
		switch b.kind {
		case kindFile:
			err = b.fileWrite(key, data, true)
		case kindAzure:
			err = b.azureWrite(ctx, key, data, true)
		default:
			err = b.bucket.WriteAll(ctx, key, data, &blob.WriterOptions{IfNotExist: true})
			if gcerrors.Code(err) == gcerrors.FailedPrecondition {
				err = ErrExists
			}
		}
		if errors.Is(err, ErrExists) && ambiguous {
			got, rerr := b.bucket.ReadAll(ctx, key)
			if rerr != nil {
				return rerr
			}
			if bytes.Equal(got, data) {
				return nil
			}
		}
		return err
	})
}

// CopyOnce copies the object src to dst if dst does not exist, and fails
// with ErrExists if it does; ErrNotFound if src does not exist. It commits
// staged files: of several committers, exactly one succeeds, and a replayed
// commit learns that it happened. azblob copies on the server; file:// makes
// dst a hard link to src (objects in a file:// bucket are never changed in
// place, only replaced).
func (b *Bucket) CopyOnce(ctx context.Context, src, dst string) error {
	what := "copy " + src + " to " + dst
	if err := checkKey(src); err != nil {
		return fmt.Errorf("%s in %s: %w", what, b.name, err)
	}
	if err := checkKey(dst); err != nil {
		return fmt.Errorf("%s in %s: %w", what, b.name, err)
	}
	if src == dst {
		return fmt.Errorf("%s in %s: source and destination are the same", what, b.name)
	}
	return b.retrying(ctx, what, func(ctx context.Context, ambiguous bool) error {
		var err error
		switch b.kind {
		case kindFile:
			err = b.fileCopyOnce(src, dst)
		case kindAzure:
			err = b.azureCopyOnce(ctx, src, dst)
		default:
			var data []byte
			if data, err = b.bucket.ReadAll(ctx, src); err == nil {
				err = b.bucket.WriteAll(ctx, dst, data, &blob.WriterOptions{IfNotExist: true})
				if gcerrors.Code(err) == gcerrors.FailedPrecondition {
					err = ErrExists
				}
			}
		}
		if errors.Is(err, ErrExists) && ambiguous {
			same, serr := b.sameContent(ctx, src, dst)
			if serr != nil {
				return serr
			}
			if same {
				return nil
			}
		}
		return asNotFound(err)
	})
}

// Read returns the content of the object key; ErrNotFound if it does not
// exist.
func (b *Bucket) Read(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("read in %s: %w", b.name, err)
	}
	var data []byte
	err := b.retrying(ctx, "read "+key, func(ctx context.Context, _ bool) error {
		var err error
		data, err = b.bucket.ReadAll(ctx, key)
		return asNotFound(err)
	})
	return data, err
}

// Exists reports whether the object key exists.
func (b *Bucket) Exists(ctx context.Context, key string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, fmt.Errorf("stat in %s: %w", b.name, err)
	}
	var ok bool
	err := b.retrying(ctx, "stat "+key, func(ctx context.Context, _ bool) error {
		var err error
		ok, err = b.bucket.Exists(ctx, key)
		return err
	})
	return ok, err
}

// Delete deletes the object key; a missing object is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("delete in %s: %w", b.name, err)
	}
	return b.retrying(ctx, "delete "+key, func(ctx context.Context, _ bool) error {
		err := b.bucket.Delete(ctx, key)
		if isNotFound(err) {
			return nil
		}
		return err
	})
}

// List returns the objects whose keys start with prefix, in key order. With
// a delimiter, keys that continue past it after the prefix are collapsed into
// one entry per common prefix, with IsDir set (as in gocloud.dev/blob).
func (b *Bucket) List(ctx context.Context, prefix, delimiter string) ([]*blob.ListObject, error) {
	var out []*blob.ListObject
	err := b.retrying(ctx, "list "+prefix, func(ctx context.Context, _ bool) error {
		out = out[:0]
		it := b.bucket.List(&blob.ListOptions{Prefix: prefix, Delimiter: delimiter})
		for {
			o, err := it.Next(ctx)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			out = append(out, o)
		}
	})
	return out, err
}

// sameContent reports whether two objects hold the same bytes.
func (b *Bucket) sameContent(ctx context.Context, x, y string) (bool, error) {
	if b.kind == kindAzure {
		if err := b.azureWaitCopy(ctx, y); err != nil {
			return false, err
		}
	}
	ax, err := b.bucket.Attributes(ctx, x)
	if err != nil {
		return false, asNotFound(err)
	}
	ay, err := b.bucket.Attributes(ctx, y)
	if err != nil {
		return false, asNotFound(err)
	}
	if ax.Size != ay.Size {
		return false, nil
	}
	rx, err := b.bucket.NewReader(ctx, x, nil)
	if err != nil {
		return false, err
	}
	defer rx.Close()
	ry, err := b.bucket.NewReader(ctx, y, nil)
	if err != nil {
		return false, err
	}
	defer ry.Close()
	bx, by := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		nx, ex := io.ReadFull(rx, bx)
		ny, ey := io.ReadFull(ry, by)
		if !bytes.Equal(bx[:nx], by[:ny]) {
			return false, nil
		}
		endx := ex == io.EOF || ex == io.ErrUnexpectedEOF
		endy := ey == io.EOF || ey == io.ErrUnexpectedEOF
		switch {
		case ex != nil && !endx:
			return false, ex
		case ey != nil && !endy:
			return false, ey
		case endx || endy:
			return endx && endy, nil
		}
	}
}

// isNotFound recognizes a missing object from any backend.
func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, fs.ErrNotExist) || gcerrors.Code(err) == gcerrors.NotFound ||
		bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.CannotVerifyCopySource) {
		return true
	}
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound && !bloberror.HasCode(err, bloberror.ContainerNotFound)
}

// asNotFound marks a missing-object error with ErrNotFound.
func asNotFound(err error) error {
	if err != nil && !errors.Is(err, ErrNotFound) && isNotFound(err) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
