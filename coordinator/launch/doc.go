// Package launch starts executor processes for the coordinator.
//
// The coordinator asks a launcher for slots; Process is the launcher that
// runs one executor OS process per slot on the local machine: for the
// coordinator of `sluice run` and `sluice local`, and inside `sluice agent`
// on every worker host of a coordinator group (where Request.Host names the
// agent). Each executor
// is the same binary as the coordinator (os.Executable by default) run as
// "<binary> executor <flags...>".
//
// Executors never outlive their launcher: each runs in its own process
// group, is killed by the kernel (SIGKILL) when the launcher dies (Linux
// parent-death signal), and when an executor exits, whatever it left
// running in its process group is killed too.
//
// An executor's stdout (where the print sink writes) is copied, whole lines
// at a time, to ProcessConfig.Stdout, so that lines from several executors
// never interleave. Its stderr (its log) goes to LogDir/<executor id>.log,
// and the last few KiB of it come with the Exit report, to explain a crash.
package launch
