// Command dispatcher creates, inspects, waits for and administers the tasks
// of a taskfleet pool; `dispatcher run` is the main job (generate → create
// → run → wait → collect) and `dispatcher dev` runs a local event server
// and reaper for multi-process fleets. Run `dispatcher help` for the list.
package main
