// Package ui is taskfleet's web console, served by `dispatcher ui`: pools
// with their counts, throughput, failure rate and pause state; a pool's
// tasks, filtered (status, kind, a dotted def path, an id), sorted by
// creation order either way and paged by keyset (a condition on the task's
// creation sequence, never OFFSET, so page 10 000 of a 1M-task pool costs
// what page 1 does); one task with its def and result as JSON, attempts,
// last error, lease, timestamps, log tail and artifacts; and the pool's
// activity feed.
//
// # Assets
//
// The page is plain HTML, CSS and JavaScript under static/, embedded in
// the binary (embed): there is no build step.
//
// # Live updates
//
// With an event history (Config.History, the NATS stream TASKFLEET),
// GET /api/pools/{pool}/events is a server-sent event stream: the pool's
// events of the last hour (Config.FeedWindow) first, then new ones as they
// are published. The page refreshes its counts and list on each one, so an
// operator who reconnects sees what happened while away. Without NATS the
// endpoint answers 204 and the page refreshes every Config.Refresh.
//
// # Actions and their protection
//
// Retry (failed tasks), cancel, prioritize and remove are POSTs under
// /api/pools/{pool}/actions/. They are refused (403) unless
// Config.AllowActions is set. Every POST must carry the per-process CSRF
// token twice, in the SameSite=Strict cookie the page receives and in the
// X-CSRF-Token header (double submit), and an Origin, when the browser
// sends one, naming this host. A cross-site page can neither read the
// cookie nor make the browser send it.
//
// # Access
//
// With Config.Token set, every request needs it: an "Authorization:
// Bearer TOKEN" header, or a session cookie from the login form (POST
// /login). CheckListen refuses a non-loopback address without a token:
// the console shows defs, results and logs, and may change the pool.
//
// # Actions backend
//
// The console reads and acts through Backend and Pool, small interfaces
// that the dispatcher implements over taskstate.Manager. A Pool method the
// build does not have (cancel, pause state) returns ErrNotSupported: the
// API answers 501 for an action and null for a state.
package ui
