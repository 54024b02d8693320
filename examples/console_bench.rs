//! The console section of `make bench`: an RFB client that measures a VNC screen directly
//! (QEMU's unix socket, security None) or through the gateway's console proxy (TCP, VNC
//! authentication with a one-time password), so that both are measured by the same code in
//! the same run.
//!
//! ```text
//! console_bench direct SOCKET ROUNDS FRAMES
//! console_bench proxy PORT PASSWORD ROUNDS FRAMES
//! console_bench hold SECONDS PORT:PASSWORD...
//! ```
//!
//! `direct` and `proxy` print one line: `rtt_p50_us rtt_p99_us frame_bytes frames_per_s
//! mib_per_s`. A round trip is a message QEMU answers at once (see [`echo`]); throughput is
//! full raw frames asked for one after the other, which QEMU paces with its refresh timer. `hold` logs in to every console given, prints `held N`, and
//! keeps them open (reading what comes) for SECONDS: the bench reads the gateway's memory
//! meanwhile.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

async fn read_n<S: AsyncRead + Unpin>(s: &mut S, n: usize) -> Res<Vec<u8>> {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).await?;
    Ok(b)
}

/// Version and security: None (`password` = None) or VNC authentication.
async fn login<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    password: Option<&str>,
) -> Res<(u16, u16, u8)> {
    read_n(s, 12).await?;
    s.write_all(b"RFB 003.008\n").await?;
    let n = read_n(s, 1).await?[0];
    if n == 0 {
        return Err("the server refused the connection".into());
    }
    let types = read_n(s, usize::from(n)).await?;
    match password {
        None => {
            if !types.contains(&1) {
                return Err(format!("no security type None in {types:?}").into());
            }
            s.write_all(&[1]).await?;
        }
        Some(pw) => {
            if !types.contains(&2) {
                return Err(format!("no VNC authentication in {types:?}").into());
            }
            s.write_all(&[2]).await?;
            let challenge: [u8; 16] = read_n(s, 16).await?.try_into().map_err(|_| "challenge")?;
            s.write_all(&cyclades::console::rfb::vnc_response(pw, &challenge))
                .await?;
        }
    }
    if read_n(s, 4).await? != [0, 0, 0, 0] {
        return Err("authentication failed".into());
    }
    s.write_all(&[1]).await?; // ClientInit, shared
    let init = read_n(s, 24).await?;
    let width = u16::from_be_bytes([init[0], init[1]]);
    let height = u16::from_be_bytes([init[2], init[3]]);
    let bpp = init[4];
    let name_len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]);
    read_n(s, name_len as usize).await?;
    s.write_all(&[2, 0, 0, 1, 0, 0, 0, 0]).await?; // SetEncodings: raw
    Ok((width, height, bpp))
}

async fn request<S: AsyncWrite + Unpin>(s: &mut S, w: u16, h: u16) -> Res<()> {
    let mut req = vec![3, 0, 0, 0, 0, 0];
    req.extend_from_slice(&w.to_be_bytes());
    req.extend_from_slice(&h.to_be_bytes());
    s.write_all(&req).await?;
    Ok(())
}

/// One FramebufferUpdate of raw rectangles; its pixel bytes.
async fn update<S: AsyncRead + Unpin>(s: &mut S, bpp: u8) -> Res<usize> {
    loop {
        match read_n(s, 1).await?[0] {
            0 => break,
            2 => continue,
            other => return Err(format!("unexpected server message {other}").into()),
        }
    }
    let head = read_n(s, 3).await?;
    let mut bytes = 0;
    for _ in 0..u16::from_be_bytes([head[1], head[2]]) {
        let r = read_n(s, 12).await?;
        let w = usize::from(u16::from_be_bytes([r[4], r[5]]));
        let h = usize::from(u16::from_be_bytes([r[6], r[7]]));
        if r[8..12] != [0, 0, 0, 0] {
            return Err("a non-raw rectangle".into());
        }
        let n = w * h * usize::from(bpp / 8);
        read_n(s, n).await?;
        bytes += n;
    }
    Ok(bytes)
}

/// A round trip QEMU answers at once, not on its screen-refresh timer (which paces
/// FramebufferUpdates by tens of milliseconds): SetEncodings with QEMU's extended-key-event
/// pseudo-encoding (-258) makes it acknowledge with a one-rectangle FramebufferUpdate.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Res<()> {
    let mut msg = vec![2, 0, 0, 2, 0, 0, 0, 0];
    msg.extend_from_slice(&(-258i32).to_be_bytes());
    s.write_all(&msg).await?;
    loop {
        match read_n(s, 1).await?[0] {
            0 => {}
            2 => continue,
            other => return Err(format!("unexpected server message {other}").into()),
        }
        let head = read_n(s, 3).await?;
        let mut acked = false;
        for _ in 0..u16::from_be_bytes([head[1], head[2]]) {
            let r = read_n(s, 12).await?;
            let enc = i32::from_be_bytes([r[8], r[9], r[10], r[11]]);
            let (w, h) = (
                usize::from(u16::from_be_bytes([r[4], r[5]])),
                usize::from(u16::from_be_bytes([r[6], r[7]])),
            );
            match enc {
                -258 => acked = true,
                0 => {
                    read_n(s, w * h * 4).await?;
                }
                other => return Err(format!("unexpected encoding {other}").into()),
            }
        }
        if acked {
            return Ok(());
        }
    }
}

async fn measure<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    password: Option<&str>,
    rounds: usize,
    frames: usize,
) -> Res<()> {
    let (w, h, bpp) = login(&mut s, password).await?;
    // Warm-up: the first full frame.
    request(&mut s, w, h).await?;
    update(&mut s, bpp).await?;
    let mut rtts = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        echo(&mut s).await?;
        rtts.push(t.elapsed());
    }
    rtts.sort();
    let pct = |p: f64| {
        let i = ((rtts.len() as f64 - 1.0) * p).round() as usize;
        rtts.get(i).copied().unwrap_or_default().as_secs_f64() * 1e6
    };
    let t = Instant::now();
    let mut bytes = 0;
    for _ in 0..frames {
        request(&mut s, w, h).await?;
        bytes += update(&mut s, bpp).await?;
    }
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    println!(
        "{:.0} {:.0} {} {:.1} {:.1}",
        pct(0.5),
        pct(0.99),
        bytes / frames.max(1),
        frames as f64 / secs,
        bytes as f64 / secs / (1 << 20) as f64
    );
    Ok(())
}

async fn hold(secs: u64, consoles: &[String]) -> Res<()> {
    let mut held = Vec::new();
    for c in consoles {
        let (port, pw) = c.split_once(':').ok_or("PORT:PASSWORD")?;
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>()?)).await?;
        let (w, h, bpp) = login(&mut s, Some(pw)).await?;
        request(&mut s, w, h).await?;
        update(&mut s, bpp).await?;
        held.push(s);
    }
    println!("held {}", held.len());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut buf = vec![0u8; 65536];
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return Ok(()),
            _ = async {
                // Drain whatever the screens send, console by console.
                for s in &mut held {
                    let _ = tokio::time::timeout(Duration::from_millis(5), s.read(&mut buf)).await;
                }
            } => {}
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> usize { args.get(i).and_then(|a| a.parse().ok()).unwrap_or(0) };
    let result = match args.first().map(String::as_str) {
        Some("direct") if args.len() == 4 => {
            match tokio::net::UnixStream::connect(&args[1]).await {
                Ok(s) => measure(s, None, num(2), num(3)).await,
                Err(e) => Err(e.into()),
            }
        }
        Some("proxy") if args.len() == 5 => {
            match tokio::net::TcpStream::connect(("127.0.0.1", num(1) as u16)).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    measure(s, Some(&args[2]), num(3), num(4)).await
                }
                Err(e) => Err(e.into()),
            }
        }
        Some("hold") if args.len() >= 3 => hold(num(1) as u64, &args[2..]).await,
        _ => Err(
            "usage: console_bench direct SOCKET ROUNDS FRAMES | proxy PORT PASSWORD \
                  ROUNDS FRAMES | hold SECONDS PORT:PASSWORD..."
                .into(),
        ),
    };
    if let Err(e) = result {
        eprintln!("console_bench: {e}");
        std::process::exit(1);
    }
}
