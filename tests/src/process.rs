//! A veil binary run as its own process with its own state folder (`VEIL_HOME`): once to
//! its end ([`run`]), or left running with its stderr gathered as it comes ([`Running`]),
//! for tests that signal a real service.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long [`Running::wait_for`] waits.
pub const WAIT: Duration = Duration::from_secs(30);

/// Runs `program ARGS` with `VEIL_HOME=home` to its end: exit code, stdout, stderr.
pub fn run(program: &Path, home: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(program)
        .args(args)
        .env("VEIL_HOME", home)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// A running service, its stderr gathered as it comes; killed when dropped.
pub struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
    name: String,
}

impl Running {
    /// Starts `program ARGS` with `VEIL_HOME=home`.
    pub fn start(program: &Path, home: &Path, args: &[&str]) -> Running {
        let mut child = Command::new(program)
            .args(args)
            .env("VEIL_HOME", home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (pipe, log) = (child.stderr.take().expect("piped stderr"), stderr.clone());
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let name = program
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into());
        Running {
            child,
            stderr,
            name,
        }
    }

    /// Waits (at most [`WAIT`]) until stderr has `needle` `times` times.
    pub fn wait_for(&self, needle: &str, times: usize) {
        let start = Instant::now();
        while self.stderr.lock().unwrap().matches(needle).count() < times {
            assert!(
                start.elapsed() < WAIT,
                "no {needle:?} (x{times}) from {}:\n{}",
                self.name,
                self.stderr.lock().unwrap()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends the process a SIGHUP.
    pub fn hang_up(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-HUP", &pid]).status();
        assert!(status.expect("running kill").success());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
