//! `veil._veil`: the Python glue over [`veil_client`], nothing more. The package `veil`
//! (`python/python/veil/__init__.py`) wraps it: arrays in as `.npy` bytes, answers out as the
//! JSON text of `veil-client infer --json`, errors as [`VeilError`]'s two kinds, split as
//! the binary's exit codes split them (`SessionError::exit_code`).

#![warn(missing_docs)]

use std::sync::{Mutex, MutexGuard};

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use veil_client::{to_json, Settings};
use veil_protocol::plan::Backend;
use veil_protocol::session::SessionError;

create_exception!(
    veil,
    VeilError,
    PyException,
    "Any failure of a veil client."
);
create_exception!(
    veil,
    UsageError,
    VeilError,
    "The request or the input is at fault (veil-client's exit code 2): a wrong input \
     shape or value, a model the server does not host, a dealer the server cannot use."
);
create_exception!(
    veil,
    PeerError,
    VeilError,
    "A runtime failure (veil-client's exit code 1): a peer refused or misbehaved, the \
     network failed, or the state folder could not be used."
);

/// The Python exception for `e`, with the binary's message.
fn raise(e: SessionError) -> PyErr {
    match e.exit_code() {
        2 => UsageError::new_err(e.to_string()),
        _ => PeerError::new_err(e.to_string()),
    }
}

/// A client with an open session; `veil.Client` wraps it.
#[pyclass(module = "veil._veil")]
struct Client {
    /// `None` once closed. The lock makes one call at a time from Python's threads.
    inner: Mutex<Option<veil_client::Client>>,
}

#[pymethods]
impl Client {
    /// Loads the keys and pins and opens the session (setup included).
    #[new]
    #[pyo3(signature = (server, model=None, backend="gmw", dealer=None))]
    fn new(
        py: Python<'_>,
        server: String,
        model: Option<String>,
        backend: &str,
        dealer: Option<String>,
    ) -> PyResult<Client> {
        let backend = match backend {
            "gmw" => Backend::Gmw,
            "gc" => Backend::Gc,
            other => {
                return Err(UsageError::new_err(format!(
                    "unknown backend '{other}'; use \"gmw\" or \"gc\""
                )))
            }
        };
        let settings = Settings {
            server,
            model,
            backend,
            dealer,
        };
        let notify = Box::new(|notice: &str| eprintln!("veil: {notice}"));
        let mut client = veil_client::Client::new(settings, notify).map_err(raise)?;
        py.detach(|| client.connect(false)).map_err(raise)?;
        Ok(Client {
            inner: Mutex::new(Some(client)),
        })
    }

    /// One query on the array in `npy` (the bytes of a `.npy` file); the answer as JSON.
    fn infer(&self, py: Python<'_>, npy: &[u8], label_only: bool) -> PyResult<String> {
        let input = veil_model::parse_npy(npy)
            .map_err(SessionError::usage)
            .map_err(raise)?;
        py.detach(|| {
            self.with_open(|client| to_json(&client.infer(&input.data, label_only)?.json()))
        })
    }

    /// Makes `queries` queries ahead of time (of the label alone if `label_only`); what
    /// was made, as JSON.
    fn precompute(&self, py: Python<'_>, queries: u32, label_only: bool) -> PyResult<String> {
        py.detach(|| {
            self.with_open(|client| {
                to_json(&client.precompute(queries, label_only, &mut |_| {})?.json())
            })
        })
    }

    /// Ends the session; the client cannot be used afterwards.
    fn close(&self, py: Python<'_>) {
        py.detach(|| {
            if let Some(mut client) = self.lock().take() {
                client.close();
            }
        })
    }
}

impl Client {
    /// The lock on the client; a call that panicked left nothing half-done that matters
    /// more than the next call's own checks.
    fn lock(&self) -> MutexGuard<'_, Option<veil_client::Client>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the client, unless it was closed.
    fn with_open<T>(
        &self,
        f: impl FnOnce(&mut veil_client::Client) -> Result<T, SessionError>,
    ) -> PyResult<T> {
        match self.lock().as_mut() {
            Some(client) => f(client).map_err(raise),
            None => Err(UsageError::new_err(
                "this client is closed; make a new veil.Client",
            )),
        }
    }
}

/// The module `veil._veil`: the client and the three exceptions.
#[pymodule]
fn _veil(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Client>()?;
    m.add("VeilError", py.get_type::<VeilError>())?;
    m.add("UsageError", py.get_type::<UsageError>())?;
    m.add("PeerError", py.get_type::<PeerError>())?;
    Ok(())
}
