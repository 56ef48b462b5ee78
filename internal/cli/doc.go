// Package cli holds the command-line surface the dispatcher and worker
// binaries share: the common flags and their environment variables, exit
// codes, logging (through the redactor, so credentials never reach the
// log), output formats and task files. What the flags build (the store,
// the event bus, the pool's Manager) is package app's.
//
// Every flag has an environment variable of the same meaning
// (--store / TASKFLEET_STORE); a flag given on the command line wins over
// the variable, which wins over the default.
package cli
