//! An in-memory transport: two ends of a pipe, for tests and single-process runs.

use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use super::{ChannelError, Transport, TOO_LONG};

/// One end of an in-memory pipe. Frames arrive whole and in order; dropping one end makes
/// the other see [`ChannelError::Closed`].
pub struct MemTransport {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    timeout: Duration,
    limit: Option<usize>,
}

impl MemTransport {
    /// Two connected ends. A receive waits at most 60 s, so a broken test fails, never hangs.
    pub fn pair() -> (MemTransport, MemTransport) {
        let (a_tx, b_rx) = channel();
        let (b_tx, a_rx) = channel();
        let timeout = Duration::from_secs(60);
        (
            MemTransport {
                tx: a_tx,
                rx: a_rx,
                timeout,
                limit: None,
            },
            MemTransport {
                tx: b_tx,
                rx: b_rx,
                timeout,
                limit: None,
            },
        )
    }
}

impl Transport for MemTransport {
    fn send(&mut self, frame: &[u8]) -> Result<(), ChannelError> {
        self.send_owned(frame.to_vec())
    }

    fn send_owned(&mut self, frame: Vec<u8>) -> Result<(), ChannelError> {
        self.tx.send(frame).map_err(|_| ChannelError::Closed)
    }

    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        let frame = self.rx.recv_timeout(self.timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => ChannelError::Timeout,
            RecvTimeoutError::Disconnected => ChannelError::Closed,
        })?;
        match self.limit {
            Some(max) if frame.len() > max => Err(ChannelError::Malformed(TOO_LONG)),
            _ => Ok(frame),
        }
    }

    fn limit_incoming(&mut self, max: Option<usize>) {
        self.limit = max;
    }
}
