package sqlitestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// sqliteMagic starts every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// CheckHeader reads the 100-byte header of the SQLite file at path, of
// the given size: it must start with the magic string and, when its page
// count is valid, the file must hold that many pages, but for those the
// WAL holds and has not yet copied in (walHolds). SQLite itself does
// not look again at pages it has cached, so a file cut short under a
// running process goes unnoticed until a read misses the cache (a
// worker's health check calls it; so does the checkpointer, which must
// not write a cut file's pages back).
func CheckHeader(path string, size int64) error {
	if size == 0 {
		return nil // not written yet
	}
	// Through the process's held descriptors: closing one of its own
	// would drop SQLite's locks (heldfile.go).
	return readFile(path, func(f *heldFile) error {
		var h [100]byte
		if _, err := f.db.ReadAt(h[:], 0); err != nil {
			return fmt.Errorf("header: %w", err)
		}
		if string(h[:len(sqliteMagic)]) != sqliteMagic {
			return errors.New("not a database (no SQLite header)")
		}
		pageSize := int64(binary.BigEndian.Uint16(h[16:18]))
		if pageSize == 1 {
			pageSize = 65536
		}
		pages := int64(binary.BigEndian.Uint32(h[28:32]))
		// The page count is valid when the change counter matches
		// "version-valid-for" (see the SQLite file format).
		valid := binary.BigEndian.Uint32(h[24:28]) == binary.BigEndian.Uint32(h[92:96])
		if valid && pages > 0 && size < pages*pageSize {
			if walHolds(f.walIndex(), size/pageSize+1, pages) {
				return nil
			}
			return fmt.Errorf("truncated: %d bytes, the header says %d pages of %d", size, pages, pageSize)
		}
		return nil
	})
}

// The WAL index (PATH-shm), in the host's byte order: a WalIndexHdr
// (mxFrame at byte 16), a copy of it, then nBackfill at byte 96; the
// page number of each frame, 4062 in the first 32 KiB block after its
// 136-byte header and 4096 at the start of each later block.
const (
	shmHeader     = 136
	shmBlock      = 32 << 10
	shmFirstPages = 4062
	shmPages      = 4096
	shmMax        = 64 << 20 // a WAL of about 2M frames; larger is not looked at
)

// walHolds reports whether every page from first to last (1-based) is in
// a WAL frame not yet copied into the database file, as the WAL index f
// says (nil: no index). A PASSIVE checkpoint that a reader's snapshot
// holds back copies page 1, with the new page count, but not the pages
// written after that snapshot, the growing tail of a busy file among
// them: the file then stays shorter than its header says while writers
// keep the tail in the WAL, a healthy state.
func walHolds(f *os.File, first, last int64) bool {
	if f == nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() < shmHeader || fi.Size() > shmMax {
		return false
	}
	idx := make([]byte, fi.Size())
	if _, err := f.ReadAt(idx, 0); err != nil || idx[12] == 0 { // isInit
		return false
	}
	mxFrame := int64(binary.NativeEndian.Uint32(idx[16:20]))
	nBackfill := int64(binary.NativeEndian.Uint32(idx[96:100]))
	if last-first+1 > mxFrame-nBackfill {
		return false
	}
	seen, left := make([]bool, last-first+1), last-first+1
	for fr := nBackfill + 1; fr <= mxFrame && left > 0; fr++ {
		off := shmHeader + 4*(fr-1)
		if fr > shmFirstPages {
			k := fr - shmFirstPages - 1
			off = (k/shmPages+1)*shmBlock + 4*(k%shmPages)
		}
		if off+4 > int64(len(idx)) {
			return false
		}
		if i := int64(binary.NativeEndian.Uint32(idx[off:off+4])) - first; i >= 0 && i < int64(len(seen)) && !seen[i] {
			seen[i] = true
			left--
		}
	}
	return left == 0
}
