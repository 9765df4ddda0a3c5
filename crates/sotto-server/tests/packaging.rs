//! The configuration file the Debian package installs (`packaging/sotto.toml`, as
//! `/etc/sotto/sotto.toml`): it loads as it is, sets what a packaged server needs, and shows
//! every setting of `[argon2]`, `[history]` and `[limits]` with its true default, so the file
//! cannot drift from the code. The installed package itself is tested by `scripts/test-package`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use sotto_server::config::{Args, Config, RegistrationMode};

fn packaged() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../packaging/sotto.toml")
}

fn load(path: &std::path::Path) -> Config {
    let args = Args::parse(["--config".to_owned(), path.display().to_string()]).unwrap();
    Config::load(&args, |_| None).unwrap()
}

#[test]
fn the_packaged_config_listens_publicly_keeps_data_in_var_lib_and_asks_for_an_invitation() {
    let config = load(&packaged());
    assert_eq!(config.listen, "0.0.0.0:8443".parse().unwrap());
    assert_eq!(config.data_dir, PathBuf::from("/var/lib/sotto"));
    assert_eq!(config.registration, RegistrationMode::Invite);
    assert!(config.tls_cert.is_none() && config.database_url.is_none());
}

#[test]
fn every_section_setting_is_listed_commented_with_its_default() {
    let text = std::fs::read_to_string(packaged()).unwrap();
    // Uncomment the sections (they come last): their headers and every `# key = value` line.
    let start = text.find("\n# [").expect("the file shows its sections");
    let mut uncommented = text[..start].to_owned();
    let mut listed = BTreeSet::new();
    let mut section = String::new();
    for line in text[start..].lines() {
        let Some(body) = line.strip_prefix("# ") else {
            uncommented.push_str(line);
            uncommented.push('\n');
            continue;
        };
        if body.starts_with('[') && body.ends_with(']') {
            section = body.trim_matches(['[', ']']).to_owned();
            uncommented.push_str(body);
        } else if let Some((key, _)) = body.split_once(" = ") {
            if key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                listed.insert(format!("{section}.{key}"));
                uncommented.push_str(body);
            }
        }
        uncommented.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotto.toml");
    std::fs::write(&path, uncommented).unwrap();
    let config = load(&path);
    let defaults = Config::default();

    let mut expected = BTreeSet::new();
    for (name, shown, default) in [
        ("argon2", json(&config.argon2), json(&defaults.argon2)),
        ("history", json(&config.history), json(&defaults.history)),
        ("limits", json(&config.limits), json(&defaults.limits)),
    ] {
        assert_eq!(
            shown, default,
            "[{name}] in packaging/sotto.toml shows other defaults"
        );
        for key in default.as_object().unwrap().keys() {
            expected.insert(format!("{name}.{key}"));
        }
    }
    assert_eq!(
        listed, expected,
        "packaging/sotto.toml must list every section setting once"
    );
}

/// A section as JSON, to compare it whole and list its keys.
fn json<T: serde::Serialize>(section: &T) -> serde_json::Value {
    serde_json::to_value(section).unwrap()
}
