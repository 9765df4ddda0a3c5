//! A conversation's retention: how long its messages are kept, by the server's archive and by
//! every member's devices (`docs/protocol.md` §6.7). Set by the SetRetention operation (`0x09`).

use crate::error::DecodeError;

/// The shortest retention other than "for good": one minute.
pub const MIN_RETENTION_SECS: u64 = 60;
/// The longest retention other than "for good": ten years.
pub const MAX_RETENTION_SECS: u64 = 315_360_000;

/// A retention in seconds: `0` (keep for good) or 60 to 315360000. The one constructor both the
/// decoder and callers go through, so an out-of-range value never exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Retention(u64);

impl Retention {
    /// Keep for good.
    pub const FOREVER: Self = Self(0);

    /// Checks the bounds (`decode/invalid-value` outside them).
    pub fn from_secs(secs: u64) -> Result<Self, DecodeError> {
        if secs == 0 || (MIN_RETENTION_SECS..=MAX_RETENTION_SECS).contains(&secs) {
            Ok(Self(secs))
        } else {
            Err(DecodeError::InvalidValue { field: "retention" })
        }
    }

    /// The value in seconds (`0` = for good).
    pub const fn secs(self) -> u64 {
        self.0
    }

    /// `None` when kept for good, else the retention in milliseconds (the unit of timestamps).
    pub const fn millis(self) -> Option<u64> {
        match self.0 {
            0 => None,
            secs => Some(secs.saturating_mul(1_000)),
        }
    }

    /// Whether something dated `at` (a message's `sent_at`) has expired at `now`: kept until
    /// `at + retention` has passed.
    pub fn expired(self, at: crate::env::Timestamp, now: crate::env::Timestamp) -> bool {
        match self.millis() {
            None => false,
            Some(ms) => at.plus(ms) <= now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Timestamp;

    #[test]
    fn only_zero_and_one_minute_to_ten_years_are_retentions() {
        for ok in [0, 60, 86_400, 315_360_000] {
            assert_eq!(Retention::from_secs(ok).unwrap().secs(), ok);
        }
        for bad in [1, 59, 315_360_001, u64::MAX] {
            assert!(Retention::from_secs(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_message_expires_once_its_retention_has_passed() {
        let day = Retention::from_secs(86_400).unwrap();
        let sent = Timestamp(1_000);
        assert!(!day.expired(sent, sent.plus(Timestamp::DAY - 1)));
        assert!(day.expired(sent, sent.plus(Timestamp::DAY)));
        assert!(!Retention::FOREVER.expired(sent, Timestamp(u64::MAX)));
    }
}
