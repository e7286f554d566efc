//! What the three binaries share besides QUIC: their log, their runtime, their exit codes,
//! their `id` command and the server's and dealer's allow lists (`--allow FILE`, reloaded
//! on SIGHUP), so that each `main` is only its arguments and its output.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use veil_protocol::session::access::{Access, AllowList};
use veil_protocol::session::SessionError;

/// Logs to stderr at `default` (e.g. `veil_server=info`) unless `RUST_LOG` says otherwise.
pub fn init_logging(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// A multi-threaded runtime for the endpoints.
pub fn runtime() -> Result<tokio::runtime::Runtime, SessionError> {
    tokio::runtime::Runtime::new().map_err(SessionError::local)
}

/// Prints `program: error` on stderr for a failure and returns the exit code of
/// CONTRACT.md: 0 success, 1 a runtime failure, 2 bad usage or input.
pub fn exit(program: &str, result: Result<(), SessionError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// `id`: prints the key fingerprint of the party `role` (hex, one line, as peers pin it and
/// allow lists name it), creating the key in the state folder if there is none.
pub fn print_id(role: &str) -> Result<(), SessionError> {
    let identity = crate::Identity::load_or_create(&crate::state_dir(), role)?;
    println!("{}", identity.fingerprint());
    Ok(())
}

/// Reads the allow list at `path` (`--allow FILE`); `models`: whether entries may name
/// models (a server's list), or not (a dealer's, which hosts none). A file that cannot be
/// read or a line that does not parse is bad input, named by the file and line.
pub fn read_allow(path: &Path, models: bool) -> Result<Access, SessionError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| SessionError::usage(format!("cannot read the allow list {shown}: {e}")))?;
    let access = Access::parse(&text)
        .map_err(|e| SessionError::usage(format!("the allow list {shown}, {e}")))?;
    if let (false, Some(model)) = (models, access.first_model_named()) {
        return Err(SessionError::usage(format!(
            "the allow list {shown} names the model {model:?}, but a dealer's list holds \
             key fingerprints alone (no models): remove the model names"
        )));
    }
    Ok(access)
}

/// Reads the allow list at `path` again and, if it parses, puts it in place of `list`'s:
/// the keys it now holds. On failure `list` keeps the list it had.
pub fn reload_allow(path: &Path, models: bool, list: &AllowList) -> Result<usize, SessionError> {
    let access = read_allow(path, models)?;
    let keys = access.len();
    list.replace(access);
    Ok(keys)
}

/// Reloads the allow list at `path` into `list` on every SIGHUP, saying on stderr how many
/// keys it now holds, or why it kept the old one. Runs until the runtime stops.
#[cfg(unix)]
pub async fn reload_on_hangup(
    program: &'static str,
    path: PathBuf,
    models: bool,
    list: Arc<AllowList>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(e) => {
            eprintln!("{program}: cannot watch for SIGHUP, the allow list will not reload: {e}");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        match reload_allow(&path, models, &list) {
            Ok(keys) => eprintln!(
                "{program}: reloaded the allow list {}: {keys} keys",
                path.display()
            ),
            Err(e) => eprintln!(
                "{program}: kept the previous allow list ({} keys): {e}",
                list.current().len()
            ),
        }
    }
}

/// Without unix signals the allow list is read once, at start.
#[cfg(not(unix))]
pub async fn reload_on_hangup(_: &'static str, _: PathBuf, _: bool, _: Arc<AllowList>) {
    std::future::pending::<()>().await
}
