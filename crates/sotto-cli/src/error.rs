//! The command line's error type and its exit codes: each failure a person can act on has its
//! own code and a message that says what to do. The client library says what happened; the
//! advice (which command to run, which flag to pass) is added here, by [`advice`], because only
//! the command line knows its commands and flags.

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
    /// The message was stored but some current member device did not get it (it stays in the
    /// outbox). Not 5, which scripts already read as a certificate mismatch.
    pub const NOT_DELIVERED: u8 = 10;
    /// Recovery refused: a recovery key that does not parse or whose checksum is wrong (a typo),
    /// a key or passphrase the server refuses, or no recovery set up for the account.
    pub const RECOVERY_REFUSED: u8 = 11;
}

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The client library failed: what happened, then what to do about it.
    #[error("{}", explain(.0))]
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
    /// `outbox drop` of a message that is not in the outbox.
    #[error("{message} is not in the outbox (`sotto outbox` lists what is)")]
    NotInOutbox {
        /// What was given.
        message: String,
    },
    /// A message was sent but some member devices did not get it (each named on stderr).
    #[error(
        "the message did not reach {devices} device(s) yet; it stays in the outbox and goes to \
         them with the next `sotto send` or `sotto recv` once they can take it (`sotto outbox` \
         lists it, `sotto outbox drop {message}` gives up)"
    )]
    NotDelivered {
        /// How many devices did not get it.
        devices: usize,
        /// `msg:…`.
        message: String,
    },
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
                | ClientError::Removed { .. }
                | ClientError::UnknownMessage { .. }
                | ClientError::UnknownUser { .. }
                | ClientError::UnknownConversation { .. }
                | ClientError::UnknownDevice { .. }
                | ClientError::UnknownApprovalCode { .. } => code::NOT_FOUND,
                ClientError::Api {
                    code: sotto_client::api::ErrorCode::NotFound,
                    ..
                } => code::NOT_FOUND,
                ClientError::Throttled { .. } => code::RATE_LIMITED,
                ClientError::Api {
                    code:
                        sotto_client::api::ErrorCode::Throttled | sotto_client::api::ErrorCode::Capacity,
                    ..
                } => code::RATE_LIMITED,
                ClientError::IdentityChanged { .. } => code::IDENTITY_CHANGED,
                ClientError::RecoveryRejected | ClientError::RecoveryNotSetUp => {
                    code::RECOVERY_REFUSED
                }
                ClientError::Protocol(e) if e.code().starts_with("recovery/") => {
                    code::RECOVERY_REFUSED
                }
                ClientError::SessionEnded | ClientError::DevicePending | ClientError::NoAccount => {
                    code::LOGIN_NEEDED
                }
                ClientError::BadPin
                | ClientError::LastAdmin { .. }
                | ClientError::AttachmentTooLarge { .. }
                | ClientError::BadServerUrl { .. }
                | ClientError::InvalidInput { .. }
                | ClientError::InvalidField(_)
                | ClientError::InviteInvalid => code::USAGE,
                _ => code::FAILURE,
            },
            Self::NoSecret { .. } | Self::Usage(_) | Self::NoProfileDir => code::USAGE,
            Self::Prompt { .. } | Self::Runtime(_) => code::FAILURE,
            Self::NotDelivered { .. } => code::NOT_DELIVERED,
            Self::NotInOutbox { .. } => code::NOT_FOUND,
        }
    }
}

/// What to do about a library error, in terms of this command line's commands and flags (none
/// where the message says all there is).
pub fn advice(error: &ClientError) -> Option<String> {
    Some(match error {
        ClientError::NoAccount => "run `sotto register` or `sotto login` first".to_owned(),
        ClientError::RegistrationClosed => {
            "ask the server's administrator for an account; `sotto login` works for existing ones"
                .to_owned()
        }
        ClientError::InviteInvalid => {
            "pass the code from the server's administrator with `--invite CODE` (or \
             SOTTO_INVITE); a code works once and expires, so ask for a new one if it was used"
                .to_owned()
        }
        ClientError::DevicePending => {
            "run `sotto devices approve <code>` on another device, then `sotto login` again"
                .to_owned()
        }
        ClientError::NoMasterKey => {
            "approve, revoke or set up recovery from your first device".to_owned()
        }
        ClientError::RecoveryRejected => {
            "check the recovery key (or passphrase) you wrote down when you ran `sotto recovery \
             setup`; failed attempts are limited per hour"
                .to_owned()
        }
        ClientError::RecoveryNotSetUp => {
            "recovery must have been set up (`sotto recovery setup`) on a device you still had"
                .to_owned()
        }
        ClientError::Protocol(e) if e.code() == "recovery/bad-checksum" => {
            "the recovery key has a typo: check each group of four against what you wrote down"
                .to_owned()
        }
        ClientError::Protocol(e) if e.code() == "recovery/malformed" => {
            "a recovery key is 48 characters, 12 groups of 4 (0-9 and letters, no U)".to_owned()
        }
        ClientError::SessionEnded => "run `sotto login` again".to_owned(),
        ClientError::LastAdmin { .. } => {
            "pass --admin <username> to make one of them admin before you leave".to_owned()
        }
        ClientError::UnknownMessage { .. } => {
            "`sotto recv`, `sotto history` or `sotto search` show the ids of stored messages"
                .to_owned()
        }
        ClientError::UntrustedCertificate { got } => format!(
            "if you run this server, check the fingerprint it printed and pass --tls-pin {got}"
        ),
        ClientError::BadPin => "check the value given to --tls-pin".to_owned(),
        ClientError::IdentityChanged { username, .. } => format!(
            "check the new safety number with `sotto verify {username}`, then retry with \
             --accept-new-identity"
        ),
        _ => return None,
    })
}

/// A library error as the command line shows it: what happened, then what to do.
pub fn explain(error: &ClientError) -> String {
    match advice(error) {
        Some(advice) => format!("{error}; {advice}"),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_session_says_to_log_in_again_and_keeps_its_exit_code() {
        let error = CliError::Client(ClientError::SessionEnded);
        assert_eq!(
            error.to_string(),
            "the session has ended; run `sotto login` again"
        );
        assert_eq!(error.exit_code(), code::LOGIN_NEEDED);
    }

    #[test]
    fn an_untrusted_certificate_says_which_pin_to_pass() {
        let error = CliError::Client(ClientError::UntrustedCertificate {
            got: "AB:CD".to_owned(),
        });
        let shown = error.to_string();
        assert!(
            shown.starts_with("the server's certificate is not trusted"),
            "{shown}"
        );
        assert!(shown.ends_with("pass --tls-pin AB:CD"), "{shown}");
        assert_eq!(error.exit_code(), code::CERTIFICATE);
    }

    #[test]
    fn the_last_admin_is_told_whom_to_choose_from_and_which_flag_to_pass() {
        let error = CliError::Client(ClientError::LastAdmin {
            members: vec!["bob".to_owned(), "carol".to_owned()],
        });
        let shown = error.to_string();
        assert!(shown.contains("among bob, carol"), "{shown}");
        assert!(shown.contains("--admin <username>"), "{shown}");
        assert_eq!(error.exit_code(), code::USAGE);
        let removed = CliError::Client(ClientError::Removed {
            group: "team".to_owned(),
            by: "alice".to_owned(),
            left: false,
        });
        assert_eq!(removed.to_string(), "you were removed from team by alice");
        assert_eq!(removed.exit_code(), code::NOT_FOUND);
    }

    #[test]
    fn an_error_without_advice_is_shown_as_the_library_says_it() {
        let error = ClientError::NotMember;
        assert_eq!(explain(&error), error.to_string());
    }

    #[test]
    fn a_message_that_did_not_reach_every_device_has_its_own_exit_code_and_says_what_next() {
        let error = CliError::NotDelivered {
            devices: 2,
            message: "msg:01".to_owned(),
        };
        assert_eq!(error.exit_code(), code::NOT_DELIVERED);
        assert_ne!(error.exit_code(), code::CERTIFICATE);
        let shown = error.to_string();
        assert!(shown.contains("did not reach 2 device(s)"), "{shown}");
        assert!(shown.contains("`sotto outbox drop msg:01`"), "{shown}");
    }
}
