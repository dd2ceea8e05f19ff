package builtin

import (
	"fmt"

	"github.com/sluicehq/sluice/executor/operator"
)

// Names of the built-in operators in job specs. The files source and the
// files sink share a name: the registry gives a vertex without inputs the
// source (operator.Registry.Resolve).
const (
	FilesSource = "files"
	FilesSink   = "files"
	Datagen     = "datagen"
	Map         = "map"
	Filter      = "filter"
	Flatmap     = "flatmap"
	Tokenize    = "tokenize"
	Count       = "count"
	Sum         = "sum"
	Min         = "min"
	Max         = "max"
	Reduce      = "reduce"
	Window      = "window"
	Print       = "print"
)

// Definitions returns the definitions of every built-in operator.
func Definitions() []operator.Definition {
	return []operator.Definition{
		filesSourceDef(),
		datagenDef(),
		mapDef(),
		filterDef(),
		flatmapDef(),
		tokenizeDef(),
		countDef(),
		aggregateDef(aggSum),
		aggregateDef(aggMin),
		aggregateDef(aggMax),
		reduceDef(),
		windowDef(),
		filesSinkDef(),
		printDef(),
	}
}

// Register adds every built-in operator to r.
func Register(r *operator.Registry) error {
	for _, d := range Definitions() {
		if err := r.Register(d); err != nil {
			return fmt.Errorf("register builtins: %w", err)
		}
	}
	return nil
}

// NewRegistry returns a registry holding the built-in operators.
func NewRegistry() *operator.Registry {
	r := operator.NewRegistry()
	if err := Register(r); err != nil {
		// The definitions are static: failing here is a bug in this package.
		panic(err)
	}
	return r
}
