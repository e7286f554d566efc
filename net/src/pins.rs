//! SSH-style key pinning: a `known_hosts` file of `<name> <fingerprint>` lines.
//!
//! Trust on first use: the first key seen under a name is appended to the file; later
//! connections must present the same key, or are refused with
//! [`NetError::KeyChanged`] naming the file and line to delete. Blank lines and lines
//! starting with `#` are ignored; any other malformed line is an error, so a typo cannot
//! silently disable a pin.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::state::{ensure_dir, io_err};
use crate::{Fingerprint, NetError};

/// The pins file name inside the state folder.
pub const KNOWN_HOSTS: &str = "known_hosts";

/// A key pinned under a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pin {
    /// The pinned key.
    pub fingerprint: Fingerprint,
    /// The 1-based line of the pin in its file (its position, for in-memory pins).
    pub line: usize,
}

/// What pinning a key did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum PinStatus {
    /// The key was already pinned under that name.
    Known,
    /// The name was unknown; the key is now pinned (say so to the user, once).
    NewlyPinned,
}

/// The set of pinned peer keys, backed by a file or held in memory.
#[derive(Debug)]
pub struct KnownHosts {
    file: Option<PathBuf>,
    /// Pins of an in-memory set; serialises file updates otherwise.
    memory: Mutex<Vec<(String, Fingerprint)>>,
}

impl KnownHosts {
    /// The pins in `dir/known_hosts` (the file and folder are created on the first pin).
    /// Fails if the file exists but cannot be read or parsed.
    pub fn open(dir: &Path) -> Result<KnownHosts, NetError> {
        KnownHosts::at(dir.join(KNOWN_HOSTS))
    }

    /// The pins in the file `file`.
    pub fn at(file: PathBuf) -> Result<KnownHosts, NetError> {
        let pins = KnownHosts {
            file: Some(file),
            memory: Mutex::new(Vec::new()),
        };
        pins.entries()?;
        Ok(pins)
    }

    /// An empty set that lives in memory only: pins made through it are never written.
    /// With [`KnownHosts::pin`] beforehand, it makes a connection accept exactly one key.
    pub fn in_memory() -> KnownHosts {
        KnownHosts {
            file: None,
            memory: Mutex::new(Vec::new()),
        }
    }

    /// The backing file, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The first pin recorded under `name`, if any.
    pub fn lookup(&self, name: &str) -> Result<Option<Pin>, NetError> {
        let entries = match &self.file {
            Some(_) => self.entries()?,
            None => self.lock().clone(),
        };
        Ok(find(&entries, name))
    }

    /// Pins `fingerprint` under `name` unless a pin exists: an equal pin gives
    /// [`PinStatus::Known`], a different one [`NetError::KeyChanged`].
    pub fn pin(&self, name: &str, fingerprint: Fingerprint) -> Result<PinStatus, NetError> {
        check_name(name)?;
        let mut memory = self.lock();
        let entries = match &self.file {
            Some(_) => self.entries()?,
            None => memory.clone(),
        };
        if let Some(pin) = find(&entries, name) {
            return self.compare(name, pin, fingerprint, &entries);
        }
        match &self.file {
            Some(file) => append(file, name, fingerprint)?,
            None => memory.push((name.to_string(), fingerprint)),
        }
        Ok(PinStatus::NewlyPinned)
    }

    /// The error for a key that differs from the pin of `name`.
    pub(crate) fn key_changed(&self, name: &str, pin: Pin) -> NetError {
        NetError::KeyChanged {
            name: name.to_string(),
            file: self
                .file
                .clone()
                .unwrap_or_else(|| PathBuf::from("(in-memory pins)")),
            line: pin.line,
        }
    }

    fn compare(
        &self,
        name: &str,
        pin: Pin,
        fingerprint: Fingerprint,
        entries: &[(String, Fingerprint)],
    ) -> Result<PinStatus, NetError> {
        // Several lines may pin one name (as in SSH): any of them matching is enough.
        let any = entries.iter().any(|(n, f)| n == name && *f == fingerprint);
        if any {
            Ok(PinStatus::Known)
        } else {
            Err(self.key_changed(name, pin))
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, Fingerprint)>> {
        // The guarded data stays consistent even if a holder panicked.
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entries of the file, by line (blank and comment lines kept as empty names so
    /// positions match line numbers).
    fn entries(&self) -> Result<Vec<(String, Fingerprint)>, NetError> {
        let Some(file) = &self.file else {
            return Ok(Vec::new());
        };
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(file, e)),
        };
        text.lines()
            .enumerate()
            .map(|(i, line)| parse_line(line).map_err(|reason| bad_line(file, i + 1, reason)))
            .collect()
    }
}

/// A blank or comment line yields an empty name, which never matches.
fn parse_line(line: &str) -> Result<(String, Fingerprint), &'static str> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok((String::new(), Fingerprint::from([0; 32])));
    }
    let mut fields = line.split_whitespace();
    let (Some(name), Some(hex), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err("expected '<name> <fingerprint>'");
    };
    let fingerprint = hex
        .parse()
        .map_err(|_| "the fingerprint is not 64 hex digits")?;
    Ok((name.to_string(), fingerprint))
}

fn find(entries: &[(String, Fingerprint)], name: &str) -> Option<Pin> {
    let index = entries.iter().position(|(n, _)| n == name)?;
    Some(Pin {
        fingerprint: entries[index].1,
        line: index + 1,
    })
}

fn check_name(name: &str) -> Result<(), NetError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('#')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(NetError::InvalidName(name.chars().take(80).collect()))
    }
}

fn append(file: &Path, name: &str, fingerprint: Fingerprint) -> Result<(), NetError> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        ensure_dir(dir)?;
    }
    let needs_newline = match std::fs::read(file) {
        Ok(bytes) => bytes.last().is_some_and(|&b| b != b'\n'),
        Err(_) => false,
    };
    let line = format!(
        "{}{name} {fingerprint}\n",
        if needs_newline { "\n" } else { "" }
    );
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(file)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(|e| io_err(file, e))
}

fn bad_line(file: &Path, line: usize, reason: &'static str) -> NetError {
    NetError::BadStateFile {
        path: file.to_path_buf(),
        line: Some(line),
        reason,
    }
}

#[cfg(test)]
mod tests;
