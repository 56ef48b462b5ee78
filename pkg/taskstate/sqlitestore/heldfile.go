package sqlitestore

import (
	"io/fs"
	"os"
	"sync"
)

// Closing any descriptor of a file drops every POSIX lock the process
// holds on it (fcntl locks belong to the process and the file, not to a
// descriptor), and SQLite's are among them: its SHARED lock on the
// database, which tells another process's last close that this process
// still has the file open, and its locks on the WAL index (PATH-shm). A
// header check that opened and closed the files dropped them; another
// process's close then took itself for the last, copied the WAL in and
// deleted it and its index, and this process read on from the deleted
// index, blind to what processes that opened the file later wrote (a
// benchmark waited for ever for tasks that were done;
// TestHeaderCheckKeepsSQLiteLocks). So the files this package reads
// beside SQLite are read through descriptors that stay open while a store
// of the process has the file open, as SQLite keeps its own
// (unixInodeInfo). The list is the process's because the locks are.
var held struct {
	sync.Mutex
	files []*heldFile
}

// heldFile is a database file the process's stores have open, with
// descriptors to read it and its WAL index by.
type heldFile struct {
	path string
	fi   fs.FileInfo
	db   *os.File
	refs int // under held's lock

	mu  sync.Mutex
	shm *os.File // opened when first read (SQLite creates the index)
}

// holdFile keeps path (created if missing, as SQLite would) open for
// reads until release (of which only the first call counts). Open calls
// it before SQLite opens the file, so that no read of this package can
// close a descriptor of a file whose locks a store of the process holds.
func holdFile(path string) (release func(), err error) {
	held.Lock()
	defer held.Unlock()
	if h := heldAt(path); h != nil {
		h.refs++ // a new descriptor would drop the locks when closed
		return sync.OnceFunc(h.release), nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close() // no store of the process has the file: no locks to drop
		return nil, err
	}
	h := &heldFile{path: path, fi: fi, db: f, refs: 1}
	held.files = append(held.files, h)
	return sync.OnceFunc(h.release), nil
}

// heldAt returns the held file at path, or nil. The caller holds held's
// lock.
func heldAt(path string) *heldFile {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	for _, h := range held.files {
		if os.SameFile(h.fi, fi) {
			return h
		}
	}
	return nil
}

// release drops one hold; the last closes the descriptors, once no store
// of the process has SQLite connections on the file.
func (h *heldFile) release() {
	held.Lock()
	defer held.Unlock()
	if h.refs--; h.refs > 0 {
		return
	}
	for i, o := range held.files {
		if o == h {
			held.files = append(held.files[:i], held.files[i+1:]...)
			break
		}
	}
	h.close()
}

// close closes h's descriptors.
func (h *heldFile) close() {
	h.db.Close()
	if h.shm != nil {
		h.shm.Close()
	}
}

// walIndex returns the descriptor of the WAL index, opening it on first
// use; nil when there is none.
func (h *heldFile) walIndex() *os.File {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shm == nil {
		h.shm, _ = os.Open(h.path + "-shm")
	}
	return h.shm
}

// readFile calls fn with a heldFile of the database at path: the one a
// store of the process holds, else one opened for the call, whose
// descriptors are closed when fn returns (under held's lock, so that no
// store opens the file meanwhile).
func readFile(path string, fn func(h *heldFile) error) error {
	held.Lock()
	if h := heldAt(path); h != nil {
		h.refs++
		held.Unlock()
		defer h.release()
		return fn(h)
	}
	defer held.Unlock()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	h := &heldFile{path: path, db: f}
	defer h.close()
	return fn(h)
}
