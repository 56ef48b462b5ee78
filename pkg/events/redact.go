package events

import "github.com/taskfleet/taskfleet/internal/redact"

// Redact returns rawURL with the credentials of every server URL in it
// replaced by "***": "nats://user:pass@host:4222" becomes
// "nats://***@host:4222", and so does a token URL "nats://tok@host:4222".
// A comma-separated server list is redacted entry by entry. Everything up to
// the last '@' of an entry counts as credentials, so a password holding '@',
// '/' or ':' unescaped is still hidden. Secret query options are hidden too (see
// redact.URI, taskfleet's one redactor); a URL without credentials is
// returned as is.
//
// Every URL this package logs or puts into an error goes through Redact.
func Redact(rawURL string) string { return redact.URI(rawURL) }

// scrubber removes known secrets from text that did not come from this
// package (error messages of the client library or the server), as a second
// line of defence behind Redact: the password, the token and the
// credentials of the server URLs, raw or escaped.
type scrubber struct{ r *redact.Redactor }

func newScrubber(cfg Config) scrubber {
	return scrubber{r: redact.New([]string{cfg.URL}, cfg.Password, cfg.Token)}
}

// scrub returns s with every known secret replaced by "***".
func (sc scrubber) scrub(s string) string { return sc.r.String(s) }
