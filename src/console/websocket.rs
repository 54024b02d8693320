//! The websocket front end: `GET /console/websocket?token=T` upgrades (axum's websocket, with
//! the `binary` subprotocol noVNC asks for) and carries RFB in binary frames.
//!
//! The token authenticates the viewer, so the RFB stream it gets offers security type None.
//! A browser's Origin must be the gateway's own (or one of `cors_allowed_origins`): another
//! site's page must not be able to use a console link it got hold of. Non-browser viewers
//! send no Origin.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::{Sink, Stream};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::ConsoleError;
use crate::http::AppState;
use crate::http::fault::{ApiError, ApiResult, Fault};
use crate::http::links::base_url;

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// Largest websocket message a viewer may send: RFB client messages are small (a
/// ClientCutText is the largest), and this bounds what one message can make the proxy hold.
const MAX_MESSAGE: usize = 256 * 1024;

/// `GET /console/websocket?token=T` — 101 and RFB over binary frames; 400 without an
/// upgrade; 403 for another site's Origin; 401 for a token that is unknown, used or
/// expired (alike); 409 when the server's screen can't be reached.
pub async fn websocket(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let ws = ws.map_err(|e| {
        ApiError::bad_request(format!(
            "this URL is a console's websocket (RFB in binary frames): {e}"
        ))
    })?;
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let own = base_url(&state.config, &headers);
        let allowed = origin.eq_ignore_ascii_case(&own)
            || state
                .config
                .cors_allowed_origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin));
        if !allowed {
            return Err(ApiError::forbidden(format!(
                "consoles open only from the gateway's own pages ({own}), not from {origin}"
            )));
        }
    }
    let token = q.token.unwrap_or_default();
    let consoles = state.consoles.clone();
    let (slot, binding, server) = match consoles.open_for_websocket(&token).await {
        None => {
            return Err(ApiError::unauthorized(format!(
                "this console link is not valid: a console link works once, within {} s of \
                 the console action that made it",
                consoles.settings().window.as_secs()
            )));
        }
        Some(Err(ConsoleError::Busy(m))) => {
            return Err(ApiError::new(Fault::ServiceUnavailable, m));
        }
        Some(Err(ConsoleError::Unavailable(m))) => return Err(ApiError::conflict(m)),
        Some(Ok(opened)) => opened,
    };
    Ok(ws
        .protocols(["binary"])
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| async move {
            consoles
                .serve_websocket(WsIo::new(socket), server, binding)
                .await;
            drop(slot);
        }))
}

/// A websocket as a byte stream: binary messages in, one binary message per write out.
/// Text messages are not RFB and end the stream; pings are answered by the websocket layer.
pub struct WsIo {
    ws: WebSocket,
    pending: Bytes,
}

impl WsIo {
    pub fn new(ws: WebSocket) -> WsIo {
        WsIo {
            ws,
            pending: Bytes::new(),
        }
    }
}

fn broken(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, e.to_string())
}

impl AsyncRead for WsIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                let chunk = self.pending.split_to(n);
                buf.put_slice(&chunk);
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.ws).poll_next(cx)) {
                None | Some(Ok(Message::Close(_))) => return Poll::Ready(Ok(())),
                Some(Ok(Message::Binary(b))) => self.pending = b,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(broken(
                        "a text message: RFB travels in binary frames",
                    )));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Err(e)) => return Poll::Ready(Err(broken(e))),
            }
        }
    }
}

impl AsyncWrite for WsIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let ws = Pin::new(&mut self.ws);
        ready!(ws.poll_ready(cx)).map_err(broken)?;
        Pin::new(&mut self.ws)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(broken)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.ws).poll_flush(cx).map_err(broken)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.ws).poll_close(cx).map_err(broken)
    }
}
