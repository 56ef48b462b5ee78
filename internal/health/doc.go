// Package health watches the store a process depends on, so that readiness
// probes answer at once from what was last seen (a probe never waits on a
// stopped store) and a worker notices a store that will not come back.
//
// A [Monitor] checks the store every Interval (default 1 s), each check
// bounded by Timeout (default 2 s): /readyz turns 503 at most
// Interval+Timeout after the store stops answering and 200 again after the
// first check that succeeds. For an SQLite store it also watches the file:
// deleted, replaced by another file (its device and inode changed) or
// corrupt (SQLite says "malformed" or "not a database", or the file is
// shorter than its header says for three checks in a row without growing:
// SQLite does not look again at pages it has cached) is fatal, because
// a process that keeps its connection would write to an unlinked inode or
// fail forever while new clients create an empty store. A fatal error is
// logged once, closes Fatal and keeps the process not ready; the worker
// then stops claiming, drains and exits 1.
//
// Changes of state are logged once each (unreachable, reachable again,
// fatal), never once per check.
package health
