//! `cyclades serve`: binds, announces `listening on http://ADDR` once it accepts connections,
//! serves until SIGTERM/SIGINT, lets in-flight requests finish, closes the store.
//!
//! The accept loop is hyper-util's (not `axum::serve`) because the seed's 20-second idle
//! limit needs hyper's `header_read_timeout`, which also bounds idle keep-alive connections.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::config::Config;
use crate::domain::identity::{NewUser, Role};
use crate::http::AppState;
use crate::store::Store;
use crate::store::sqlite::SqliteStore;

/// An exclusive lock on the data dir, held for the life of `serve`: two servers writing one
/// database and image store would corrupt each other's view of it.
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    pub fn acquire(data_dir: &Path) -> anyhow::Result<DataDirLock> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
        let path = data_dir.join("serve.lock");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(_) => {
                let owner = std::fs::read_to_string(&path).unwrap_or_default();
                anyhow::bail!(
                    "data dir {} is in use by another cyclades server (pid {}); stop it or \
                     choose another --data-dir",
                    data_dir.display(),
                    owner.trim()
                );
            }
        }
        file.set_len(0)?;
        write!(file, "{}", std::process::id())?;
        file.sync_all()?;
        Ok(DataDirLock { _file: file, path })
    }
}

impl Drop for DataDirLock {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.path, b"");
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot listen for SIGTERM: {e}");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

/// Creates the first admin when the data dir has no user yet, and prints its token once.
async fn bootstrap_admin(config: &Config, store: &Arc<dyn Store>) -> anyhow::Result<()> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let user = store
        .create_user(NewUser {
            name: "admin".into(),
            project: Some("admin".into()),
            roles: vec![Role::Admin, Role::Member],
            password_hash: None,
        })
        .await?;
    let (token, expires) = crate::api::identity::issue_for(store, config.token_ttl_secs, &user)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "created user 'admin' (project 'admin'); its token, shown only this once, expires {}:",
        crate::domain::time::iso(&expires)
    );
    println!("admin token: {token}");
    Ok(())
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&config.db_path(), config.db_readers).await?);
    bootstrap_admin(&config, &store).await?;

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    store
        .ensure_public_network(
            config.public_cidr.clone(),
            Some(config.public_cidr6.clone()).filter(|c| !c.is_empty()),
        )
        .await?;
    let (events_tx, events_rx) = crate::backend::event_channel();
    let backend = crate::backend::select::from_config(&config, events_tx).await?;
    crate::backend::reconciler::reconcile_at_start(&store, &backend).await?;
    let reconciler = crate::backend::reconciler::spawn(
        store.clone(),
        events_rx,
        Duration::from_secs(config.poll_time_secs),
    );
    let state = AppState::new(config.clone(), store.clone(), backend)?;
    let reset = store.reset_interrupted_uploads().await?;
    if reset > 0 {
        tracing::warn!(
            "{reset} image upload(s) were cut short by the last stop; those images are queued again"
        );
    }
    let app = crate::api::app(state);

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(config.idle_timeout_secs.max(1)))
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "serving");
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();

    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let svc = app.clone().map_request(move |req: hyper::Request<Incoming>| {
                    let mut req = req.map(axum::body::Body::new);
                    req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                    req
                });
                let conn = builder.serve_connection_with_upgrades(
                    TokioIo::new(stream),
                    TowerToHyperService::new(svc),
                );
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, "connection ended: {e}");
                    }
                });
            }
            _ = &mut signal => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {grace:?}; closing anyway");
    }
    reconciler.abort();
    store.close().await;
    tracing::info!("stopped");
    println!("stopped");
    Ok(())
}
