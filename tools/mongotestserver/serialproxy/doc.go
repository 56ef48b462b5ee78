// Package serialproxy is a MongoDB wire-protocol proxy that makes a server
// run one command at a time.
//
// FerretDB v1 runs findAndModify and a conditional update as a query
// followed by a separate write, so two concurrent commands can interleave
// inside one of them: two claimers both get the same document. MongoDB
// applies each such command atomically to its document. Behind this proxy
// FerretDB does too: the proxy reads one whole message from a client,
// forwards it and reads the server's whole reply while holding one lock
// shared by every connection, so no two commands ever run at the server at
// the same time. A test that passes through the proxy shows that the code
// under test is right under any interleaving of its commands (each
// command taken as atomic, which MongoDB documents); it does not test
// MongoDB's own per-document atomicity.
//
// Details:
//
//   - hello and isMaster (the drivers' handshake and server monitoring) pass
//     without the lock: they change nothing, and a monitoring connection
//     must not queue behind a busy pool;
//   - the exhaustAllowed flag of OP_MSG is cleared, so the server never
//     streams several replies to one request;
//   - a request with moreToCome (an unacknowledged write, w: 0) gets no
//     reply from MongoDB, but FerretDB v1 sends one anyway: the proxy reads
//     it under the lock, so the write is finished before the next command,
//     and discards it;
//   - a checksum, if present, is dropped with its flag (the flags changed);
//   - a message longer than MongoDB's 48 MB maxMessageSizeBytes, or shorter
//     than its header, closes the connection before anything is allocated.
//
// Each client connection gets its own server connection, so per-connection
// state (cursors, sessions) works as without the proxy. The proxy is for
// tests against FerretDB v1 only: against a server that does not answer
// moreToCome requests it would wait for a reply that never comes.
package serialproxy
