package serialproxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Wire protocol constants (MongoDB's OP_MSG specification).
const (
	headerLen = 16
	// maxMessageLen is MongoDB's maxMessageSizeBytes.
	maxMessageLen = 48_000_000

	opQuery = 2004
	opMsg   = 2013

	flagChecksumPresent = 1 << 0
	flagMoreToCome      = 1 << 1
	flagExhaustAllowed  = 1 << 16
)

var le = binary.LittleEndian

// readMessage reads one whole wire message. Its length is checked against
// the protocol's bounds before the body is allocated.
func readMessage(r io.Reader) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := int32(le.Uint32(head[:]))
	if n < headerLen || n > maxMessageLen {
		return nil, fmt.Errorf("serialproxy: message length %d out of bounds [%d, %d]", n, headerLen, maxMessageLen)
	}
	msg := make([]byte, n)
	copy(msg, head[:])
	if _, err := io.ReadFull(r, msg[4:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// request is a client message as the proxy forwards it.
type request struct {
	msg        []byte
	command    string // first key of the command document; "" if unknown
	moreToCome bool   // the client expects no reply
}

// parseRequest reads the command name and flags of a client message and
// prepares it for the server: exhaustAllowed and any checksum are
// removed. A message it cannot parse is forwarded as is (and locked).
func parseRequest(msg []byte) request {
	r := request{msg: msg}
	switch le.Uint32(msg[12:16]) {
	case opMsg:
		if len(msg) < headerLen+4 {
			return r
		}
		flags := le.Uint32(msg[16:20])
		if flags&flagChecksumPresent != 0 && len(msg) >= headerLen+8 {
			msg = msg[:len(msg)-4]
			le.PutUint32(msg[0:4], uint32(len(msg)))
			flags &^= flagChecksumPresent
		}
		flags &^= flagExhaustAllowed
		le.PutUint32(msg[16:20], flags)
		r.msg = msg
		r.moreToCome = flags&flagMoreToCome != 0
		r.command = msgCommand(msg[20:])
	case opQuery:
		// flags, fullCollectionName, numberToSkip, numberToReturn, query.
		rest := msg[min(len(msg), headerLen+4):]
		i := bytes.IndexByte(rest, 0)
		if i < 0 || len(rest) < i+1+8 {
			return r
		}
		r.command = firstKey(rest[i+1+8:])
	}
	return r
}

// msgCommand returns the first key of the body (kind 0) section of an
// OP_MSG, skipping document sequences (kind 1).
func msgCommand(sections []byte) string {
	for len(sections) > 5 {
		kind := sections[0]
		size := int(int32(le.Uint32(sections[1:5])))
		if size < 5 || size > len(sections)-1 {
			return ""
		}
		if kind == 0 {
			return firstKey(sections[1 : 1+size])
		}
		sections = sections[1+size:]
	}
	return ""
}

// firstKey returns the name of a BSON document's first element.
func firstKey(doc []byte) string {
	if len(doc) < 6 {
		return ""
	}
	key := doc[5:]
	i := bytes.IndexByte(key, 0)
	if i < 0 {
		return ""
	}
	return string(key[:i])
}

// isHandshake reports whether a command is hello or isMaster, which pass
// without the lock.
func isHandshake(command string) bool {
	return command == "hello" || strings.EqualFold(command, "isMaster")
}
