//! Link shaping for benchmarks: frames arrive as late as a link of a given bandwidth and
//! round-trip time would deliver them.
//!
//! Each end of a shaped stream schedules its own outgoing direction: a frame of `b` bytes
//! sent at `t` starts transmitting when the link is free (`max(t, end of the previous
//! frame)`), occupies it for `b / bandwidth`, and is due `rtt / 2` after it has been
//! transmitted. The sender prefixes the frame with that due time and goes on at once (the
//! link buffers without limit); the receiver strips the prefix and sleeps until the due
//! time, so the delay is real and shows in any wall clock. The stream underneath
//! (loopback QUIC) only has to be faster than the shaped link.
//!
//! Due times are wall-clock nanoseconds since the Unix epoch, so both ends must read the
//! same clock: one machine (the bench runs every party in one process). The prefix is
//! framing, not protocol payload: channels do not count it.
//!
//! Who learns what: nothing new; the prefix is a time the peer could measure anyway.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use veil_protocol::channel::ChannelError;

/// Bytes of the due-time prefix on every shaped frame.
pub const PREFIX_BYTES: usize = 8;

/// The longest a receiver holds a frame: a later due time is garbage, not a clock.
pub const MAX_HOLD: Duration = Duration::from_secs(3600);

/// The shape of one link, the same both ways.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkShape {
    /// Bytes per second each way.
    pub bandwidth: f64,
    /// Round-trip time: a frame takes half of it after its last byte is transmitted.
    pub rtt: Duration,
}

impl LinkShape {
    /// How long `bytes` occupy the link.
    pub fn transmit_time(&self, bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 / self.bandwidth)
    }
}

/// The sending side of one end of a shaped link: when its direction is next free.
#[derive(Clone, Debug)]
pub struct Shaper {
    shape: LinkShape,
    /// When the last frame sent finishes transmitting (since the Unix epoch).
    free_at: Duration,
}

impl Shaper {
    /// A shaper for an idle link of `shape`.
    pub fn new(shape: LinkShape) -> Shaper {
        Shaper {
            shape,
            free_at: Duration::ZERO,
        }
    }

    /// Schedules a frame of `bytes` sent now; returns the prefix to send before it: the
    /// frame's due time at the receiver.
    pub fn stamp(&mut self, bytes: usize) -> [u8; PREFIX_BYTES] {
        let start = self.free_at.max(now());
        self.free_at = start + self.shape.transmit_time(bytes);
        let due = self.free_at + self.shape.rtt / 2;
        u64::try_from(due.as_nanos())
            .unwrap_or(u64::MAX)
            .to_le_bytes()
    }
}

/// Strips the due-time prefix from a received frame and sleeps until that time.
pub fn hold(mut frame: Vec<u8>) -> Result<Vec<u8>, ChannelError> {
    let prefix: [u8; PREFIX_BYTES] = frame
        .get(..PREFIX_BYTES)
        .and_then(|p| p.try_into().ok())
        .ok_or(ChannelError::Malformed(
            "shaped frame shorter than its due time",
        ))?;
    let due = Duration::from_nanos(u64::from_le_bytes(prefix));
    let wait = due.saturating_sub(now());
    if wait > MAX_HOLD {
        return Err(ChannelError::Malformed("shaped frame due too far ahead"));
    }
    std::thread::sleep(wait);
    frame.drain(..PREFIX_BYTES);
    Ok(frame)
}

/// The wall clock since the Unix epoch (zero if the clock is set before it).
fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const SHAPE: LinkShape = LinkShape {
        bandwidth: 10e6,
        rtt: Duration::from_millis(20),
    };

    fn due(prefix: [u8; PREFIX_BYTES]) -> Duration {
        Duration::from_nanos(u64::from_le_bytes(prefix))
    }

    #[test]
    fn frames_queue_behind_each_other() {
        let mut s = Shaper::new(SHAPE);
        let sent = now();
        let first = due(s.stamp(1_000_000));
        let second = due(s.stamp(1_000_000));
        // 100 ms to transmit each, 10 ms to travel.
        assert!(first >= sent + Duration::from_millis(110), "{first:?}");
        assert_eq!(second - first, Duration::from_millis(100));
    }

    #[test]
    fn hold_waits_for_the_due_time_and_strips_the_prefix() {
        let mut s = Shaper::new(SHAPE);
        let start = Instant::now();
        let mut frame = s.stamp(3).to_vec();
        frame.extend_from_slice(b"abc");
        assert_eq!(hold(frame).unwrap(), b"abc");
        assert!(start.elapsed() >= Duration::from_millis(10));
    }

    #[test]
    fn garbage_prefixes_are_refused() {
        assert!(matches!(hold(vec![1, 2]), Err(ChannelError::Malformed(_))));
        let far = (now() + MAX_HOLD * 2).as_nanos() as u64;
        let e = hold(far.to_le_bytes().to_vec()).unwrap_err();
        assert!(matches!(e, ChannelError::Malformed(_)));
    }
}
