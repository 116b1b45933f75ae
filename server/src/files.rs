//! Files only the server's user can read: the data directory, the SQLite database, the ID
//! documents' ciphertext. Infrastructure: imports nothing of the domain.

use std::fs::{self, File};
use std::io;
use std::path::Path;

/// A directory only the server's user can enter (0700).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// A new file only the server's user can read (0600), truncated if it exists.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}
