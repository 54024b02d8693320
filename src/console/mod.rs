//! Consoles: a vncauthproxy-like proxy between a viewer and a server's VNC screen.
//!
//! ```text
//! POST /servers/{id}/action {"console":{"type":"vnc"}}   → ticket: password, token, TCP port
//!
//! VNC viewer ──TCP, RFB + VNC auth (password)──┐
//!                                               ├─ proxy ── unix socket, RFB ── QEMU's screen
//! browser ──/console/websocket?token, RFB──────┘
//! ```
//!
//! - [`tickets`]: one-time credentials, bound to a server and its owner, kept as hashes.
//! - [`rfb`]: the handshakes the proxy speaks itself; after them the bytes pass untouched.
//! - [`splice`]: both directions with bounded buffers, back-pressure and time limits.
//! - [`websocket`] and [`page`]: the browser's front end and the noVNC console page.
//!
//! The TCP front end gives each `vnc` ticket a port of its own from the configured range,
//! as vncauthproxy does: VNC authentication sends its challenge before the viewer says
//! anything, so the port is what tells the proxy which ticket a viewer comes for. The port
//! accepts one connection, within the ticket's window; that connection consumes the ticket,
//! whether its password is right or not.
//!
//! The proxy reaches a screen only through [`ComputeBackend::vnc_socket`]; when a viewer
//! connects it checks again that the server is its owner's and ACTIVE. No SQL and no HTTP
//! routing here: handlers call [`Consoles::issue`], the websocket handler
//! [`Consoles::open_for_websocket`].

pub mod page;
pub mod rfb;
pub mod splice;
pub mod tickets;
pub mod websocket;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::Rng;
use tokio::net::{TcpListener, TcpStream, UnixStream};

use crate::backend::ComputeBackend;
use crate::config::Config;
use crate::domain::server::ServerStatus;
use crate::store::Store;
use tickets::{Binding, Ticket, Tickets};

/// Bound on the RFB handshakes, with the viewer and with the screen: a viewer that connects
/// and says nothing must not hold a console slot.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// What a viewer is told when its credentials are refused, whatever the reason: unknown,
/// used, expired or wrong look alike.
pub const REFUSED: &str = "authentication failed";

/// The console types kamaki sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A VNC viewer over TCP.
    Vnc,
    /// noVNC over a plain websocket.
    VncWs,
    /// noVNC over a TLS websocket (the gateway behind a TLS front).
    VncWss,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "vnc" => Some(Kind::Vnc),
            "vnc-ws" => Some(Kind::VncWs),
            "vnc-wss" => Some(Kind::VncWss),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Vnc => "vnc",
            Kind::VncWs => "vnc-ws",
            Kind::VncWss => "vnc-wss",
        }
    }
}

/// The consoles' settings, from [`Config`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub window: Duration,
    pub listen: IpAddr,
    pub ports: (u16, u16),
    pub limits: splice::Limits,
    pub max_open: usize,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        Settings {
            window: Duration::from_secs(c.console_ticket_secs),
            listen: c.console_listen,
            ports: (c.console_port_first, c.console_port_last),
            limits: splice::Limits {
                buffer: c.console_buffer_bytes,
                idle: Duration::from_secs(c.console_idle_secs),
                max: Duration::from_secs(c.console_max_secs),
            },
            max_open: c.console_max_open,
        }
    }
}

/// Why no console was issued or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsoleError {
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Unavailable(String),
}

/// A new console ticket's credentials, shown once.
#[derive(Debug, Clone)]
pub struct Offer {
    pub password: String,
    pub token: String,
    /// The TCP front end's port (`vnc` consoles only).
    pub port: Option<u16>,
}

/// The console proxy: live tickets, their listeners, the open consoles.
pub struct Consoles {
    settings: Settings,
    tickets: Tickets,
    store: Arc<dyn Store>,
    backend: Arc<dyn ComputeBackend>,
    /// Tickets waiting for their viewer plus open consoles: each costs a port, a ticket or
    /// buffers.
    in_use: AtomicUsize,
}

/// Holds a console slot; gives it back when dropped.
pub struct Slot(Arc<Consoles>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Consoles {
    pub fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        backend: Arc<dyn ComputeBackend>,
    ) -> Arc<Consoles> {
        Arc::new(Consoles {
            settings,
            tickets: Tickets::default(),
            store,
            backend,
            in_use: AtomicUsize::new(0),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn slot(self: &Arc<Self>) -> Result<Slot, ConsoleError> {
        let max = self.settings.max_open;
        let prev = self.in_use.fetch_add(1, Ordering::Relaxed);
        let slot = Slot(self.clone());
        if prev >= max {
            return Err(ConsoleError::Busy(format!(
                "the gateway has {max} consoles open or pending, its limit; retry later"
            )));
        }
        Ok(slot)
    }

    /// Whether the backend gives this server a screen (the simulated one gives none).
    pub fn has_screen(&self, server_id: i64) -> bool {
        self.backend.vnc_socket(server_id).is_some()
    }

    /// A one-time ticket for `binding`; a `vnc` ticket also gets a TCP port that accepts
    /// one viewer within the window.
    pub async fn issue(
        self: &Arc<Self>,
        binding: Binding,
        kind: Kind,
    ) -> Result<Offer, ConsoleError> {
        // Expired tickets give their slots back first.
        self.tickets.purge();
        let slot = self.slot()?;
        if kind != Kind::Vnc {
            // A websocket ticket holds its slot until it is used or expires.
            let hold: tickets::Hold = Box::new(slot);
            let issued = self
                .tickets
                .issue(binding, self.settings.window, Some(hold));
            return Ok(Offer {
                password: issued.token.clone(),
                token: issued.token,
                port: None,
            });
        }
        let listener = self.bind().await?;
        let port = listener.local_addr().map(|a| a.port()).map_err(|e| {
            ConsoleError::Unavailable(format!("the console port has no address: {e}"))
        })?;
        let (alive, gone) = tokio::sync::oneshot::channel();
        let issued = self
            .tickets
            .issue(binding, self.settings.window, Some(Box::new(alive)));
        let me = self.clone();
        let key = issued.key;
        tokio::spawn(async move {
            let _slot = slot;
            me.serve_port(listener, key, gone).await;
        });
        Ok(Offer {
            password: issued.password,
            token: issued.token,
            port: Some(port),
        })
    }

    /// A free port of the range, tried from a random point so that parallel tickets (and
    /// other processes on the range) rarely collide.
    async fn bind(&self) -> Result<TcpListener, ConsoleError> {
        let (first, last) = self.settings.ports;
        let span = u32::from(last.saturating_sub(first)) + 1;
        let start = rand::rng().random_range(0..span);
        for i in 0..span {
            let port = u16::try_from(u32::from(first) + (start + i) % span).unwrap_or(first);
            if let Ok(l) = TcpListener::bind(SocketAddr::new(self.settings.listen, port)).await {
                return Ok(l);
            }
        }
        Err(ConsoleError::Busy(format!(
            "every console port ({first}-{last}) is in use; retry later"
        )))
    }

    /// The one connection of a ticket's port, within its window.
    async fn serve_port(
        self: Arc<Self>,
        listener: TcpListener,
        key: [u8; 32],
        gone: tokio::sync::oneshot::Receiver<()>,
    ) {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = tokio::time::sleep(self.settings.window) => {
                // Expired: forget the ticket (which ends its signal too).
                let _ = self.tickets.take(&key);
                return;
            }
            // Taken by the websocket front end, or purged as expired.
            _ = gone => return,
        };
        drop(listener);
        let Ok((stream, peer)) = accepted else { return };
        let _ = stream.set_nodelay(true);
        let ticket = self.tickets.take(&key);
        self.viewer_over_tcp(stream, ticket, peer).await;
    }

    async fn viewer_over_tcp(
        &self,
        mut stream: TcpStream,
        ticket: Option<Ticket>,
        peer: SocketAddr,
    ) {
        // With no live ticket the viewer still gets a challenge, and fails like a wrong
        // password does.
        let challenge = ticket
            .as_ref()
            .map_or_else(|| rand::rng().random(), |t| t.challenge);
        let check = |r: &[u8; 16]| ticket.as_ref().is_some_and(|t| t.accepts(r));
        let greeted = tokio::time::timeout(
            HANDSHAKE,
            rfb::greet_viewer(
                &mut stream,
                rfb::ViewerAuth::Vnc {
                    challenge,
                    check: &check,
                },
            ),
        )
        .await;
        let viewer = match greeted {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::info!(%peer, "console viewer handshake failed: {e}");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, "console viewer handshake timed out");
                return;
            }
        };
        let ticket = match ticket {
            Some(t) if viewer.authenticated => t,
            _ => {
                tracing::info!(%peer, "console viewer refused");
                let _ = rfb::finish_viewer(&mut stream, &viewer, Some(REFUSED)).await;
                return;
            }
        };
        let server = match self.open_screen(&ticket.binding).await {
            Ok(s) => s,
            Err(e) => {
                let _ = rfb::finish_viewer(&mut stream, &viewer, Some(&e.to_string())).await;
                return;
            }
        };
        if rfb::finish_viewer(&mut stream, &viewer, None)
            .await
            .is_err()
        {
            return;
        }
        let id = ticket.binding.server_id;
        tracing::info!(%peer, server = id, "console open (vnc)");
        let out = splice::splice(stream, server, self.settings.limits).await;
        tracing::info!(%peer, server = id, end = ?out.end, to_viewer = out.to_viewer,
            to_server = out.to_server, "console closed");
    }

    /// Consumes a websocket token and opens the screen, before the upgrade, so that a
    /// refusal is an HTTP answer. `None` for a token that is unknown, used or expired.
    pub async fn open_for_websocket(
        self: &Arc<Self>,
        token: &str,
    ) -> Option<Result<(Slot, Binding, UnixStream), ConsoleError>> {
        let ticket = self.tickets.take_token(token)?;
        let slot = match self.slot() {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        Some(
            self.open_screen(&ticket.binding)
                .await
                .map(|s| (slot, ticket.binding, s)),
        )
    }

    /// Connects to the server's screen, after checking that the server is still its
    /// owner's and ACTIVE, and does the RFB handshake with it.
    async fn open_screen(&self, b: &Binding) -> Result<UnixStream, ConsoleError> {
        let id = b.server_id;
        let unavailable = |why: String| ConsoleError::Unavailable(why);
        let server =
            self.store.get_server(id).await.map_err(|e| {
                unavailable(format!("the console of server {id} is unavailable: {e}"))
            })?;
        match server {
            Some(s) if s.user_id == b.user_id && s.state.status == ServerStatus::Active => {}
            _ => {
                return Err(unavailable(format!(
                    "server {id} is no longer ACTIVE: its console closed"
                )));
            }
        }
        let path = self
            .backend
            .vnc_socket(id)
            .ok_or_else(|| unavailable(format!("server {id} has no screen")))?;
        let handshake = async {
            let mut s = connect_screen(&path).await?;
            rfb::open_server(&mut s).await?;
            Ok::<_, rfb::RfbError>(s)
        };
        match tokio::time::timeout(HANDSHAKE, handshake).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => {
                tracing::warn!(
                    server = id,
                    "cannot open the screen at {}: {e}",
                    path.display()
                );
                Err(unavailable(format!(
                    "the screen of server {id} does not answer"
                )))
            }
            Err(_) => Err(unavailable(format!(
                "the screen of server {id} does not answer"
            ))),
        }
    }

    /// Splices an upgraded websocket viewer (already authenticated by its token) with the
    /// screen.
    pub async fn serve_websocket<V>(&self, mut viewer: V, server: UnixStream, binding: Binding)
    where
        V: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin,
    {
        let greeted = tokio::time::timeout(
            HANDSHAKE,
            rfb::greet_viewer(&mut viewer, rfb::ViewerAuth::None),
        )
        .await;
        let Ok(Ok(v)) = greeted else {
            tracing::info!(
                server = binding.server_id,
                "websocket console handshake failed"
            );
            return;
        };
        if rfb::finish_viewer(&mut viewer, &v, None).await.is_err() {
            return;
        }
        tracing::info!(server = binding.server_id, "console open (websocket)");
        let out = splice::splice(viewer, server, self.settings.limits).await;
        tracing::info!(server = binding.server_id, end = ?out.end, to_viewer = out.to_viewer,
            to_server = out.to_server, "console closed");
    }
}

/// Connects to a screen's unix socket. QEMU listens with a backlog of one, and a unix
/// socket with a full backlog refuses at once (`EAGAIN`) where TCP would wait: several
/// viewers arriving together retry for a moment (the caller bounds the whole handshake).
async fn connect_screen(path: &std::path::Path) -> std::io::Result<UnixStream> {
    let mut pause = Duration::from_millis(2);
    loop {
        match UnixStream::connect(path).await {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}
