//! The accept loop that every veil service runs.

use std::fmt::{Debug, Display};
use std::sync::Arc;

use tokio::runtime::Handle;

use crate::{Connection, Listener, NetError};

/// Accepts connections until the listener closes and serves each with `serve` on a
/// blocking thread (the protocol code is blocking). Handshakes run concurrently; a
/// connection that fails is logged as "`what` failed: …" and dropped, and the others go
/// on; one that ends well is logged with what `serve` returned.
pub async fn serve_blocking<S, T, E>(
    listener: Listener,
    state: Arc<S>,
    what: &'static str,
    serve: fn(&Connection, Handle, &S) -> Result<T, E>,
) -> Result<(), NetError>
where
    S: Send + Sync + 'static,
    T: Debug + Send + 'static,
    E: Display + Send + 'static,
{
    loop {
        let incoming = listener.incoming().await?;
        let state = state.clone();
        tokio::spawn(async move {
            let from = incoming.remote_address();
            let conn = match incoming.establish().await {
                Ok(c) => c,
                Err(e) => return tracing::warn!(%from, "handshake failed: {e}"),
            };
            let handle = Handle::current();
            let done = tokio::task::spawn_blocking(move || serve(&conn, handle, &state)).await;
            match done {
                Ok(Ok(outcome)) => tracing::info!(%from, ?outcome, "{what} ended"),
                Ok(Err(e)) => tracing::warn!(%from, "{what} failed: {e}"),
                Err(e) => tracing::error!(%from, "{what} panicked: {e}"),
            }
        });
    }
}
