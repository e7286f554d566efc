//! What the three binaries share besides QUIC: their log, their runtime and their exit
//! codes, so that each `main` is only its arguments and its output.

use std::process::ExitCode;

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
