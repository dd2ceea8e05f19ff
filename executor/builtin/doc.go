// Package builtin holds Sluice's built-in operators. Register adds them to an
// operator.Registry; NewRegistry returns a registry holding just them.
//
// Sources:
//   - files: the lines of every object under a bucket prefix, read in byte
//     range splits, or, continuous, new objects as they appear
//     (FilesSourceConfig)
//   - datagen: deterministic generated records, bounded or not, with an
//     optional event-time field; it can skip into a split on recovery
//     (DatagenConfig, operator.SplitAdvancer)
//
// Transforms:
//   - map, filter, flatmap: user expressions (package executor/expr)
//   - tokenize: splits a text field into words (TokenizeConfig)
//   - count, sum, min, max, reduce: keyed aggregations that emit per key at
//     the end of the input or after every record; count, sum, min and max
//     have combiners that pre-aggregate before the shuffle
//   - window: keyed aggregations per event-time window (tumbling, sliding,
//     session), fired by watermarks, with allowed lateness and a side
//     output for late records (WindowConfig)
//
// Sinks:
//   - files: exactly-once part objects in jsonl, csv or text, committed
//     per checkpoint (FilesSinkConfig, filesSink); it shares its name with
//     the files source, and the registry resolves the name by the vertex's
//     role (operator.Registry.Resolve)
//   - print: records as JSON lines on the executor's stdout
//
// Checkpoints: the keyed operators keep their state in the subtask's keyed
// state (operator.Context.KeyedState): count, sum, min, max and reduce in
// the value state "agg", window in the map state "windows"; the runtime
// snapshots and restores it. Combiners hold no checkpointed state: they
// emit their partial results before each barrier
// (operator.BarrierFlusher).
//
// Every operator reuses the record it passes to Emit: a downstream operator
// that keeps a record must Clone it (see operator.Emitter). String values of
// emitted records may share memory with the input (tokenize emits substrings
// of the line), so keeping a small string can keep a large one alive; the
// keyed operators copy the key strings they keep.
package builtin
