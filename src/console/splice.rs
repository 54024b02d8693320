//! Both directions of a console between a viewer and the server's screen, with one
//! fixed-size buffer each way and time limits.
//!
//! Back-pressure is the loop's shape: a direction reads again only once what it read was
//! written, so a viewer that stops reading stalls its own console's server-to-viewer
//! direction (and, when the screen's socket buffer fills, QEMU's updates to it) and nothing
//! else; the memory of a console never grows past its two buffers. Written by hand rather
//! than with `tokio::io::copy_bidirectional` for the idle limit: a console with no byte in
//! either direction for `idle` — a viewer stuck without reading included — is closed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of each direction's buffer.
    pub buffer: usize,
    /// Closed after this long without a byte moving.
    pub idle: Duration,
    /// Closed after this long in all.
    pub max: Duration,
}

/// Why a console ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The viewer closed or failed.
    Viewer,
    /// The server's screen closed or failed (the VM stopped, say).
    Server,
    Idle,
    Max,
}

/// Moved bytes, and why it stopped.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub end: End,
    pub to_viewer: u64,
    pub to_server: u64,
}

struct Activity {
    start: Instant,
    /// Milliseconds since `start` of the last byte moved.
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }
    fn idle_for(&self) -> Duration {
        let now = self.start.elapsed();
        now.saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

async fn pump<R, W>(mut from: R, mut to: W, size: usize, activity: &Activity, moved: &AtomicU64)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; size];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        activity.touch();
        if to.write_all(&buf[..n]).await.is_err() || to.flush().await.is_err() {
            break;
        }
        moved.fetch_add(n as u64, Ordering::Relaxed);
        activity.touch();
    }
    let _ = to.shutdown().await;
}

/// Splices `viewer` and `server` until either closes or a limit is reached.
pub async fn splice<V, S>(viewer: V, server: S, limits: Limits) -> Outcome
where
    V: AsyncRead + AsyncWrite + Send,
    S: AsyncRead + AsyncWrite + Send,
{
    let activity = Activity {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
    };
    let (to_viewer, to_server) = (AtomicU64::new(0), AtomicU64::new(0));
    let (vr, vw) = tokio::io::split(viewer);
    let (sr, sw) = tokio::io::split(server);
    let buffer = limits.buffer.max(1);
    let down = pump(sr, vw, buffer, &activity, &to_viewer);
    let up = pump(vr, sw, buffer, &activity, &to_server);
    // Checks the idle limit a few times per limit: closing up to a quarter late is fine.
    let tick = (limits.idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
    let watchdog = async {
        let deadline = tokio::time::Instant::now() + limits.max;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return End::Max,
                _ = tokio::time::sleep(tick) => {
                    if activity.idle_for() >= limits.idle {
                        return End::Idle;
                    }
                }
            }
        }
    };
    let end = tokio::select! {
        _ = down => End::Server,
        _ = up => End::Viewer,
        end = watchdog => end,
    };
    Outcome {
        end,
        to_viewer: to_viewer.load(Ordering::Relaxed),
        to_server: to_server.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(idle_ms: u64) -> Limits {
        Limits {
            buffer: 16,
            idle: Duration::from_millis(idle_ms),
            max: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn bytes_flow_both_ways_and_a_close_ends_it() {
        let (viewer, mut v) = tokio::io::duplex(64);
        let (server, mut s) = tokio::io::duplex(64);
        let task = tokio::spawn(splice(viewer, server, limits(5000)));
        v.write_all(b"hello server").await.unwrap();
        let mut got = [0u8; 12];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello server");
        let big = vec![9u8; 10_000];
        let writer = tokio::spawn(async move {
            s.write_all(&big).await.unwrap();
            s
        });
        let mut back = vec![0u8; 10_000];
        v.read_exact(&mut back).await.unwrap();
        assert!(back.iter().all(|b| *b == 9));
        drop(writer.await.unwrap());
        let out = task.await.unwrap();
        assert_eq!(out.end, End::Server);
        assert_eq!(out.to_viewer, 10_000);
        assert_eq!(out.to_server, 12);
    }

    #[tokio::test]
    async fn a_viewer_that_stops_reading_is_closed_when_idle() {
        let (viewer, _v) = tokio::io::duplex(64);
        let (server, mut s) = tokio::io::duplex(64);
        let task = tokio::spawn(splice(viewer, server, limits(200)));
        // The server keeps sending; the viewer never reads: the duplex fills, the splice's
        // write stalls, nothing moves, and the idle limit closes it.
        let flood = tokio::spawn(async move {
            let chunk = [1u8; 1024];
            while s.write_all(&chunk).await.is_ok() {}
        });
        let out = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("closed in time")
            .unwrap();
        assert_eq!(out.end, End::Idle);
        assert!(out.to_viewer <= 64 + 16, "memory stayed bounded: {out:?}");
        flood.abort();
    }

    #[tokio::test]
    async fn a_busy_console_still_closes_at_its_overall_limit() {
        let (viewer, mut v) = tokio::io::duplex(64);
        let (server, mut s) = tokio::io::duplex(64);
        let lim = Limits {
            buffer: 16,
            idle: Duration::from_secs(10),
            max: Duration::from_millis(300),
        };
        let task = tokio::spawn(splice(viewer, server, lim));
        // Traffic all along: never idle.
        let busy = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            loop {
                if s.write_all(b"frame").await.is_err() {
                    break;
                }
                if v.read(&mut buf).await.unwrap_or(0) == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        let out = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("closed in time")
            .unwrap();
        assert_eq!(out.end, End::Max);
        assert!(out.to_viewer > 0);
        busy.abort();
    }
}
