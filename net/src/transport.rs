//! [`QuicTransport`]: the protocol's blocking [`Transport`] over one QUIC stream.
//!
//! Wire format: a 1-byte hello from the opener (so the peer's `accept_bi` fires), then
//! frames `u32 little-endian length || bytes` in both directions. On a shaped connection
//! ([`Connection::shape`]) the hello differs and every frame's bytes start with the
//! shaper's due time ([`crate::shaper`]); both ends must be shaped, or neither.

use std::time::Duration;

use quinn::{ReadError, RecvStream, SendStream, VarInt, WriteError};
use tokio::runtime::Handle;
use tokio::time::timeout;
use veil_protocol::channel::{ChannelError, Transport, TOO_LONG};

use crate::shaper::{self, Shaper};
use crate::{Connection, NetError};

/// The largest frame accepted or sent by default (1 GiB).
pub const MAX_FRAME: usize = 1 << 30;
/// How long a blocking call waits for progress from the peer by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The first byte on every veil stream.
const HELLO: u8 = 0x76;
/// The first byte on every shaped veil stream.
const SHAPED_HELLO: u8 = 0x77;
/// Frames up to this size are sent with their header in one write.
const COALESCE: usize = 64 << 10;
/// Allocation granted ahead of the data actually received, for long frames.
const RESERVE_AHEAD: usize = 16 << 20;
/// Stream error code sent when we abandon a stream.
const ABANDONED: u32 = 1;

/// One bidirectional QUIC stream moving length-prefixed frames, with a blocking API.
///
/// Its methods block on the Tokio runtime `handle`: call them from plain threads or
/// `spawn_blocking`, never from inside an async task (Tokio panics if you do).
///
/// Timeouts count time without progress: a call fails with [`ChannelError::Timeout`]
/// once the peer has moved no bytes for the timeout. A timeout while waiting for a new
/// frame leaves the transport usable; any other failure leaves it broken, and later
/// calls return [`ChannelError::Closed`].
pub struct QuicTransport {
    send: SendStream,
    recv: RecvStream,
    connection: quinn::Connection,
    handle: Handle,
    timeout: Duration,
    max_frame: usize,
    /// A lower limit on received frames, set by the session ([`Transport::limit_incoming`]).
    incoming: Option<usize>,
    partial: Partial,
    scratch: Vec<u8>,
    broken: bool,
    /// Set on a shaped connection: schedules this end's frames on the link.
    shaper: Option<Shaper>,
}

/// A frame being received, kept across calls so a timed-out recv can resume.
#[derive(Default)]
struct Partial {
    header: [u8; 4],
    header_len: usize,
    body: Vec<u8>,
}

impl QuicTransport {
    /// Opens a new stream on `connection` and sends the hello. Blocking; see the type doc.
    pub fn open(connection: &Connection, handle: Handle) -> Result<QuicTransport, NetError> {
        handle
            .clone()
            .block_on(Self::open_async(connection, handle))
    }

    /// Accepts the next stream the peer opens on `connection` and checks its hello,
    /// waiting at most [`DEFAULT_TIMEOUT`]. Blocking; see the type doc.
    pub fn accept(connection: &Connection, handle: Handle) -> Result<QuicTransport, NetError> {
        handle
            .clone()
            .block_on(Self::accept_async(connection, handle))
    }

    /// [`QuicTransport::open`] for async callers; `handle` is the runtime the
    /// transport's blocking calls will use later.
    pub async fn open_async(
        connection: &Connection,
        handle: Handle,
    ) -> Result<QuicTransport, NetError> {
        let (mut send, recv) = connection.quic().open_bi().await?;
        send.write_all(&[hello(connection)])
            .await
            .map_err(|e| match e {
                WriteError::ConnectionLost(e) => NetError::ConnectionLost(e),
                _ => NetError::StreamClosed,
            })?;
        Ok(Self::new(connection, send, recv, handle))
    }

    /// [`QuicTransport::accept`] for async callers.
    pub async fn accept_async(
        connection: &Connection,
        handle: Handle,
    ) -> Result<QuicTransport, NetError> {
        let accepted = async {
            let (send, mut recv) = connection.quic().accept_bi().await?;
            let mut first = [0u8; 1];
            recv.read_exact(&mut first).await.map_err(|e| match e {
                quinn::ReadExactError::ReadError(ReadError::ConnectionLost(e)) => {
                    NetError::ConnectionLost(e)
                }
                _ => NetError::StreamClosed,
            })?;
            if first[0] != hello(connection) {
                return Err(NetError::BadHello);
            }
            Ok((send, recv))
        };
        let (send, recv) =
            timeout(DEFAULT_TIMEOUT, accepted)
                .await
                .map_err(|_| NetError::Timeout {
                    what: "the peer to open a channel",
                    after: DEFAULT_TIMEOUT,
                })??;
        Ok(Self::new(connection, send, recv, handle))
    }

    fn new(connection: &Connection, send: SendStream, recv: RecvStream, handle: Handle) -> Self {
        QuicTransport {
            send,
            recv,
            connection: connection.quic().clone(),
            handle,
            timeout: DEFAULT_TIMEOUT,
            max_frame: MAX_FRAME,
            incoming: None,
            partial: Partial::default(),
            scratch: Vec::new(),
            broken: false,
            shaper: connection.shape().map(Shaper::new),
        }
    }

    /// Sets how long a call may go without progress from the peer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the largest frame this end sends or accepts (at most `u32::MAX` bytes).
    pub fn with_max_frame(mut self, max_frame: usize) -> Self {
        self.max_frame = max_frame.min(u32::MAX as usize);
        self
    }

    /// Sends one frame, with the shaper's stamp on a shaped connection.
    fn write(&mut self, frame: Payload<'_>) -> Result<(), ChannelError> {
        if self.broken {
            return Err(ChannelError::Closed);
        }
        let prefix = self.shaper.as_mut().map(|s| s.stamp(frame.len()));
        let prefix = prefix.as_ref().map_or(&[][..], |p| &p[..]);
        let total = prefix.len() + frame.len();
        let len = match u32::try_from(total) {
            Ok(len) if total <= self.max_frame => len,
            _ => return Err(ChannelError::Malformed("frame longer than the maximum")),
        };
        let Self {
            send,
            handle,
            scratch,
            timeout: limit,
            ..
        } = self;
        let result = handle.block_on(write_frame(send, scratch, len, prefix, frame, *limit));
        if result.is_err() {
            self.abandon();
        }
        result
    }

    /// Gives up on the stream after an error that leaves it out of step.
    fn abandon(&mut self) {
        self.broken = true;
        let _ = self.send.reset(VarInt::from_u32(ABANDONED));
        let _ = self.recv.stop(VarInt::from_u32(ABANDONED));
    }
}

impl Transport for QuicTransport {
    fn send(&mut self, frame: &[u8]) -> Result<(), ChannelError> {
        self.write(Payload::Borrowed(frame))
    }

    /// Frames longer than [`COALESCE`] are handed to the stream as they are: the stream
    /// keeps the buffer until it is acknowledged, and nothing is copied.
    fn send_owned(&mut self, frame: Vec<u8>) -> Result<(), ChannelError> {
        if frame.len() <= COALESCE {
            return self.write(Payload::Borrowed(&frame));
        }
        self.write(Payload::Owned(frame))
    }

    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        if self.broken {
            return Err(ChannelError::Closed);
        }
        let Self {
            recv,
            handle,
            partial,
            timeout: limit,
            max_frame,
            incoming,
            ..
        } = self;
        let max = incoming.map_or(*max_frame, |i| i.min(*max_frame));
        let mut result = handle.block_on(read_frame(recv, partial, max, *limit));
        if self.shaper.is_some() {
            result = result.and_then(shaper::hold);
        }
        let resumable = matches!(result, Err(ChannelError::Timeout));
        if result.is_err() && !resumable {
            self.abandon();
        }
        result
    }

    /// Ends our direction of the stream and blocks until the peer has received every
    /// frame sent (or the timeout passes). Call it before dropping the connection when
    /// this side sent the last frame: closing a connection discards undelivered data.
    fn finish(&mut self) -> Result<(), ChannelError> {
        if self.send.finish().is_err() {
            return Ok(()); // already finished or reset
        }
        let (send, limit) = (&mut self.send, self.timeout);
        // The timer must be made inside the runtime: build it in the async block.
        match self
            .handle
            .block_on(async { timeout(limit, send.stopped()).await })
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ChannelError::Closed),
            Err(_) => Err(ChannelError::Timeout),
        }
    }

    fn wire_bytes(&self) -> Option<u64> {
        let stats = self.connection.stats();
        Some(stats.udp_tx.bytes + stats.udp_rx.bytes)
    }

    fn limit_incoming(&mut self, max: Option<usize>) {
        self.incoming = max;
    }
}

/// The hello that opens a stream on `connection`: it tells whether frames are shaped.
fn hello(connection: &Connection) -> u8 {
    match connection.shape() {
        Some(_) => SHAPED_HELLO,
        None => HELLO,
    }
}

/// The bytes of a frame: borrowed (copied into the stream) or given away (kept by it).
enum Payload<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Payload<'_> {
    fn len(&self) -> usize {
        match self {
            Payload::Borrowed(b) => b.len(),
            Payload::Owned(v) => v.len(),
        }
    }
}

/// Writes one frame: its length `len`, then `prefix` and `frame`, which make up its
/// bytes. Small frames go in a single write with their header (one packet for a small
/// message); large borrowed ones are written in place (the stream copies them once);
/// owned ones are handed over whole, without a copy.
async fn write_frame(
    send: &mut SendStream,
    scratch: &mut Vec<u8>,
    len: u32,
    prefix: &[u8],
    frame: Payload<'_>,
    limit: Duration,
) -> Result<(), ChannelError> {
    scratch.clear();
    scratch.extend_from_slice(&len.to_le_bytes());
    scratch.extend_from_slice(prefix);
    match frame {
        Payload::Borrowed(frame) if frame.len() <= COALESCE => {
            scratch.extend_from_slice(frame);
            write_all(send, scratch, limit).await
        }
        Payload::Borrowed(frame) => {
            write_all(send, scratch, limit).await?;
            write_all(send, frame, limit).await
        }
        Payload::Owned(frame) => {
            write_all(send, scratch, limit).await?;
            let mut chunk = [frame.into()];
            // Each call leaves the chunk's unwritten suffix in place; a call that waits
            // longer than `limit` for room is a timeout, as in `write_all`.
            loop {
                timeout(limit, send.write_chunks(&mut chunk))
                    .await
                    .map_err(|_| ChannelError::Timeout)?
                    .map_err(write_error)?;
                if chunk[0].is_empty() {
                    return Ok(());
                }
            }
        }
    }
}

async fn write_all(
    send: &mut SendStream,
    mut buf: &[u8],
    limit: Duration,
) -> Result<(), ChannelError> {
    while !buf.is_empty() {
        let written = timeout(limit, send.write(buf))
            .await
            .map_err(|_| ChannelError::Timeout)?
            .map_err(write_error)?;
        buf = buf.get(written..).unwrap_or_default();
    }
    Ok(())
}

/// Reads one frame, resuming from `partial` (which is left empty on success).
async fn read_frame(
    recv: &mut RecvStream,
    partial: &mut Partial,
    max_frame: usize,
    limit: Duration,
) -> Result<Vec<u8>, ChannelError> {
    while partial.header_len < 4 {
        let chunk = read_chunk(recv, 4 - partial.header_len, limit).await?.bytes;
        let end = partial.header_len + chunk.len();
        let slot = partial
            .header
            .get_mut(partial.header_len..end)
            .ok_or(ChannelError::Malformed("stream returned more than asked"))?;
        slot.copy_from_slice(&chunk);
        partial.header_len = end;
    }
    let len = usize::try_from(u32::from_le_bytes(partial.header))
        .map_err(|_| ChannelError::Malformed("frame longer than this machine can hold"))?;
    if len > max_frame {
        return Err(ChannelError::Malformed(TOO_LONG));
    }
    while partial.body.len() < len {
        let missing = len - partial.body.len();
        partial.body.reserve(missing.min(RESERVE_AHEAD));
        let chunk = read_chunk(recv, missing, limit).await?;
        partial.body.extend_from_slice(&chunk.bytes);
    }
    partial.header_len = 0;
    Ok(std::mem::take(&mut partial.body))
}

/// Reads up to `max` bytes in stream order; a finished stream is a hang-up.
async fn read_chunk(
    recv: &mut RecvStream,
    max: usize,
    limit: Duration,
) -> Result<quinn::Chunk, ChannelError> {
    match timeout(limit, recv.read_chunk(max, true)).await {
        Err(_) => Err(ChannelError::Timeout),
        Ok(Err(err)) => Err(read_error(err)),
        Ok(Ok(None)) => Err(ChannelError::Closed),
        Ok(Ok(Some(chunk))) => Ok(chunk),
    }
}

/// A reset stream or lost connection is a hang-up; anything else is a local fault.
fn read_error(err: ReadError) -> ChannelError {
    match err {
        ReadError::Reset(_) | ReadError::ConnectionLost(_) | ReadError::ClosedStream => {
            ChannelError::Closed
        }
        other => ChannelError::Io(other.into()),
    }
}

/// A stopped stream or lost connection is a hang-up; anything else is a local fault.
fn write_error(err: WriteError) -> ChannelError {
    match err {
        WriteError::Stopped(_) | WriteError::ConnectionLost(_) | WriteError::ClosedStream => {
            ChannelError::Closed
        }
        other => ChannelError::Io(other.into()),
    }
}
