// Package cli holds what the dispatcher and worker binaries share: the
// common flags and their environment variables, exit codes, logging with
// credential redaction, output formats, and opening the store, the event
// bus and a task pool from them.
//
// Every flag has an environment variable of the same meaning
// (--store / TASKFLEET_STORE); a flag given on the command line wins over
// the variable, which wins over the default.
package cli
