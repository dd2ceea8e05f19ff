// Package state is the checkpointed keyed state of a subtask: named value,
// map and list states per key, partitioned into key groups so that a
// snapshot can be restored at another parallelism (as in Flink).
//
// A Backend holds the state of one subtask of a keyed vertex. The runtime
// creates it (NewBackend with the job's max parallelism), restores the key
// groups the subtask owns from the latest checkpoint (RestoreGroup), hands
// it to the operator (operator.Context.KeyedState), and snapshots it at
// every checkpoint barrier (Snapshot). Operators create their states by
// name in Open and find restored entries already there:
//
//	counts := oc.KeyedState().Value("count")
//	...
//	p := counts.Ref(key) // get or create, null when new
//	*p = record.IntV(p.Int() + 1)
//
// A name identifies a state within its kind: Value("x") and Map("x") are
// two states, so a snapshot restored into an operator that changed a
// state's kind never mixes them up.
//
// Concurrency: a Backend and its states are not safe for concurrent use.
// Everything, including Snapshot and RestoreGroup, runs on the subtask's
// goroutine; a snapshot is synchronous and copies nothing but the encoding.
//
// Keys and map field names are copied (their strings cloned) when first
// inserted, so that a key sliced from a large input line does not keep the
// line alive. Values are kept as given: an operator that stores a string
// sliced from its input should clone it.
//
// # Snapshot format
//
// Snapshot writes one self-contained block per non-empty key group and
// returns an index of extents, so that a subtask restoring at any
// parallelism reads only the blocks of the key groups it owns:
//
//	group   := version:byte(1) uvarint(group) uvarint(nstates) state* crc32c
//	state   := uvarint(len(name)) name kind:byte uvarint(nkeys) entry*
//	entry   := key:value payload
//	payload := value                                  (value state)
//	         | uvarint(n) (uvarint(len(f)) f value)*  (map state)
//	         | uvarint(n) value*                      (list state)
//	crc32c  := 4 bytes little endian, Castagnoli CRC of the block before it
//	kind    := 1 (value) | 2 (map) | 3 (list)
//
// where value is record.AppendValue's encoding (a key is encoded as its
// value). Within a block, states are ordered by kind and name; entries are
// in no particular order. RestoreGroup checks the version, the checksum,
// the group number and that every key hashes to the group, and merges
// nothing from a block that fails: corrupt input is an error, never a panic
// nor a partial restore.
package state
