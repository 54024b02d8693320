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

/// Applies one event to one server.
pub async fn apply_event(store: &Arc<dyn Store>, id: i64, event: BackendEvent) {
    apply_batch(store, vec![(id, event)]).await;
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

/// Most events applied in one transaction.
const BATCH: usize = 512;

/// Applies a batch of events: each server's events are folded through the state machine in
/// order, inside one write transaction — a thousand builds report twenty thousand progress
/// events, which one fsync each would crawl through. Store failures are logged: the next
/// event, or the next start, reconciles again.
async fn apply_batch(store: &Arc<dyn Store>, events: Vec<(i64, BackendEvent)>) {
    let mut order: Vec<i64> = Vec::new();
    let mut by_server: HashMap<i64, Vec<BackendEvent>> = HashMap::new();
    for (id, ev) in events {
        by_server
            .entry(id)
            .or_insert_with(|| {
                order.push(id);
                Vec::new()
            })
            .push(ev);
    }
    let now = time::now();
    let change = Box::new(move |id: i64, mut state| {
        let mut diags = Vec::new();
        for ev in by_server.remove(&id).unwrap_or_default() {
            state = apply(&state, &ev);
            diags.extend(diagnostic_for(&ev, now));
        }
        (state, diags)
    });
    if let Err(e) = store.transform_server_states(order, change).await {
        tracing::error!("reconciler cannot record backend events: {e}");
    }
}

/// Runs until the event channel closes: applies events in batches, and every minute forgets
/// servers deleted longer than `poll_time` ago.
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
                    Some(first) => {
                        let mut batch = vec![first];
                        while batch.len() < BATCH {
                            match events.try_recv() {
                                Ok(ev) => batch.push(ev),
                                Err(_) => break,
                            }
                        }
                        apply_batch(&store, batch).await;
                    }
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
