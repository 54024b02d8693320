//! The compute backend: what runs the servers. Handlers and the reconciler speak to it only
//! through [`ComputeBackend`]; the drivers behind it are `simulated` (timers, for tests and
//! laptops) and, later, real VMs. No SQL and no HTTP here: the backend knows server ids and
//! what to run, never users or the store.
//!
//! **Commands and events.** A command (`create`, `start`, …) answers at once: `Ok` means the
//! backend took it on, and exactly one concluding event will follow on the event channel —
//! the success (`BuildSucceeded`, `Started`, `Stopped`, `Rebooted`, `Destroyed`) or
//! `Failed { task, .. }` — possibly after `Progress` events for a build. `Err` means it was
//! refused on the spot and no event follows; the caller then applies
//! `BackendEvent::Failed { task, message: err.to_string() }` itself, so that the task it
//! recorded ends either way. A `destroy` supersedes whatever the server was doing: after
//! `Destroyed` nothing more comes for that id.
//!
//! **One consumer.** A driver is built with the [`EventSender`] of an [`event_channel`]; the
//! reconciler holds the only receiver, and applies every event through
//! [`crate::domain::server::apply`]. The channel is unbounded so that a slow write to the
//! store never stalls a driver's timers; events are few (a build's progress is 21 of them).

pub mod networks;
pub mod qemu;
pub mod reconciler;
pub mod select;
pub mod simulated;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::domain::server::{BackendEvent, RebootKind, Task};
use crate::domain::time::Timestamp;

pub use simulated::{SimulatedBackend, SimulatedConfig};

/// Where a driver sends `(server id, event)`.
pub type EventSender = mpsc::UnboundedSender<(i64, BackendEvent)>;
/// What the reconciler reads.
pub type EventReceiver = mpsc::UnboundedReceiver<(i64, BackendEvent)>;

/// The channel between one driver and the reconciler.
pub fn event_channel() -> (EventSender, EventReceiver) {
    mpsc::unbounded_channel()
}

/// Everything a backend needs to build a server. The admin password is handed over here
/// and nowhere else: the gateway never stores it.
#[derive(Clone)]
pub struct ServerSpec {
    pub id: i64,
    pub name: String,
    pub vcpus: u32,
    pub ram_mib: u64,
    pub disk_gib: u64,
    pub image_id: String,
    /// The image's data file in the image store, when it has one.
    pub image_path: Option<PathBuf>,
    /// The image's `disk_format` (`raw`, `qcow2`, …).
    pub image_disk_format: Option<String>,
    /// The files of the image's `kernel_id` and `ramdisk_id` images, and its
    /// `os_command_line`: a real backend boots the kernel directly, with the image as disk.
    pub kernel_path: Option<PathBuf>,
    pub ramdisk_path: Option<PathBuf>,
    pub kernel_cmdline: Option<String>,
    pub nics: Vec<NicSpec>,
    pub admin_password: String,
    pub personality: Vec<PersonalityFile>,
}

/// Logs and panics print a spec; the password and file contents must not end up there.
impl fmt::Debug for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSpec")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("vcpus", &self.vcpus)
            .field("ram_mib", &self.ram_mib)
            .field("disk_gib", &self.disk_gib)
            .field("image_id", &self.image_id)
            .field("image_path", &self.image_path)
            .field("image_disk_format", &self.image_disk_format)
            .field("kernel_path", &self.kernel_path)
            .field("ramdisk_path", &self.ramdisk_path)
            .field("kernel_cmdline", &self.kernel_cmdline)
            .field("nics", &self.nics)
            .field("admin_password", &"<redacted>")
            .field("personality", &self.personality)
            .finish()
    }
}

/// One network interface, as the gateway allocated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicSpec {
    pub mac: String,
    /// The network the NIC is on: a backend that switches frames itself (QEMU's
    /// [`qemu::switch`]) keeps each network's NICs together by it.
    pub network_id: String,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// The network's ranges, for the prefix lengths a guest configures its addresses with
    /// (the config drive's `network_data.json`).
    pub ipv4_net: Option<ipnet::Ipv4Net>,
    pub ipv6_net: Option<ipnet::Ipv6Net>,
}

/// A network to make ready: its id and ranges, as the gateway recorded them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    pub id: String,
    pub kind: String,
    pub cidr: Option<ipnet::Ipv4Net>,
    pub cidr6: Option<ipnet::Ipv6Net>,
    pub dhcp: bool,
}

/// A file to inject into the guest (`personality` of `POST /servers`).
#[derive(Clone, PartialEq, Eq)]
pub struct PersonalityFile {
    /// Absolute path in the guest, not on this host.
    pub path: String,
    pub contents: Vec<u8>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: Option<u32>,
}

impl fmt::Debug for PersonalityFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersonalityFile")
            .field("path", &self.path)
            .field("contents", &format_args!("<{} bytes>", self.contents.len()))
            .field("owner", &self.owner)
            .field("group", &self.group)
            .field("mode", &self.mode)
            .finish()
    }
}

/// What a backend knows of a server (see [`ComputeBackend::known`]). A server with an
/// operation under way is reported as it was before the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObservedState {
    /// Still being built; the build will report.
    Building,
    Running,
    Stopped,
    /// The backend has it but cannot run it (its build failed).
    Error,
}

impl fmt::Display for ObservedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObservedState::Building => "building",
            ObservedState::Running => "running",
            ObservedState::Stopped => "stopped",
            ObservedState::Error => "in error",
        })
    }
}

/// One CPU/network/disk sample of a running server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: Timestamp,
    /// Of the server's vCPUs together, 0‥100.
    pub cpu_percent: f32,
    /// Bytes received during the sampling interval that ends at `at` (a rate, not a
    /// counter: the graphs plot it as is).
    pub net_rx_bytes: u64,
    /// Bytes sent during the interval.
    pub net_tx_bytes: u64,
    /// Bytes the guest read from its disks during the interval (a rate, like the
    /// network's).
    pub disk_read_bytes: u64,
    /// Bytes the guest wrote to its disks during the interval.
    pub disk_write_bytes: u64,
}

/// Why a backend refused a command on the spot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("the compute backend does not know server {0}")]
    NotFound(i64),
    #[error("the compute backend already has a server {0}")]
    AlreadyExists(i64),
    #[error("server {id} is busy: a {task} is in progress in the compute backend")]
    Busy { id: i64, task: Task },
    #[error("the compute backend can't {action} server {id}: it is {state}")]
    InvalidState {
        id: i64,
        action: &'static str,
        state: ObservedState,
    },
    #[error("the compute backend is unavailable: {0}")]
    Unavailable(String),
}

/// A driver that runs servers. Object-safe: the application holds an
/// `Arc<dyn ComputeBackend>`. See the module doc for how commands and events relate.
#[async_trait]
pub trait ComputeBackend: Send + Sync {
    /// Builds the server and boots it; reports `Progress` 0‥100, then `BuildSucceeded`.
    async fn create(&self, spec: ServerSpec) -> Result<(), BackendError>;
    /// Boots a stopped server; reports `Started`.
    async fn start(&self, id: i64) -> Result<(), BackendError>;
    /// Shuts a running server down; reports `Stopped`.
    async fn shutdown(&self, id: i64) -> Result<(), BackendError>;
    /// Reboots a running server; reports `Rebooted`.
    async fn reboot(&self, id: i64, kind: RebootKind) -> Result<(), BackendError>;
    /// Removes the server whatever it is doing; reports `Destroyed`, and nothing after.
    async fn destroy(&self, id: i64) -> Result<(), BackendError>;
    /// Every server the backend has, by id. After a restart the reconciler compares this
    /// with the store: a server the backend no longer has `Vanished`.
    async fn known(&self) -> Vec<(i64, ObservedState)>;
    /// The server's recent samples, oldest first; a bounded history, empty for a server
    /// that never ran.
    async fn samples(&self, id: i64) -> Vec<Sample>;
    /// How often a running server is sampled: the stats' `refresh`.
    fn sample_interval(&self) -> Duration;

    /// The unix socket of the server's VNC screen, when the backend gives it one.
    fn vnc_socket(&self, id: i64) -> Option<std::path::PathBuf> {
        let _ = id;
        None
    }

    /// Takes on a server the store knows and this backend does not, in `state` (`Running`
    /// or `Stopped`), with no event. A driver whose machines outlive the gateway finds them
    /// through [`ComputeBackend::known`] instead and refuses; the simulated driver, whose
    /// machines live in memory, adopts them after a restart, as a hypervisor would have
    /// kept them running.
    async fn adopt(&self, id: i64, state: ObservedState) -> Result<(), BackendError> {
        let _ = state;
        Err(BackendError::Unavailable(format!(
            "this backend cannot take on server {id}"
        )))
    }

    /// Makes a network ready for NICs (a bridge, a VLAN…); `Ok` means it is ready, and the
    /// network goes from PENDING to ACTIVE ([`networks::activate`]). The default is for
    /// drivers whose guests need nothing per network: the simulated driver's guests live in
    /// memory, so there is nothing to make.
    async fn ensure_network(&self, spec: NetworkSpec) -> Result<(), BackendError> {
        let _ = spec;
        Ok(())
    }

    /// Tells the backend that `nics` is the server's NIC list now, after the gateway
    /// connected or disconnected one ([`networks::sync_nics`]); the list replaces the one
    /// of the build's spec for every later boot. `Ok` means the backend took it on; a
    /// driver that plugs NICs into a running machine reports how that went as diagnostics
    /// notes. The default is for drivers with nothing to plug: the simulated driver's
    /// guests have no devices.
    async fn set_nics(&self, id: i64, nics: Vec<NicSpec>) -> Result<(), BackendError> {
        let _ = (id, nics);
        Ok(())
    }

    /// Issues the command for a task [`crate::domain::server::request`] returned. A build
    /// needs the server's spec, so it goes through [`ComputeBackend::create`] instead.
    async fn issue(&self, id: i64, task: Task) -> Result<(), BackendError> {
        match task {
            Task::Start => self.start(id).await,
            Task::Shutdown => self.shutdown(id).await,
            Task::Reboot(kind) => self.reboot(id, kind).await,
            Task::Destroy => self.destroy(id).await,
            Task::Build => Err(BackendError::Unavailable(format!(
                "a build of server {id} needs its spec: use create"
            ))),
        }
    }
}
