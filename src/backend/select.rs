//! Which compute backend `serve` runs: `backend = "simulated" | "qemu" | "auto"`, where
//! `auto` takes QEMU when its binary is installed. The choice is logged, with why.

use std::sync::Arc;
use std::time::Duration;

use super::qemu::{QemuBackend, QemuConfig, find_binary};
use super::{ComputeBackend, EventSender, SimulatedBackend, SimulatedConfig};
use crate::config::Config;

/// Builds the configured driver; a QEMU driver re-attaches to the VMs of earlier runs.
pub async fn from_config(
    config: &Config,
    events: EventSender,
) -> anyhow::Result<Arc<dyn ComputeBackend>> {
    let qemu = find_binary(&config.qemu_binary);
    let use_qemu = match config.backend.as_str() {
        "qemu" => {
            if qemu.is_none() {
                anyhow::bail!(
                    "backend = \"qemu\", but {} is not installed (see tests/clients/qemu_setup.sh)",
                    config.qemu_binary.display()
                );
            }
            true
        }
        "auto" => qemu.is_some(),
        _ => false,
    };
    if use_qemu {
        let binary = qemu.unwrap_or_else(|| config.qemu_binary.clone());
        let img_binary = find_binary(&config.qemu_img).ok_or_else(|| {
            anyhow::anyhow!(
                "the QEMU backend needs {}, which is not installed",
                config.qemu_img.display()
            )
        })?;
        let backend = QemuBackend::open(
            QemuConfig {
                binary: binary.clone(),
                img_binary,
                dir: config.data_dir.join("qemu"),
                kvm: config.qemu_kvm,
                acpi_timeout: Duration::try_from_secs_f64(config.qemu_acpi_timeout_secs)
                    .unwrap_or(Duration::from_secs(30)),
                sample_interval: Duration::try_from_secs_f64(config.stats_interval_secs)
                    .unwrap_or(Duration::from_secs(10))
                    .max(Duration::from_millis(100)),
            },
            events,
        )
        .await?;
        tracing::info!(
            backend = "qemu",
            "compute backend: QEMU ({}, {})",
            binary.display(),
            if config.qemu_kvm { "KVM" } else { "TCG" }
        );
        println!("compute backend: qemu ({})", binary.display());
        return Ok(Arc::new(backend));
    }
    println!("compute backend: simulated");
    if config.backend == "auto" {
        tracing::info!(
            backend = "simulated",
            "compute backend: simulated ({} is not installed; backend = \"auto\")",
            config.qemu_binary.display()
        );
    } else {
        tracing::info!(backend = "simulated", "compute backend: simulated");
    }
    let simulated = SimulatedBackend::new(
        SimulatedConfig {
            build_secs: config.simulated_build_secs,
            op_secs: config.simulated_op_secs,
            sample_interval_secs: config.stats_interval_secs,
        },
        events,
    );
    for task in config.simulated_failures()? {
        tracing::warn!("simulated backend: the next {task} will fail (simulated_fail)");
        simulated.fail_next(None, task);
    }
    Ok(Arc::new(simulated))
}
