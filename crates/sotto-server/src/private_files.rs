//! What the server keeps on disk is its user's alone: the data folder is `0700`, and the
//! database, its WAL, the relay queue lock and the generated TLS key are `0600`. They are created
//! so; when an existing one is readable by others (a data folder copied, restored or made by an
//! older release), it is tightened at start with one log line naming it. SQLite gives the WAL and
//! shared-memory files the permissions of the database file, so a private database file keeps
//! them private too. Modes are Unix's; elsewhere the folder and files are created without them.

use std::fs::{DirBuilder, OpenOptions};
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// The mode of the data folder and the folders in it.
const DIR_MODE: u32 = 0o700;
/// The mode of every file the server writes there.
const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) as `0700`, or tightens it if others may read it.
pub fn dir(dir: &Path) -> Result<()> {
    let io = |source| Error::Io {
        what: "creating the data folder",
        source,
    };
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(DIR_MODE);
    builder.create(dir).map_err(io)?;
    tighten(dir, DIR_MODE)
}

/// Creates `path` as an empty `0600` file if it does not exist, or tightens it if others may
/// read it.
pub fn file(path: &Path) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(FILE_MODE);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => tighten(path, FILE_MODE),
        Err(source) => Err(Error::Io {
            what: "creating a private file",
            source,
        }),
    }
}

/// Tightens `path` to `mode` if it exists and grants anything to group or others.
#[cfg(not(unix))]
pub fn tighten(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

/// Tightens `path` to `mode` if it exists and grants anything to group or others.
#[cfg(unix)]
pub fn tighten(path: &Path, mode: u32) -> Result<()> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Io {
                what: "reading a data file's permissions",
                source,
            })
        }
    };
    let was = metadata.permissions().mode() & 0o777;
    if was & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        Error::Io {
            what: "tightening a data file's permissions",
            source,
        }
    })?;
    tracing::warn!(
        path = %path.display(),
        was = format!("{was:o}"),
        now = format!("{mode:o}"),
        "data readable by other users: permissions tightened"
    );
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::fs::Permissions;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_folders_and_files_are_private_and_loose_ones_are_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data/inner");
        dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        let db = data.join("sotto.db");
        file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        std::fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&data, Permissions::from_mode(0o755)).unwrap();
        file(&db).unwrap();
        dir(&data).unwrap();
        assert_eq!((mode(&db), mode(&data)), (0o600, 0o700));
        // Tighter than needed is left alone; a missing file is nothing to do.
        std::fs::set_permissions(&db, Permissions::from_mode(0o400)).unwrap();
        tighten(&db, FILE_MODE).unwrap();
        assert_eq!(mode(&db), 0o400);
        tighten(&data.join("absent"), FILE_MODE).unwrap();
    }
}
