//! Reading what a scanned service answers, bounded in size and time: a device that talks forever,
//! trickles one byte at a time or sends a header without end costs a probe at most its limit and
//! its deadline.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

/// The most any one probe reads from a service.
pub const MAX_ANSWER: usize = 64 * 1024;

/// Reads until the peer closes, `limit` bytes arrived, `enough` says so, or `deadline` passes;
/// returns what arrived either way.
pub async fn bounded<R: AsyncRead + Unpin>(
    stream: &mut R,
    limit: usize,
    deadline: Instant,
    enough: impl Fn(&[u8]) -> bool,
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    while buf.len() < limit {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await;
        match read {
            Ok(Ok(n)) if n > 0 => {
                let take = n.min(limit - buf.len());
                buf.extend_from_slice(&chunk[..take]);
                if enough(&buf) {
                    break;
                }
            }
            _ => break,
        }
    }
    buf
}

/// Network text made safe to keep: valid UTF-8, one line, no control characters, at most 200
/// characters. (It is escaped again wherever it is shown.)
pub fn clean(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    one_line.chars().take(200).collect()
}

/// The deadline `timeout` from now.
pub fn deadline(timeout: Duration) -> Instant {
    Instant::now() + timeout
}
