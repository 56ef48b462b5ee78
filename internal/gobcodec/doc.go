// Package gobcodec owns the gob caches behind taskstate.Codec, and the
// check that bounds what gob may allocate for a payload.
//
// Check walks a payload as gob would decode it and refuses one with a length
// over the bytes that remain (ErrTooLarge), nesting over a limit
// (ErrTooDeep, DefaultMaxDepth levels by default) or not gob
// (ErrMalformed), before gob allocates anything: gob alone sizes a map by
// its header and recurses once per level, so a 50-byte payload could make
// it allocate gigabytes and a deep one overflow the stack. Decode and
// DecodeLimit run it; the cache's scan of a payload counts as one.
//
// The caches are a DecoderCache and an EncoderCache that reuse gob decoders
// and encoders across payloads, so a task's type definitions are not
// received, sent and compiled again for every task.
//
// Payloads that pass the check, and their errors, are exactly those of a
// fresh gob.Decoder or gob.Encoder (DecodeFresh, EncodeFresh): anything a cache does not fully
// understand, and any cached decoder or encoder that fails, goes the fresh
// way. The caches are instances owned by their holder, never package state;
// a nil cache does everything fresh. They are bounded, safe for concurrent
// use, and keep decoders and encoders in sync.Pools, which the garbage
// collector empties. TestGobPayloadLayout and TestEncodeCacheLayout pin
// down the gob stream layout they rely on.
package gobcodec
