//! Everything authd writes (the SQLite store and its journal, development mail
//! with live tokens, a generated secrets key) is for its own user only: files
//! 0600, directories 0700, whatever the umask it was started with. Files of an
//! earlier version are narrowed when authd opens them.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// New files 0600 and directories 0700 from now on, in this whole process (SQLite
/// creates its -wal and -shm files itself, so the umask is what reaches them).
pub fn restrict_new_files() {
    // SAFETY: umask only sets the process's file mode mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Creates `dir` (and its parents) when missing; `dir` itself ends up 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Narrows `file` to 0600 when it exists.
pub fn private_file(file: &Path) -> io::Result<()> {
    match std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        done => done,
    }
}
