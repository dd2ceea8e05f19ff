// Package builtin holds Sluice's built-in operators. Register adds them to an
// operator.Registry; NewRegistry returns a registry holding just them.
//
// Sources:
//   - files: the lines of every object under a bucket prefix, read in byte
//     range splits (FilesSourceConfig)
//   - datagen: deterministic generated records, bounded or not
//     (DatagenConfig)
//
// Transforms:
//   - map, filter, flatmap: user expressions (package executor/expr)
//   - tokenize: splits a text field into words (TokenizeConfig)
//   - count, sum, min, max, reduce: keyed aggregations that emit per key at
//     the end of the input or after every record; count, sum, min and max
//     have combiners that pre-aggregate before the shuffle
//
// Sinks:
//   - files: one part object per subtask in jsonl, csv or text
//     (FilesSinkConfig); it shares its name with the files source, and the
//     registry resolves the name by the vertex's role
//     (operator.Registry.Resolve)
//   - print: records as JSON lines on the executor's stdout
//
// Every operator reuses the record it passes to Emit: a downstream operator
// that keeps a record must Clone it (see operator.Emitter). String values of
// emitted records may share memory with the input (tokenize emits substrings
// of the line), so keeping a small string can keep a large one alive; the
// keyed operators copy the key strings they keep.
package builtin
