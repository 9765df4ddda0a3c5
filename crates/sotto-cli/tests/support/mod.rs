//! Shared helpers for the end-to-end tests: the real server, in-process on a loopback port with
//! real TLS (its self-signed certificate, trusted only by pinning its fingerprint), and the real
//! `sotto` binary run as a child process on temporary profiles.
//!
//! The server runs in-process (`sotto_server::start`, a dev-dependency) rather than as a spawned
//! binary: cargo builds it with the tests, the port is bound before the first client starts (no
//! polling for readiness), and the tests can read its store to play a malicious relay.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;
use sotto_server::config::Config;
use sotto_server::Server;

/// The account password every test user has.
pub const PASSWORD: &str = "correct horse battery staple";

/// A running server.
pub struct TestServer {
    pub runtime: tokio::runtime::Runtime,
    pub server: Option<Server>,
    pub dir: tempfile::TempDir,
    pub url: String,
    pub pin: String,
}

impl TestServer {
    /// Starts a server on `127.0.0.1:0` with a temporary data folder and cheap Argon2.
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// Starts a server with a configuration `tweak`.
    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        config.argon2.memory_kib = 64;
        config.argon2.iterations = 1;
        config.limits.shutdown_grace_secs = 1;
        tweak(&mut config);
        let server = runtime.block_on(sotto_server::start(config)).unwrap();
        let url = format!("https://127.0.0.1:{}", server.local_addr.port());
        let pin = server.cert.fingerprint.clone();
        Self {
            runtime,
            server: Some(server),
            dir,
            url,
            pin,
        }
    }

    /// The server's store (to inspect it or to misbehave like a malicious relay).
    pub fn store(&self) -> std::sync::Arc<dyn sotto_server::store::Store> {
        self.server.as_ref().unwrap().state.0.store.clone()
    }

    /// Every byte of every file in the server's data folder (database, WAL, certificate).
    pub fn data_bytes(&self) -> Vec<u8> {
        fn walk(dir: &Path, out: &mut Vec<u8>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    out.extend_from_slice(&bytes);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir.path().join("data"), &mut out);
        out
    }

    /// A new, empty profile for `name`.
    pub fn profile(&self, name: &str) -> Profile {
        Profile {
            dir: tempfile::tempdir().unwrap(),
            name: name.to_owned(),
            url: self.url.clone(),
            pin: self.pin.clone(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = self.runtime.block_on(server.stop());
        }
    }
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// One person's device: a profile folder used with the `sotto` binary.
pub struct Profile {
    pub dir: tempfile::TempDir,
    pub name: String,
    pub url: String,
    pub pin: String,
}

/// The exit code of a send the server stored but did not give to every member device.
pub const NOT_DELIVERED: i32 = 10;

/// The result of one `sotto` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// stdout as JSON lines.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
            .collect()
    }
}

impl Profile {
    /// The base command: this profile, the server URL, secrets in the environment. The pin is
    /// not passed: it is given once (`register`/`login`) and remembered by the profile.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_at(&self.url, args)
    }

    /// The base command against another server URL.
    pub fn command_at(&self, url: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sotto"));
        cmd.arg("--profile")
            .arg(self.dir.path())
            .arg("--server")
            .arg(url)
            .args(args)
            .env("SOTTO_PASSPHRASE", format!("passphrase of {}", self.name))
            .env("SOTTO_PASSWORD", PASSWORD)
            .env_remove("SOTTO_SERVER")
            .env_remove("SOTTO_PROFILE")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `sotto args…`.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().unwrap())
    }

    /// Runs `sotto args…` with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        for (key, value) in env {
            cmd.env(key, value);
        }
        Run::from(cmd.output().unwrap())
    }

    /// Runs `sotto args…`, which must succeed.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(
            run.code, 0,
            "sotto {args:?} ({}) failed:\n{}\n{}",
            self.name, run.stdout, run.stderr
        );
        run
    }

    /// `sotto send to text`: the run, whatever its exit code, and its JSON line.
    pub fn send(&self, to: &str, text: &str) -> (Run, Value) {
        let run = self.run(&["send", to, text]);
        let line = run
            .json_lines()
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no JSON line: {}\n{}", run.stdout, run.stderr));
        (run, line)
    }

    /// Registers `self.name`, pinning the server certificate.
    pub fn register(&self) {
        self.ok(&[
            "--tls-pin",
            &self.pin.clone(),
            "register",
            &self.name.clone(),
        ]);
    }

    /// `sotto recv` (the queue, then quiet), returning the messages.
    pub fn recv(&self) -> (Vec<Value>, Run) {
        let run = self.ok(&["recv"]);
        (run.json_lines(), run)
    }

    /// The texts of received messages, which must come without a note that messages are
    /// missing.
    pub fn recv_texts_without_gap(&self) -> Vec<String> {
        let (lines, run) = self.recv();
        assert!(!run.stderr.contains("missing"), "{}", run.stderr);
        lines
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The texts of received messages.
    pub fn recv_texts(&self) -> Vec<String> {
        self.recv()
            .0
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    }

    /// A `key: value` line of `sotto status`.
    pub fn status(&self, key: &str) -> String {
        let run = self.ok(&["status"]);
        run.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("no {key} in status: {}", run.stdout))
            .to_owned()
    }

    /// The safety-number digits `sotto verify` prints.
    pub fn safety_number(&self, with: &str, extra: &[&str]) -> String {
        let mut args = vec!["verify", with];
        args.extend_from_slice(extra);
        let run = self.ok(&args);
        run.stdout
            .lines()
            .filter(|l| l.starts_with("  "))
            .collect::<Vec<_>>()
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Starts `sotto login` on this (new) profile and returns the child and its approval code.
    pub fn start_login(&self) -> (Child, String) {
        let mut child = self
            .command(&[
                "--tls-pin",
                &self.pin,
                "login",
                &self.name,
                "--device-name",
                "laptop",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let code = line
            .trim()
            .strip_prefix("approval code: ")
            .unwrap_or_else(|| panic!("no approval code: {line:?}"))
            .to_owned();
        (child, code)
    }

    /// The profile folder.
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}
