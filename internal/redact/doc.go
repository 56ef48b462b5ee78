// Package redact hides credentials wherever taskfleet shows text: logs,
// errors and command output. It is the one place that knows what a secret
// in a connection string looks like, so the store, the event bus and the
// command line hide the same things the same way.
//
// # What is hidden
//
//   - The user information of any scheme://user:pass@host URI, known scheme
//     or not (mongdb://bob:Sec r3t@h/ is a typo, not a licence to print the
//     password), including passwords with spaces, quotes, "@", "/" or
//     percent-escapes: "mongodb://***@h/".
//   - The values of query options whose name says they are secret
//     (password, tlsCertificateKeyFilePassword, authMechanismProperties,
//     token, secret, apikey, ...): "?tlsCertificateKeyFilePassword=***".
//   - With a Redactor, the secrets it was given (a NATS password or token,
//     the credentials of the configured URIs), raw and escaped, wherever
//     they appear, for messages that quote a password without its URI.
//
// # Two modes
//
// URI redacts a value known to be a URI (or a comma-separated list of
// them): the credentials run to the last "@", so nothing of a password
// survives whatever it contains. Text redacts free text (log lines, error
// messages), where the end of a URI must be guessed: the credentials run to
// the last "@" before the host ends (a "/", "?", blank or quote after an
// "@"), so a password with an unescaped "@" followed by a "/" or a blank
// may be cut short there; a Redactor that knows the URI catches the rest.
// Both err on the side of hiding: an "@" later on the same line can hide
// more than the credentials.
package redact
