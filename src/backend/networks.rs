//! Bringing networks from PENDING to ACTIVE: the backend is asked to make each new network
//! ready ([`super::ComputeBackend::ensure_network`]) and the answer is recorded, ACTIVE or
//! ERROR. Networks still PENDING after a restart (the stop came between the record and the
//! answer) are asked for again at start.
//!
//! Also: telling the backend a server's NIC list after the API connected or disconnected
//! one ([`sync_nics`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{ComputeBackend, NetworkSpec, NicSpec};
use crate::domain::network::NetworkStatus;
use crate::domain::server::{BackendEvent, DiagLevel};
use crate::store::networks::Network;
use crate::store::{Nic, Store};

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

/// What the backend is told of a server's NICs, with their networks' ranges. A network
/// that cannot be read leaves its NICs without ranges (logged): the backend still plugs
/// them, and a guest then has their addresses without a prefix to configure them with.
pub async fn nic_specs(store: &Arc<dyn Store>, nics: &[Nic]) -> Vec<NicSpec> {
    let mut nets: BTreeMap<&str, Option<NetworkSpec>> = BTreeMap::new();
    let mut out = Vec::with_capacity(nics.len());
    for n in nics {
        if !nets.contains_key(n.network_id.as_str()) {
            let net = match store.get_network(&n.network_id).await {
                Ok(net) => net.as_ref().map(spec),
                Err(e) => {
                    tracing::warn!("cannot read network {}: {e}", n.network_id);
                    None
                }
            };
            nets.insert(&n.network_id, net);
        }
        let net = nets.get(n.network_id.as_str()).and_then(Option::as_ref);
        out.push(NicSpec {
            mac: n.mac.clone(),
            network_id: n.network_id.clone(),
            ipv4: n.ipv4.as_deref().and_then(|a| a.parse().ok()),
            ipv6: n.ipv6.as_deref().and_then(|a| a.parse().ok()),
            ipv4_net: net.and_then(|s| s.cidr),
            ipv6_net: net.and_then(|s| s.cidr6),
        });
    }
    out
}

/// After a connect or disconnect committed: hands the backend the server's whole NIC list,
/// as the store has it now. The API call already succeeded, so a refusal does not undo it:
/// it becomes a diagnostics entry of the server (and the list reaches the backend with the
/// next change).
pub async fn sync_nics(store: &Arc<dyn Store>, backend: &Arc<dyn ComputeBackend>, server: i64) {
    let nics = match store.get_server(server).await {
        Ok(Some(s)) => nic_specs(store, &s.nics).await,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("cannot read server {server}'s NICs for the backend: {e}");
            return;
        }
    };
    if let Err(e) = backend.set_nics(server, nics).await {
        tracing::warn!("the compute backend refused server {server}'s NICs: {e}");
        super::reconciler::apply_event(
            store,
            server,
            BackendEvent::Note {
                level: DiagLevel::Warning,
                source: "compute-backend".into(),
                message: "The compute backend did not take the server's new NIC list.".into(),
                details: Some(e.to_string()),
            },
        )
        .await;
    }
}
