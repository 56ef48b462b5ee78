// Package app is the composition root of the dispatcher and the worker: it
// turns the common flags (cli.Common) into a running App, that is the
// store (SQLite or MongoDB), the NATS event bus when one is configured,
// and the pool's taskstate.Manager wired to both, and closes them in
// reverse order.
//
// Package cli owns the flags, exit codes, output and task files; this
// package owns what the flags build. It is the only package that imports
// every backend (sqlitestore, mongostore, events), so the rest of the tree
// depends on the taskstate seam only.
package app
