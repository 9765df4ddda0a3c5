//! Retention as people write it (`docs/protocol.md` §6.7): `forever`, or a number and a unit —
//! `60s`, `5m`, `7d`, `1y`. The value itself, its bounds and the expiry rule are `sotto-proto`'s
//! [`Retention`]; this module only reads and writes the text the command line and the client's
//! screens use.

pub use sotto_proto::group::Retention;

/// Seconds per unit, largest first (a year is 365 days).
const UNITS: [(&str, u64); 6] = [
    ("y", 365 * 86_400),
    ("w", 7 * 86_400),
    ("d", 86_400),
    ("h", 3_600),
    ("m", 60),
    ("s", 1),
];

/// Parses `forever` or a number with a unit (`s`, `m`, `h`, `d`, `w`, `y`); `None` for any other
/// text and for a duration the protocol does not allow (under a minute, over ten years).
pub fn parse_retention(text: &str) -> Option<Retention> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("forever") {
        return Some(Retention::FOREVER);
    }
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let (_, secs) = UNITS.iter().find(|(name, _)| *name == unit)?;
    let total = number.checked_mul(*secs)?;
    if total == 0 {
        return None;
    }
    Retention::from_secs(total).ok()
}

/// The retention in the largest unit that divides it: `forever`, `1y`, `7d`, `5m`, `90s`.
pub fn show_retention(retention: Retention) -> String {
    let secs = retention.secs();
    if secs == 0 {
        return "forever".to_owned();
    }
    for (unit, per) in UNITS {
        if secs.is_multiple_of(per) {
            return format!("{}{unit}", secs / per);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_parse_within_the_protocols_bounds_and_print_back() {
        for (text, secs) in [
            ("forever", 0),
            ("60s", 60),
            ("90s", 90),
            ("5m", 300),
            ("7d", 604_800),
            ("1y", 31_536_000),
            ("10y", 315_360_000),
        ] {
            let retention = parse_retention(text).unwrap();
            assert_eq!(retention.secs(), secs, "{text}");
            assert_eq!(show_retention(retention), text);
        }
        for bad in ["30s", "0s", "11y", "5", "m", "5 m", "-5m", "1x", ""] {
            assert_eq!(parse_retention(bad), None, "{bad}");
        }
    }
}
