//! Where the fuzz corpora live and which files they hold, shared by the test binaries that replay
//! them (`sotto-proto/tests/fuzz_corpus.rs`, `sotto-server/tests/pentest_fuzz_corpus.rs`, each
//! including this file with `#[path]`).

use std::path::{Path, PathBuf};

/// The repository's `fuzz/` folder, from a crate two levels below the root.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files in `dir` (none if it does not exist), sorted, hidden files left out.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files
}
