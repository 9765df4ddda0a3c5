//! The command line's error type and its exit codes: each failure a person can act on has its
//! own code and a message that says what to do.

use sotto_client::Error as ClientError;

/// Exit codes (documented in `sotto --help`).
pub mod code {
    /// Anything not listed below.
    pub const FAILURE: u8 = 1;
    /// Bad usage (also clap's own code).
    pub const USAGE: u8 = 2;
    /// Wrong password or passphrase.
    pub const CREDENTIALS: u8 = 3;
    /// The server cannot be reached.
    pub const UNREACHABLE: u8 = 4;
    /// The server's certificate does not match the pin or is untrusted.
    pub const CERTIFICATE: u8 = 5;
    /// Not a member, unknown user, conversation or device.
    pub const NOT_FOUND: u8 = 6;
    /// Rate limited.
    pub const RATE_LIMITED: u8 = 7;
    /// A pinned identity changed.
    pub const IDENTITY_CHANGED: u8 = 8;
    /// The device needs to log in (again) or to be approved.
    pub const LOGIN_NEEDED: u8 = 9;
}

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The client library failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A secret was needed but there is no terminal to ask on.
    #[error("{what} is needed: set {variable} or run in a terminal")]
    NoSecret {
        /// What was needed.
        what: &'static str,
        /// The environment variable that provides it.
        variable: &'static str,
    },
    /// Reading from the terminal failed.
    #[error("reading {what} from the terminal: {source}")]
    Prompt {
        /// What was read.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The tokio runtime could not start.
    #[error("starting the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A usage error clap cannot express.
    #[error("{0}")]
    Usage(&'static str),
    /// No home folder to put the default profile in.
    #[error("no default profile folder (HOME is unset): pass --profile DIR")]
    NoProfileDir,
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Client(e) => match e {
                ClientError::WrongPassphrase | ClientError::BadCredentials => code::CREDENTIALS,
                ClientError::Unreachable { .. } => code::UNREACHABLE,
                ClientError::PinMismatch { .. } | ClientError::UntrustedCertificate { .. } => {
                    code::CERTIFICATE
                }
                ClientError::NotMember
                | ClientError::UnknownUser { .. }
                | ClientError::UnknownConversation { .. }
                | ClientError::UnknownDevice { .. }
                | ClientError::UnknownApprovalCode { .. } => code::NOT_FOUND,
                ClientError::Api { status: 404, .. } => code::NOT_FOUND,
                ClientError::Throttled { .. } => code::RATE_LIMITED,
                ClientError::Api { status: 429, .. } => code::RATE_LIMITED,
                ClientError::IdentityChanged { .. } => code::IDENTITY_CHANGED,
                ClientError::SessionEnded | ClientError::DevicePending | ClientError::NoAccount => {
                    code::LOGIN_NEEDED
                }
                ClientError::BadPin
                | ClientError::BadServerUrl { .. }
                | ClientError::InvalidInput { .. }
                | ClientError::InvalidField(_) => code::USAGE,
                _ => code::FAILURE,
            },
            Self::NoSecret { .. } | Self::Usage(_) | Self::NoProfileDir => code::USAGE,
            Self::Prompt { .. } | Self::Runtime(_) => code::FAILURE,
        }
    }
}
