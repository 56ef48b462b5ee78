package sqlitestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// sqliteMagic starts every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// CheckHeader reads the 100-byte header of the SQLite file at path, of
// the given size: it must start with the magic string and, when its page
// count is valid, the file must hold that many pages. SQLite itself does
// not look again at pages it has cached, so a file cut short under a
// running process goes unnoticed until a read misses the cache (a
// worker's health check calls it; so does the checkpointer, which must
// not write a cut file's pages back).
func CheckHeader(path string, size int64) error {
	if size == 0 {
		return nil // not written yet
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var h [100]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
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
		return fmt.Errorf("truncated: %d bytes, the header says %d pages of %d", size, pages, pageSize)
	}
	return nil
}
