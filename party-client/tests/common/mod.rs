//! What the binary's tests share: running `veil-client` with its own state folder, the
//! shipped samples, and reading its JSON.
//!
//! Each test binary uses its own part of this module, so items unused by one binary are
//! not dead code.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use veil_tests::{model_path, Harness};

/// A run that takes longer than this is stuck: kill it and fail.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// What one run of the binary did.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status.code(),
            self.elapsed,
            self.stdout,
            self.stderr
        )
    }
}

/// Starts `veil-client ARGS` with `VEIL_HOME=home`, its output piped.
pub fn spawn_client(home: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_veil-client"))
        .args(args)
        .env("VEIL_HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting veil-client")
}

/// Runs `veil-client ARGS` with `VEIL_HOME=home`, killing it after [`DEADLINE`].
pub fn veil_client(home: &Path, args: &[&str]) -> Run {
    let start = Instant::now();
    let mut child = spawn_client(home, args);
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for veil-client") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("veil-client {args:?} ran past {DEADLINE:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    Run {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        elapsed: start.elapsed(),
    }
}

pub fn sample(i: usize) -> PathBuf {
    model_path(&format!("samples/mnist-{i}.npy"))
}

/// `infer --server ADDR --input FILE` plus `extra`.
pub fn infer(h: &Harness, home: &Path, input: &Path, extra: &[&str]) -> Run {
    let server = h.server_name();
    let input = input.to_str().expect("a UTF-8 path");
    let mut args = vec!["infer", "--server", &server, "--input", input];
    args.extend_from_slice(extra);
    veil_client(home, &args)
}

/// Checks a `{"bytes", "rounds", "ms"}` object and returns (bytes, rounds).
pub fn phase(json: &Value, name: &str) -> (u64, u64) {
    let p = &json[name];
    let ms = p["ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("{name}.ms in {json}"));
    assert!(ms >= 0.0, "{name}.ms = {ms}");
    (
        p["bytes"]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}.bytes in {json}")),
        p["rounds"]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}.rounds in {json}")),
    )
}
