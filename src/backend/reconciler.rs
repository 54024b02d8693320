//! The reconciler: the one task that applies what the compute backend reports to the store,
//! through the state machine, with diagnostics entries; it also brings the store and the
//! backend back in line after a restart, and forgets deleted servers once the polling
//! window has passed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{ComputeBackend, EventReceiver, ObservedState};
use crate::domain::server::{BackendEvent, ServerStatus, Task, apply, diagnostic_for};
use crate::domain::time;
use crate::store::Store;

/// Applies one event to one server; store failures are logged (the next event or the next
/// start reconciles again).
pub async fn apply_event(store: &Arc<dyn Store>, id: i64, event: BackendEvent) {
    let server = match store.get_server(id).await {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(server = id, "reconciler cannot read the server: {e}");
            return;
        }
    };
    let next = apply(&server.state, &event);
    let diag = diagnostic_for(&event, time::now());
    if next == server.state && diag.is_none() {
        return;
    }
    if let Err(e) = store.set_server_state(id, next, diag).await {
        tracing::error!(server = id, "reconciler cannot record {event:?}: {e}");
    }
}

/// What an observed backend state means for a server the store has, as an event.
fn event_for(
    status: ServerStatus,
    task: Option<Task>,
    observed: ObservedState,
) -> Option<BackendEvent> {
    match observed {
        ObservedState::Building => None,
        ObservedState::Running => Some(match (status, task) {
            (ServerStatus::Build, _) => BackendEvent::BuildSucceeded,
            (ServerStatus::Reboot, _) | (_, Some(Task::Reboot(_))) => BackendEvent::Rebooted,
            _ => BackendEvent::Started,
        }),
        ObservedState::Stopped => Some(BackendEvent::Stopped),
        ObservedState::Error => Some(BackendEvent::Failed {
            task: Task::Build,
            message: "the compute backend holds the server in error".into(),
        }),
    }
}

/// After a start: every live server of the store is compared with what the backend knows.
/// - The backend has it: what it reports concludes the task that was in flight.
/// - It does not, and can adopt it (the simulated driver): it takes the server on as the
///   store last saw it, and a task that was in flight is issued again, so it concludes.
/// - Otherwise the server `Vanished`: never left ACTIVE on a guess. A build cut short by
///   the stop cannot be resumed (its password was never stored): it ends in ERROR.
pub async fn reconcile_at_start(
    store: &Arc<dyn Store>,
    backend: &Arc<dyn ComputeBackend>,
) -> anyhow::Result<()> {
    let known: HashMap<i64, ObservedState> = backend.known().await.into_iter().collect();
    for s in store.live_servers().await? {
        if let Some(observed) = known.get(&s.id) {
            if let Some(event) = event_for(s.state.status, s.state.task, *observed) {
                apply_event(store, s.id, event).await;
            }
            if s.state.task == Some(Task::Destroy) {
                let _ = backend.destroy(s.id).await;
            }
            continue;
        }
        let was = match s.state.status {
            ServerStatus::Active | ServerStatus::Reboot => Some(ObservedState::Running),
            ServerStatus::Stopped => Some(ObservedState::Stopped),
            ServerStatus::Error if s.state.progress == 100 => Some(ObservedState::Stopped),
            _ => None,
        };
        let adopted = match was {
            Some(observed) => backend.adopt(s.id, observed).await.is_ok(),
            None => false,
        };
        if !adopted {
            apply_event(store, s.id, BackendEvent::Vanished).await;
            continue;
        }
        if let Some(task) = s.state.task
            && task != Task::Build
            && let Err(e) = backend.issue(s.id, task).await
        {
            apply_event(
                store,
                s.id,
                BackendEvent::Failed {
                    task,
                    message: e.to_string(),
                },
            )
            .await;
        }
    }
    Ok(())
}

/// Runs until the event channel closes: applies events, and every minute forgets servers
/// deleted longer than `poll_time` ago.
pub fn spawn(
    store: Arc<dyn Store>,
    mut events: EventReceiver,
    poll_time: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut purge = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some((id, event)) => apply_event(&store, id, event).await,
                    None => break,
                },
                _ = purge.tick() => {
                    let before = time::now() - chrono::Duration::from_std(poll_time).unwrap_or_default();
                    match store.purge_deleted_servers(before).await {
                        Ok(n) if n > 0 => tracing::info!("forgot {n} server(s) deleted before {}", time::iso(&before)),
                        Ok(_) => {}
                        Err(e) => tracing::warn!("purging deleted servers failed: {e}"),
                    }
                }
            }
        }
    })
}
