//! The crate's error type.

/// What can go wrong running the chaos suite (the audit's findings are not errors: they are
/// counted in the [`crate::audit::Tally`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The client library refused an operation.
    #[error("client ({what}): {source}")]
    Client {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: sotto_client::Error,
    },
    /// The server library failed to start or stop.
    #[error("server: {0}")]
    Server(#[from] sotto_server::error::Error),
    /// A plan or status file does not parse.
    #[error("{what}: {source}")]
    Json {
        /// Which file.
        what: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The server process did not report ready.
    #[error("the server process did not start: {reason}")]
    ServerStart {
        /// Why.
        reason: String,
    },
    /// An operation did not finish in time.
    #[error("timed out waiting for {what}")]
    TimedOut {
        /// What.
        what: &'static str,
    },
    /// A task of the harness panicked or was cancelled.
    #[error("{what} stopped unexpectedly")]
    TaskFailed {
        /// Which task.
        what: &'static str,
    },
    /// An unknown scenario name.
    #[error("unknown scenario {name:?}")]
    UnknownScenario {
        /// The name given.
        name: String,
    },
    /// A chaos client process failed outside the faults it is there to survive.
    #[error("client {label} exited with {code:?}: {stderr}")]
    ClientExit {
        /// Which device.
        label: String,
        /// Its exit code.
        code: Option<i32>,
        /// The end of its stderr.
        stderr: String,
    },
}

impl Error {
    /// An I/O error while doing `what`.
    pub fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Io { what, source }
    }

    /// A client error while doing `what`.
    pub fn client(what: &'static str) -> impl FnOnce(sotto_client::Error) -> Self {
        move |source| Self::Client { what, source }
    }

    /// A JSON error reading `what`.
    pub fn json(what: &'static str) -> impl FnOnce(serde_json::Error) -> Self {
        move |source| Self::Json { what, source }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
