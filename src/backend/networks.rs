//! Bringing networks from PENDING to ACTIVE: the backend is asked to make each new network
//! ready ([`super::ComputeBackend::ensure_network`]) and the answer is recorded, ACTIVE or
//! ERROR. Networks still PENDING after a restart (the stop came between the record and the
//! answer) are asked for again at start.

use std::sync::Arc;

use super::{ComputeBackend, NetworkSpec};
use crate::domain::network::NetworkStatus;
use crate::store::Store;
use crate::store::networks::Network;

fn spec(n: &Network) -> NetworkSpec {
    NetworkSpec {
        id: n.id.clone(),
        kind: n.kind.clone(),
        cidr: n.cidr.as_deref().and_then(|c| c.parse().ok()),
        cidr6: n.cidr6.as_deref().and_then(|c| c.parse().ok()),
        dhcp: n.dhcp,
    }
}

/// Asks the backend for the network and records the outcome. A network deleted meanwhile
/// is left alone (only a PENDING one changes). Store failures are logged: the next start
/// asks again.
pub async fn activate(store: &Arc<dyn Store>, backend: &Arc<dyn ComputeBackend>, n: &Network) {
    let to = match backend.ensure_network(spec(n)).await {
        Ok(()) => NetworkStatus::Active,
        Err(e) => {
            tracing::warn!("the compute backend refused network {}: {e}", n.id);
            NetworkStatus::Error
        }
    };
    if let Err(e) = store
        .set_network_status(&n.id, NetworkStatus::Pending, to)
        .await
    {
        tracing::error!("cannot record network {} as {to}: {e}", n.id);
    }
}

/// Starts [`activate`] in the background, so the create request answers PENDING at once.
pub fn spawn_activate(store: Arc<dyn Store>, backend: Arc<dyn ComputeBackend>, n: Network) {
    tokio::spawn(async move { activate(&store, &backend, &n).await });
}

/// At start: every network still PENDING is asked for again.
pub async fn activate_pending(
    store: &Arc<dyn Store>,
    backend: &Arc<dyn ComputeBackend>,
) -> anyhow::Result<()> {
    for n in store.pending_networks().await? {
        activate(store, backend, &n).await;
    }
    Ok(())
}
