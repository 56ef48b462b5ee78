package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// FileSuffix marks a variable that names a file holding another
// variable's value: TASKFLEET_STORE_FILE=/run/secrets/store_uri reads
// TASKFLEET_STORE from that file (Docker and compose secrets are files), so
// the secret is in neither the environment nor a command line.
const FileSuffix = "_FILE"

// maxSecretFile bounds what a *_FILE variable may name: a URI, a password
// or a token, not a data file.
const maxSecretFile = 64 << 10

// readSecretFile returns the contents of path without its trailing line
// breaks. The error names the path, never the contents.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("%s: over %d bytes (it should hold one value)", path, maxSecretFile)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", errors.New(path + ": empty")
	}
	return v, nil
}
