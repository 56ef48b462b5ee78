// Package gobbomb builds hostile gob payloads for tests: the shapes that
// killed workers before the codec checked payloads (a map header claiming
// more entries than the payload holds, nesting deep enough to overflow the
// stack). Each is what a fresh gob.Decoder reads as an interface value
// (Encode(&v), v an interface), built byte by byte because no encoder
// writes them cheaply.
package gobbomb
