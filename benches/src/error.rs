//! Why a bench command failed, and which exit code that means (CONTRACT.md: 1 for a
//! runtime failure, 2 for bad usage or a bad file).

use veil_model::{InputError, ModelError};
use veil_net::NetError;
use veil_protocol::session::SessionError;

/// Why a bench command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// The model file cannot be loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A data file or an input does not fit.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The in-process dealer or server could not start.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The client session failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A thread of the bench panicked.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl BenchError {
    /// The process exit code: 2 for bad usage or a bad file, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            BenchError::Usage(_) | BenchError::Model(_) | BenchError::Input(_) => 2,
            BenchError::Session(e) => e.exit_code(),
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_and_files_exit_2_the_rest_1() {
        assert_eq!(BenchError::Usage("x".into()).exit_code(), 2);
        let io = std::io::Error::other("boom");
        assert_eq!(BenchError::Runtime(io).exit_code(), 1);
        assert_eq!(BenchError::Internal("x").exit_code(), 1);
        let missing = veil_model::load(std::path::Path::new("/nonexistent/m.onnx"));
        let e = BenchError::from(missing.expect_err("no such file"));
        assert_eq!(e.exit_code(), 2);
    }
}
