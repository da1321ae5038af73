// Package atomicfile replaces files so that a reader who opens the path at
// any moment sees the old contents, the new contents or (the first time)
// no file, never half of one, and so that a crash right after Write
// returns keeps the new contents.
//
// The recipe: a temporary file, fsync, chmod, rename over the path, fsync
// of the directory. The one choice callers make is where the temporary file
// lives: by default beside the target (rename is atomic only within one
// file system), or, with TempDir, in another directory on the same file
// system, for targets in a directory someone watches: container runtimes
// reload /etc/cni/net.d on every change and log an error for each
// half-written temporary file they find there.
//
// The checkpoint, the CNI plugin and conflist, and the node bundle all
// write through it.
package atomicfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Option changes how Write works.
type Option func(*options)

type options struct{ tempDir string }

// TempDir puts the temporary file in dir instead of the target's
// directory. When dir is on another device than the target's directory
// (where rename cannot work), Write uses the target's directory instead, so
// a node with an unusual mount layout still gets its file.
func TempDir(dir string) Option { return func(o *options) { o.tempDir = dir } }

// WriteFile replaces path with data, file mode mode.
func WriteFile(path string, data []byte, mode fs.FileMode, opts ...Option) error {
	return Write(path, mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, opts...)
}

// Copy replaces path with everything read from r, file mode mode.
func Copy(path string, r io.Reader, mode fs.FileMode, opts ...Option) error {
	return Write(path, mode, func(w io.Writer) error {
		_, err := io.Copy(w, r)
		return err
	}, opts...)
}

// Write replaces path with what fill writes, file mode mode. When fill or
// any step fails, path is untouched and no temporary file is left. The
// directories must exist.
func Write(path string, mode fs.FileMode, fill func(io.Writer) error, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dir := filepath.Dir(path)
	tmpDir := dir
	if o.tempDir != "" && sameDevice(o.tempDir, dir) {
		tmpDir = o.tempDir
	}
	return write(path, tmpDir, mode, fill)
}

// sameDevice reports whether a and b are directories on one device; false
// when either cannot be examined.
func sameDevice(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA != nil || errB != nil {
		return false
	}
	da, okA := sa.Sys().(*syscall.Stat_t)
	db, okB := sb.Sys().(*syscall.Stat_t)
	return okA && okB && da.Dev == db.Dev
}

func write(path, tmpDir string, mode fs.FileMode, fill func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(tmpDir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: creating a temporary file in %s: %w", path, tmpDir, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := fill(tmp); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("writing %s: chmod %s: %w", path, tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: fsync %s: %w", path, tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: closing %s: %w", path, tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: renaming %s into place: %w", path, tmp.Name(), err)
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs dir, making a rename or removal in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening %s to fsync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
