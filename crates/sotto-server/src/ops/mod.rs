//! The operator's offline commands: back up, restore, check.
//!
//! - [`backup`]: a consistent copy of the database while the server runs.
//! - [`restore`]: a backup back in place, with the server stopped.
//! - [`check`]: configuration, database integrity, migrations, file modes.

pub mod backup;
pub mod check;
pub mod restore;
