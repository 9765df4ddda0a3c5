//! Usernames: ASCII upper case is folded to lower case, then the name must be 3 to 32
//! characters of `a-z 0-9 . _ -`, starting with a letter or digit. Anything else is refused with
//! the rule it broke, never silently rewritten (no trimming, no Unicode folding), so two
//! different inputs can never name the same account by accident and homoglyphs cannot exist.

use crate::error::{Error, UsernameRule};

/// Shortest username.
pub const MIN_LEN: usize = 3;
/// Longest username.
pub const MAX_LEN: usize = 32;

/// Normalises and validates a username.
pub fn normalize(input: &str) -> Result<String, Error> {
    let refuse = |rule| Err(Error::InvalidUsername { rule });
    if input.len() < MIN_LEN {
        return refuse(UsernameRule::TooShort);
    }
    if input.len() > MAX_LEN {
        return refuse(UsernameRule::TooLong);
    }
    let name = input.to_ascii_lowercase();
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    {
        return refuse(UsernameRule::BadCharacter);
    }
    if !name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
    {
        return refuse(UsernameRule::BadStart);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(input: &str) -> UsernameRule {
        match normalize(input) {
            Err(Error::InvalidUsername { rule }) => rule,
            other => panic!("{input:?} gave {other:?}"),
        }
    }

    #[test]
    fn folds_case_and_refuses_with_the_rule() {
        assert_eq!(normalize("Alice.B_2-x").unwrap(), "alice.b_2-x");
        assert_eq!(rule("ab"), UsernameRule::TooShort);
        assert_eq!(rule(&"a".repeat(33)), UsernameRule::TooLong);
        assert_eq!(rule("al ice"), UsernameRule::BadCharacter);
        assert_eq!(rule("alicé"), UsernameRule::BadCharacter);
        assert_eq!(rule("a'; DROP TABLE users;--"), UsernameRule::BadCharacter);
        assert_eq!(rule("ali\0ce"), UsernameRule::BadCharacter);
        assert_eq!(rule(".alice"), UsernameRule::BadStart);
        assert_eq!(rule("ＡＢＣ"), UsernameRule::BadCharacter);
    }
}
