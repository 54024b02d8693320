//! Baseline for `make bench`: a bare hyper 1 HTTP/1.1 server that answers every request
//! with `200 hello`. It uses the same stack as the gateway (tokio, hyper, hyper-util) and
//! nothing else, so "gateway / hello" tells what the gateway's own work costs.
//!
//! Usage: `hello [PORT]` (default 0, a free port). Binds 127.0.0.1 only, prints
//! `listening on http://ADDR` once it accepts connections, exits on SIGTERM or SIGINT.

use std::convert::Infallible;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};

use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

/// A one-chunk response body (what `http_body_util::Full` does), kept here so the example
/// needs no dependency beyond the gateway's own.
mod full {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use hyper::body::{Body, Bytes, Frame, SizeHint};

    pub struct Full(Option<Bytes>);

    impl Full {
        pub fn new(data: Bytes) -> Self {
            Full(Some(data))
        }
    }

    impl Body for Full {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.take().map(|d| Ok(Frame::data(d))))
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_none()
        }

        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(self.0.as_ref().map_or(0, |d| d.len() as u64))
        }
    }
}

async fn hello(_req: Request<Incoming>) -> Result<Response<full::Full>, Infallible> {
    let mut resp = Response::new(full::Full::new(Bytes::from_static(b"hello\n")));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bad port {p:?}: {e}"),
            )
        })?,
        None => 0,
    };
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let addr = listener.local_addr()?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;

    println!("listening on http://{addr}");
    std::io::stdout().flush()?;

    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service_fn(hello))
                        .await;
                });
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    Ok(())
}
