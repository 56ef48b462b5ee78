// Package gobcodec owns the gob caches behind taskstate.Codec: a
// DecoderCache and an EncoderCache that reuse gob decoders and encoders
// across payloads, so a task's type definitions are not received, sent and
// compiled again for every task.
//
// Payloads and errors are exactly those of a fresh gob.Decoder or
// gob.Encoder (DecodeFresh, EncodeFresh): anything a cache does not fully
// understand, and any cached decoder or encoder that fails, goes the fresh
// way. The caches are instances owned by their holder, never package state;
// a nil cache does everything fresh. They are bounded, safe for concurrent
// use, and keep decoders and encoders in sync.Pools, which the garbage
// collector empties. TestGobPayloadLayout and TestEncodeCacheLayout pin
// down the gob stream layout they rely on.
package gobcodec
