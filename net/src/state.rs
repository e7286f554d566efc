//! The state folder and the careful file writes its contents need.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::NetError;

/// The folder holding identities and pins: `$VEIL_HOME` if set (and non-empty), else
/// `~/.veil`. It is not created here; the functions that write to it create it (mode
/// 0700) on first use.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VEIL_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".veil"),
        None => PathBuf::from(".veil"),
    }
}

/// Creates `dir` (and its parents) if missing; new folders are private to the user.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), NetError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| io_err(dir, e))
}

/// Wraps an I/O error with the path it concerns.
pub(crate) fn io_err(path: &Path, source: std::io::Error) -> NetError {
    NetError::State {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` only if nothing is there yet, atomically and with `mode`.
///
/// Returns `Ok(false)` if another writer got there first (the file then holds theirs).
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<bool, NetError> {
    let tmp = temp_path(path);
    write_temp(&tmp, bytes, mode)?;
    // A hard link fails if the target exists, so two racing writers cannot clobber
    // each other's file.
    let linked = match fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        // A file system without hard links: fall back to a plain rename.
        Err(_) if !path.exists() => fs::rename(&tmp, path).map(|()| true),
        Err(e) => Err(e),
    };
    let _ = fs::remove_file(&tmp);
    linked.map_err(|e| io_err(path, e))
}

/// Atomically replaces (or creates) `path` with `bytes`, with `mode`.
pub(crate) fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), NetError> {
    let tmp = temp_path(path);
    write_temp(&tmp, bytes, mode)?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err(path, e)
    })
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

fn write_temp(tmp: &Path, bytes: &[u8], mode: u32) -> Result<(), NetError> {
    // A stale file from a crashed run would keep its old mode: start afresh.
    let _ = fs::remove_file(tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let result = options.open(tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    result.map_err(|e| {
        let _ = fs::remove_file(tmp);
        io_err(tmp, e)
    })
}

/// Resolves `host:port` (as a user writes it) to its first socket address.
pub fn resolve(addr: &str) -> Result<std::net::SocketAddr, NetError> {
    use std::net::ToSocketAddrs;
    let err = |detail: String| NetError::Resolve {
        addr: addr.to_string(),
        detail,
    };
    addr.to_socket_addrs()
        .map_err(|e| err(e.to_string()))?
        .next()
        .ok_or_else(|| err("it names no address".into()))
}
