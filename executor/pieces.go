package executor

import (
	"context"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
)

// pieceStore writes and reads checkpoint pieces through blobstate, which
// checksums them.
type pieceStore struct {
	b *blobstate.Bucket
}

func newPieceStore(b *blobstate.Bucket) *pieceStore { return &pieceStore{b: b} }

func (p *pieceStore) WritePiece(ctx context.Context, dir, name string, data []byte) (api.Piece, error) {
	d, err := blobstate.DirAt(p.b, dir)
	if err != nil {
		return api.Piece{}, err
	}
	pc, err := d.WritePiece(ctx, name, data)
	if err != nil {
		return api.Piece{}, err
	}
	return api.Piece{Name: pc.Name, Size: pc.Size, SHA256: pc.SHA256}, nil
}

func (p *pieceStore) ReadPiece(ctx context.Context, dir string, pc api.Piece) ([]byte, error) {
	d, err := blobstate.DirAt(p.b, dir)
	if err != nil {
		return nil, err
	}
	return d.ReadPiece(ctx, blobstate.Piece{Name: pc.Name, Size: pc.Size, SHA256: pc.SHA256})
}
