//! The switch section of `make bench`: Ethernet frames between two guests' sockets, sent
//! straight from one unix datagram socket to the other (the baseline: what QEMU's `dgram`
//! netdev costs without any switch) and through the QEMU backend's layer-2 switch
//! (`cyclades::backend::qemu::switch`), by the same code in the same run.
//!
//! ```text
//! switch_bench ROUNDS FRAMES FRAME_BYTES
//! ```
//!
//! Prints two lines, `direct` then `switch`, each `rtt_p50_us rtt_p99_us frames_per_s
//! mib_per_s lost`: a round trip is a frame to the other guest and its echo back; the
//! throughput is FRAMES frames sent in windows of 32 that the receiver acknowledges (so a
//! full socket never drops them), and `lost` counts frames that never arrived.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cyclades::backend::qemu::switch::{Mac, Owner, Switch};
use tokio::net::UnixDatagram;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const WINDOW: usize = 32;
const A: Mac = [0xaa, 0, 0, 0, 0, 1];
const B: Mac = [0xaa, 0, 0, 0, 0, 2];

fn frame(dst: Mac, src: Mac, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len.max(64)];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

/// One guest's socket and where its frames go (the other guest, or its switch port).
struct End {
    sock: UnixDatagram,
    to: PathBuf,
}

impl End {
    async fn send(&self, f: &[u8]) -> Res<()> {
        self.sock.send_to(f, &self.to).await?;
        Ok(())
    }
    async fn recv(&self, buf: &mut [u8]) -> Res<usize> {
        Ok(tokio::time::timeout(Duration::from_secs(5), self.sock.recv(buf)).await??)
    }
}

/// Round trips, then windowed throughput, from `a` to `b` (which echoes or acknowledges).
async fn measure(a: End, b: End, rounds: usize, frames: usize, len: usize) -> Res<String> {
    let (to_b, to_a) = (frame(B, A, len), frame(A, B, len));
    let echo = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        // Round trips: every frame is echoed.
        for _ in 0..rounds {
            b.recv(&mut buf).await?;
            b.send(&to_a).await?;
        }
        // Throughput: one acknowledgement per window received.
        let mut got = 0;
        while got < frames {
            match b.recv(&mut buf).await {
                Ok(_) => got += 1,
                Err(_) => break,
            }
            if got % WINDOW == 0 || got == frames {
                b.send(&to_a).await?;
            }
        }
        Ok::<usize, Box<dyn std::error::Error + Send + Sync>>(got)
    });
    let mut buf = vec![0u8; 65536];
    let mut rtts = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        a.send(&to_b).await?;
        a.recv(&mut buf).await?;
        rtts.push(t.elapsed().as_micros() as u64);
    }
    rtts.sort_unstable();
    let p = |q: f64| rtts[((rtts.len() as f64 - 1.0) * q) as usize];
    let t = Instant::now();
    let mut sent = 0;
    while sent < frames {
        let n = WINDOW.min(frames - sent);
        for _ in 0..n {
            a.send(&to_b).await?;
        }
        sent += n;
        if a.recv(&mut buf).await.is_err() {
            break;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let got = echo.await??;
    let fps = got as f64 / secs;
    Ok(format!(
        "{} {} {:.0} {:.1} {}",
        p(0.5),
        p(0.99),
        fps,
        fps * to_b.len() as f64 / (1024.0 * 1024.0),
        frames - got
    ))
}

fn bind(dir: &Path, name: &str) -> Res<UnixDatagram> {
    Ok(UnixDatagram::bind(dir.join(name))?)
}

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: switch_bench ROUNDS FRAMES FRAME_BYTES";
    let [rounds, frames, len] = [1, 2, 3].map(|i| {
        args.get(i)
            .and_then(|a| a.parse::<usize>().ok())
            .filter(|n| *n > 0)
    });
    let (Some(rounds), Some(frames), Some(len)) = (rounds, frames, len) else {
        return Err(usage.into());
    };
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();

    // Direct: each guest's socket sends to the other's.
    let a = End {
        sock: bind(dir, "a.vm")?,
        to: dir.join("b.vm"),
    };
    let b = End {
        sock: bind(dir, "b.vm")?,
        to: dir.join("a.vm"),
    };
    println!("{}", measure(a, b, rounds, frames, len).await?);

    // Through the switch: each guest sends to its port, as QEMU's dgram netdev does.
    let sw = Switch::new();
    let a = End {
        sock: bind(dir, "a2.vm")?,
        to: dir.join("a2.gw"),
    };
    let b = End {
        sock: bind(dir, "b2.vm")?,
        to: dir.join("b2.gw"),
    };
    let (one, two) = (Owner { server: 1, pid: 1 }, Owner { server: 2, pid: 2 });
    sw.plug(one, "net", A, &dir.join("a2.gw"), &dir.join("a2.vm"))?;
    sw.plug(two, "net", B, &dir.join("b2.gw"), &dir.join("b2.vm"))?;
    println!("{}", measure(a, b, rounds, frames, len).await?);
    Ok(())
}
