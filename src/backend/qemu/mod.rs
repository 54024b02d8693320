//! The QEMU compute backend: every server is a real virtual machine, one `qemu-system-x86_64`
//! process per running server, controlled over QMP ([`qmp`]). It emits the same events as
//! the simulated driver, so the reconciler and the state machine don't know which runs.
//!
//! **Files.** Each server has a directory `<data dir>/qemu/<id>/`: `base` (a hard link to
//! the image's file in the image store, so that deleting the image breaks no server; never
//! written), `kernel` and `initrd` likewise, `disk.qcow2` (a qcow2 overlay over `base`,
//! sized to the flavor's disk), `config.img` (the config drive), `vm.json` (what a start needs, see
//! [`cmdline::VmFile`]), and while it runs `qemu.pid`, `qmp.sock`, `vnc.sock`, with
//! `serial.log` (the guest's serial console) and `qemu.log` (QEMU's own messages).
//!
//! **Processes outlive the gateway.** QEMU runs in its own process group, its output goes
//! to files, so a gateway that stops (or is killed with SIGKILL) leaves it running. At start
//! [`QemuBackend::open`] finds every server directory, checks the pid file against the
//! process's command line, and re-attaches over the QMP socket; a server whose QEMU is gone
//! is reported stopped, so it never stays ACTIVE on a guess.
//!
//! **Events.** A supervisor task per running process reads QMP events: a guest that powers
//! itself off (`SHUTDOWN`, guest) is quit and reported `Stopped`; a process that ends
//! without having been asked to is reported `Crashed` with the last lines of its logs. A
//! shutdown is an ACPI power-button press (`system_powerdown`, pressed again every 2 s) and,
//! after `acpi_timeout` without the guest powering off, a hard `quit`; a soft reboot is the same
//! press followed by `system_reset` and `cont` once the guest is off (or a reset at once
//! after the timeout), a hard reboot a `system_reset`.
//!
//! **NICs.** The NIC list of `vm.json` is the build's, then whatever `set_nics` gave
//! last; a running machine has NICs plugged (`netdev_add`, `device_add`) and unplugged
//! (`device_del`, then `netdev_del` once the guest released the device) to match, as PCI
//! hot-plug on the `pc` machine. Each NIC is a `dgram` netdev whose peer is a port of the
//! gateway's [`switch`], on the NIC's network: the guests of one network reach each other
//! at layer 2, and nothing else. A port lives while its machine runs (re-made when the
//! gateway re-attaches, at the same socket path QEMU sends to), and its byte counters are
//! the network samples.
//!
//! **Concurrency.** One std mutex holds the driver's view of every server; no await
//! happens under it. The slow work of an operation (qemu-img, spawning, waiting for an
//! exit) runs in a task that holds the server's own async `work` lock, so that a destroy
//! waits for a build or start to finish instead of racing it. As in the simulated driver,
//! each operation carries a generation number checked under the lock before it reports:
//! nothing follows `Destroyed`.

pub mod cmdline;
pub mod configdrive;
pub mod qmp;
pub mod switch;

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::time::{MissedTickBehavior, sleep};
use tokio_util::sync::{CancellationToken, DropGuard};

use self::cmdline::{NicIds, VmFile, VmPaths};
use self::qmp::{Command as Cmd, Event, Qmp, UnixAddress};
use self::switch::Switch;
use super::{
    BackendError, ComputeBackend, EventSender, NicSpec, ObservedState, Sample, ServerSpec,
};
use crate::domain::server::{BackendEvent, DiagLevel, RebootKind, Task};
use crate::domain::time;

/// What the driver runs and how long it waits.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// `qemu-system-x86_64`, by name (searched on `PATH`) or path.
    pub binary: PathBuf,
    /// `qemu-img`, likewise.
    pub img_binary: PathBuf,
    /// Where the servers' directories are (`<data dir>/qemu`).
    pub dir: PathBuf,
    /// `-accel kvm` instead of TCG.
    pub kvm: bool,
    /// How long a guest has to power off after the ACPI power button.
    pub acpi_timeout: Duration,
    pub sample_interval: Duration,
}

/// Samples kept per server, as the simulated driver.
const HISTORY: usize = super::simulated::HISTORY;
/// How long QEMU may take to open its QMP socket (0.02–0.05 s measured).
const QMP_READY: Duration = Duration::from_secs(15);
/// How long a process may take to exit after `quit` or SIGKILL.
const EXIT_WAIT: Duration = Duration::from_secs(10);
/// How long a guest has to release a NIC after `device_del` (an ACPI eject request; a
/// booted Linux guest takes well under a second).
const UNPLUG_WAIT: Duration = Duration::from_secs(10);
/// How often the ACPI power button is pressed again while a guest has not powered off.
const POWERDOWN_RETRY: Duration = Duration::from_secs(2);
/// How long the sampler waits for a machine's `query-blockstats` (a busy QEMU answers in
/// milliseconds; a hung one must not hold up the others' samples).
const SAMPLE_QMP_WAIT: Duration = Duration::from_secs(2);
/// Lines of each log a crash report carries.
const LOG_TAIL: usize = 8;

/// Is `binary` something that can be run (a path to an executable, or a name on `PATH`)?
pub fn find_binary(binary: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if binary.components().count() > 1 {
        return runnable(binary).then(|| binary.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(binary))
        .find(|p| runnable(p))
}

pub struct QemuBackend {
    inner: Arc<Inner>,
    _stop: DropGuard,
}

struct Inner {
    cfg: QemuConfig,
    events: EventSender,
    stop: CancellationToken,
    state: Mutex<State>,
    /// The layer-2 switch every running NIC is plugged into.
    switch: Switch,
}

struct State {
    vms: BTreeMap<i64, Vm>,
    generation: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Power {
    Building,
    Running,
    Stopped,
    Broken,
}

impl Power {
    fn observed(self) -> ObservedState {
        match self {
            Power::Building => ObservedState::Building,
            Power::Running => ObservedState::Running,
            Power::Stopped => ObservedState::Stopped,
            Power::Broken => ObservedState::Error,
        }
    }
}

struct Vm {
    power: Power,
    op: Option<Op>,
    machine: Option<Machine>,
    /// Held by the task doing an operation's slow part.
    work: Arc<tokio::sync::Mutex<()>>,
    vcpus: u32,
    samples: VecDeque<Sample>,
    /// The process's CPU time (clock ticks) at the last sample.
    cpu: Option<(u64, Instant)>,
    /// QEMU's disk counters (bytes read, written) at the last sample.
    disk: Option<(u64, u64)>,
    /// The latest NIC list given by `set_nics` and not yet applied: the task that applies
    /// lists takes it, so that lists given in a quick row end at the last one.
    nics_wanted: Option<Vec<NicSpec>>,
}

#[derive(Debug, Clone, Copy)]
struct Op {
    task: Task,
    generation: u64,
}

/// A running QEMU process.
#[derive(Clone)]
struct Machine {
    qmp: Qmp,
    pid: i32,
    /// Turns `Some(how it ended)` once the process is gone.
    exited: watch::Receiver<Option<String>>,
    /// The driver asked it to go (quit, or the guest powered off): an exit is no crash.
    quitting: Arc<AtomicBool>,
}

impl Machine {
    async fn wait_exit(&self, limit: Duration) -> bool {
        let mut rx = self.exited.clone();
        tokio::time::timeout(limit, rx.wait_for(Option::is_some))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn kill(&self) {
        // SAFETY: kill(2) with a pid this driver started or verified by its command line.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
        }
    }

    /// Presses the ACPI power button, and again every [`POWERDOWN_RETRY`] until `done`
    /// completes or `limit` has passed (`None`). A press the guest is not ready for (its
    /// ACPI daemon still starting) is lost, so one press alone would leave a guest that is
    /// still booting to the hard fallback; Nova's clean shutdown retries likewise. Guests
    /// take a press during their own power-off as nothing new.
    async fn press_power_until<T>(
        &self,
        id: i64,
        limit: Duration,
        done: impl Future<Output = T>,
    ) -> Option<T> {
        let deadline = Instant::now() + limit;
        tokio::pin!(done);
        loop {
            if let Err(e) = self.qmp.execute(Cmd::SystemPowerdown).await {
                tracing::warn!(server = id, "system_powerdown: {e}");
            }
            let wait = POWERDOWN_RETRY.min(deadline.saturating_duration_since(Instant::now()));
            match tokio::time::timeout(wait, &mut done).await {
                Ok(v) => return Some(v),
                Err(_) if Instant::now() >= deadline => return None,
                Err(_) => {}
            }
        }
    }

    /// Asks QEMU to quit, then kills it if it has not gone in time.
    async fn stop(&self) {
        self.quitting.store(true, Ordering::SeqCst);
        let _ = self.qmp.execute(Cmd::Quit).await;
        if !self.wait_exit(EXIT_WAIT).await {
            tracing::warn!(pid = self.pid, "QEMU did not quit; killing it");
            self.kill();
            self.wait_exit(EXIT_WAIT).await;
        }
    }
}

impl QemuBackend {
    /// A driver over `cfg.dir`, re-attached to every QEMU process still running there.
    pub async fn open(cfg: QemuConfig, events: EventSender) -> anyhow::Result<QemuBackend> {
        std::fs::create_dir_all(&cfg.dir)
            .map_err(|e| anyhow::anyhow!("cannot create QEMU dir {}: {e}", cfg.dir.display()))?;
        let stop = CancellationToken::new();
        let inner = Arc::new(Inner {
            cfg,
            events,
            stop: stop.clone(),
            state: Mutex::new(State {
                vms: BTreeMap::new(),
                generation: 0,
            }),
            switch: Switch::new(),
        });
        inner.reattach_all().await?;
        inner.start_sampler();
        Ok(QemuBackend {
            inner,
            _stop: stop.drop_guard(),
        })
    }

    /// The directory of a server's files.
    pub fn server_dir(&self, id: i64) -> PathBuf {
        VmPaths::new(&self.inner.cfg.dir, id).dir
    }

    /// Starts an operation on a running server: checks, records it, and runs `work`.
    fn begin_running<F, Fut>(
        &self,
        id: i64,
        task: Task,
        action: &'static str,
        work: F,
    ) -> Result<(), BackendError>
    where
        F: FnOnce(Arc<Inner>, Machine, u64) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let inner = &self.inner;
        let mut st = inner.lock();
        st.generation += 1;
        let generation = st.generation;
        let vm = st.vms.get_mut(&id).ok_or(BackendError::NotFound(id))?;
        if let Some(op) = &vm.op {
            return Err(BackendError::Busy { id, task: op.task });
        }
        let machine = match (&vm.power, &vm.machine) {
            (Power::Running, Some(m)) => m.clone(),
            _ => {
                return Err(BackendError::InvalidState {
                    id,
                    action,
                    state: vm.power.observed(),
                });
            }
        };
        vm.op = Some(Op { task, generation });
        inner.spawn(work(Arc::clone(inner), machine, generation));
        Ok(())
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change under the lock is a few assignments: a panic elsewhere leaves
        // nothing half-done worth refusing to read.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, id: i64, event: BackendEvent) {
        // No receiver: the gateway is shutting down and nobody is left to tell.
        let _ = self.events.send((id, event));
    }

    fn paths(&self, id: i64) -> VmPaths {
        VmPaths::new(&self.cfg.dir, id)
    }

    fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let stop = self.stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = work => {}
            }
        });
    }

    /// Runs `f` on the server if operation `generation` is still its current one, and sends
    /// the event it makes, under the lock. False when the operation was superseded.
    fn report(&self, id: i64, generation: u64, f: impl FnOnce(&mut Vm) -> BackendEvent) -> bool {
        let mut st = self.lock();
        let Some(vm) = st
            .vms
            .get_mut(&id)
            .filter(|vm| vm.op.is_some_and(|op| op.generation == generation))
        else {
            return false;
        };
        let event = f(vm);
        self.emit(id, event);
        true
    }

    /// Records a started machine whatever happened meanwhile (a destroy that superseded the
    /// operation must find it to stop it). False when its process has already ended: its
    /// supervisor found no machine to report about, so the caller reports the failure.
    fn attach(&self, id: i64, machine: &Machine) -> bool {
        let mut st = self.lock();
        if machine.exited.borrow().is_some() {
            return false;
        }
        if let Some(vm) = st.vms.get_mut(&id) {
            vm.machine = Some(machine.clone());
            vm.cpu = None;
            vm.disk = None;
        }
        true
    }

    /// Finds the servers of earlier runs.
    async fn reattach_all(self: &Arc<Self>) -> anyhow::Result<()> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.cfg.dir)? {
            let entry = entry?;
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i64>().ok())
            else {
                continue;
            };
            let paths = self.paths(id);
            // A directory without vm.json is a build cut short before its first boot (the
            // file is written before QEMU starts, so no process uses it): the reconciler
            // sees the server vanish, and its half-made disk goes now.
            let Ok(text) = std::fs::read_to_string(paths.file()) else {
                tracing::warn!(server = id, "removing the files of a build cut short");
                let _ = std::fs::remove_dir_all(&paths.dir);
                continue;
            };
            match serde_json::from_str::<VmFile>(&text) {
                Ok(file) => found.push((id, file)),
                Err(e) => tracing::warn!("{}: {e}", paths.file().display()),
            }
        }
        for (id, file) in found {
            // Recorded as stopped first: the supervisor of a process that ends while this
            // runs then finds no machine to report about, and the server stays stopped.
            self.lock().vms.insert(
                id,
                Vm {
                    power: Power::Stopped,
                    op: None,
                    machine: None,
                    work: Arc::default(),
                    vcpus: file.vcpus,
                    samples: VecDeque::new(),
                    cpu: None,
                    disk: None,
                    nics_wanted: None,
                },
            );
            let paths = self.paths(id);
            let Some(pid) = live_pid(&paths) else {
                tracing::info!(server = id, "QEMU backend: found a stopped server");
                continue;
            };
            match self.reattach(&file, &paths, pid).await {
                Ok(Some(m)) => {
                    let mut st = self.lock();
                    if let Some(vm) = st.vms.get_mut(&id)
                        && m.exited.borrow().is_none()
                    {
                        vm.machine = Some(m);
                        vm.power = Power::Running;
                        tracing::info!(
                            server = id,
                            pid,
                            "QEMU backend: re-attached to a running server"
                        );
                    }
                }
                Ok(None) => tracing::info!(
                    server = id,
                    "QEMU backend: found a powered-off server; its QEMU quit"
                ),
                Err(e) => {
                    tracing::warn!(
                        server = id,
                        pid,
                        "cannot re-attach to QEMU ({e}); killing it"
                    );
                    // SAFETY: a pid whose command line names this server's QMP socket.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
        Ok(())
    }

    async fn reattach(
        self: &Arc<Self>,
        file: &VmFile,
        paths: &VmPaths,
        pid: i32,
    ) -> Result<Option<Machine>, String> {
        let id = file.id;
        let qmp = connect_retrying(&paths.qmp(), QMP_READY, || {
            std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
        .await?;
        // Its ports first, before the watcher below that unplugs them when it ends: its
        // guest's frames flow again as soon as QMP answers.
        let owner = switch::Owner { server: id, pid };
        self.plug_ports(file, paths, owner);
        let (tx, rx) = watch::channel(None);
        let switch = self.switch.clone();
        // Not our child: its end shows as the pid going away (init reaps it).
        tokio::spawn(async move {
            while pid_alive(pid) {
                sleep(Duration::from_millis(100)).await;
            }
            switch.unplug_machine(owner);
            let _ = tx.send(Some("the QEMU process ended".into()));
        });
        let machine = Machine {
            qmp,
            pid,
            exited: rx,
            quitting: Arc::default(),
        };
        self.supervise(id, &machine);
        // Powered off while nobody watched (-no-shutdown keeps such a process): finish it.
        if machine.qmp.status().await.as_deref() == Ok("shutdown") {
            machine.stop().await;
            return Ok(None);
        }
        Ok(Some(machine))
    }

    /// Plugs the NICs of `file` into the switch, each on its network. A NIC whose network
    /// `vm.json` does not say (a file of an earlier version) or whose port cannot be made
    /// reaches nothing; the machine runs anyway, with a warning.
    fn plug_ports(&self, file: &VmFile, paths: &VmPaths, owner: switch::Owner) {
        for mac in &file.macs {
            if let Err(e) = self.plug_port(file, paths, owner, mac) {
                self.note(
                    file.id,
                    DiagLevel::Warning,
                    "compute-backend",
                    &format!("NIC {mac} reaches no network."),
                    Some(e),
                );
            }
        }
    }

    fn plug_port(
        &self,
        file: &VmFile,
        paths: &VmPaths,
        owner: switch::Owner,
        mac: &str,
    ) -> Result<(), String> {
        let network = file
            .networks
            .get(&mac.to_ascii_lowercase())
            .ok_or("the server's vm.json does not say its network")?;
        let addr = switch::parse_mac(mac).ok_or("not a MAC address")?;
        let ids = NicIds::of(mac);
        self.switch
            .plug(
                owner,
                network,
                addr,
                &paths.nic_gw(&ids),
                &paths.nic_vm(&ids),
            )
            .map_err(|e| format!("cannot bind {}: {e}", paths.nic_gw(&ids).display()))
    }

    /// Spawns QEMU for `file` and waits until its QMP socket answers.
    async fn boot(self: &Arc<Self>, file: &VmFile) -> Result<Machine, String> {
        let paths = self.paths(file.id);
        let nic_sockets = file.macs.iter().map(|m| paths.nic_vm(&NicIds::of(m)));
        for stale in [paths.qmp(), paths.vnc(), paths.pid()]
            .into_iter()
            .chain(nic_sockets)
        {
            let _ = std::fs::remove_file(stale);
        }
        let offsets = (file_len(&paths.serial_log()), file_len(&paths.qemu_log()));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(paths.qemu_log())
            .map_err(|e| format!("{}: {e}", paths.qemu_log().display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut child = tokio::process::Command::new(&self.cfg.binary)
            .args(cmdline::args(file, &paths, self.cfg.kvm))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            // Its own process group: a Ctrl-C or SIGTERM meant for the gateway's group
            // does not reach the VMs, which outlive the gateway.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.cfg.binary.display()))?;
        let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        // The ports live as long as the process: plugged before the task that waits for its
        // end, which unplugs them. Ready long before the guest's kernel sends a frame.
        let owner = switch::Owner {
            server: file.id,
            pid,
        };
        self.plug_ports(file, &paths, owner);
        let (tx, rx) = watch::channel(None);
        let exited = Arc::new(AtomicBool::new(false));
        let exited2 = Arc::clone(&exited);
        let switch = self.switch.clone();
        tokio::spawn(async move {
            let how = match child.wait().await {
                Ok(s) => describe_exit(s),
                Err(e) => format!("cannot wait for QEMU: {e}"),
            };
            switch.unplug_machine(owner);
            exited2.store(true, Ordering::SeqCst);
            let _ = tx.send(Some(how));
        });
        let qmp = match connect_retrying(&paths.qmp(), QMP_READY, || !exited.load(Ordering::SeqCst))
            .await
        {
            Ok(q) => q,
            Err(e) => {
                let mut rx = rx.clone();
                let how =
                    tokio::time::timeout(Duration::from_secs(2), rx.wait_for(Option::is_some))
                        .await
                        .ok()
                        .and_then(|r| r.ok().and_then(|v| v.clone()));
                if how.is_none() && pid > 0 {
                    // SAFETY: our own child, which did not open its QMP socket in time.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
                return Err(format!(
                    "QEMU did not start ({}){}",
                    how.unwrap_or(e),
                    log_tail(&paths.qemu_log(), "qemu.log")
                ));
            }
        };
        let machine = Machine {
            qmp,
            pid,
            exited: rx,
            quitting: Arc::default(),
        };
        self.supervise(file.id, &machine);
        self.note(
            file.id,
            DiagLevel::Info,
            "compute-backend",
            "QEMU started.",
            Some(format!(
                "pid {pid}; {} vCPU, {} MiB, {}; {}",
                file.vcpus,
                file.ram_mib,
                if self.cfg.kvm { "KVM" } else { "TCG" },
                match &file.kernel {
                    Some(_) => "booting the image's kernel",
                    None => "booting from the disk",
                }
            )),
        );
        self.watch_console(file.id, &machine, offsets);
        Ok(machine)
    }

    /// A diagnostics entry for a server that is still there and not being destroyed.
    fn note(
        &self,
        id: i64,
        level: DiagLevel,
        source: &str,
        message: &str,
        details: Option<String>,
    ) {
        let st = self.lock();
        let live = st
            .vms
            .get(&id)
            .is_some_and(|vm| !vm.op.is_some_and(|op| op.task == Task::Destroy));
        if live {
            self.emit(
                id,
                BackendEvent::Note {
                    level,
                    source: source.into(),
                    message: message.into(),
                    details,
                },
            );
        }
    }

    /// Boot progress and QEMU's messages as diagnostics entries, while the process runs:
    /// when the guest starts writing to its serial console, its last lines once that
    /// output has settled (the end of the boot), and each new line of `qemu.log` (a few
    /// per process: a guest can make QEMU warn in a loop).
    fn watch_console(self: &Arc<Self>, id: i64, machine: &Machine, (serial0, log0): (u64, u64)) {
        const POLL: Duration = Duration::from_millis(500);
        const SETTLED: Duration = Duration::from_secs(3);
        const MAX_QEMU_LINES: usize = 10;
        let me = Arc::clone(self);
        let exited = machine.exited.clone();
        let paths = self.paths(id);
        self.spawn(async move {
            let (mut serial_at, mut log_at) = (serial0, log0);
            let mut started = false;
            let mut settled = false;
            let mut last_output = Instant::now();
            let mut qemu_lines = 0;
            let mut partial = String::new();
            while exited.borrow().is_none() {
                sleep(POLL).await;
                if !settled {
                    let len = file_len(&paths.serial_log());
                    if len > serial_at {
                        serial_at = len;
                        last_output = Instant::now();
                        if !started {
                            started = true;
                            me.note(
                                id,
                                DiagLevel::Debug,
                                "guest-console",
                                "The guest is writing to its serial console.",
                                None,
                            );
                        }
                    } else if started && last_output.elapsed() >= SETTLED {
                        settled = true;
                        let tail = log_tail(&paths.serial_log(), "its serial console");
                        me.note(
                            id,
                            DiagLevel::Info,
                            "guest-console",
                            "The guest's boot output settled.",
                            tail.strip_prefix("; ").map(str::to_owned),
                        );
                    }
                }
                if qemu_lines < MAX_QEMU_LINES {
                    let (text, at) = read_from(&paths.qemu_log(), log_at);
                    log_at = at;
                    partial.push_str(&text);
                    while let Some(i) = partial.find('\n') {
                        let line: String = partial.drain(..=i).collect();
                        let line = line.trim();
                        if line.is_empty() {
                            continue;
                        }
                        if qemu_lines < MAX_QEMU_LINES {
                            qemu_lines += 1;
                            me.note(id, DiagLevel::Warning, "qemu", line, None);
                        }
                    }
                }
            }
        });
    }

    /// Watches a running machine: quits it when the guest powers off (unless a soft reboot
    /// is waiting for that), and turns its end into `Stopped` or `Crashed`.
    fn supervise(self: &Arc<Self>, id: i64, machine: &Machine) {
        let me = Arc::clone(self);
        let m = machine.clone();
        let mut events = machine.qmp.subscribe();
        self.spawn(async move {
            loop {
                match events.recv().await {
                    Ok(Event::Shutdown { guest: true, reason }) => {
                        let rebooting = me.lock().vms.get(&id).is_some_and(|vm| {
                            vm.op.is_some_and(|op| matches!(op.task, Task::Reboot(_)))
                        });
                        if !rebooting {
                            tracing::info!(server = id, %reason, "guest powered off; quitting QEMU");
                            m.quitting.store(true, Ordering::SeqCst);
                            let _ = m.qmp.execute(Cmd::Quit).await;
                        }
                    }
                    Ok(Event::Other(name)) if name == qmp::CLOSED => break,
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
            if !m.wait_exit(EXIT_WAIT).await {
                tracing::warn!(server = id, pid = m.pid, "QEMU closed its monitor but did not exit; killing it");
                m.kill();
                m.wait_exit(EXIT_WAIT).await;
            }
            let how = m.exited.borrow().clone().unwrap_or_default();
            me.exited(id, &m, &how);
        });
    }

    /// A machine's process is gone.
    fn exited(&self, id: i64, m: &Machine, how: &str) {
        let paths = self.paths(id);
        let _ = std::fs::remove_file(paths.pid());
        let mut st = self.lock();
        let Some(vm) = st.vms.get_mut(&id) else {
            return;
        };
        if vm.machine.as_ref().is_none_or(|cur| cur.pid != m.pid) {
            return;
        }
        vm.machine = None;
        vm.power = Power::Stopped;
        let asked = m.quitting.load(Ordering::SeqCst);
        let event = match vm.op.map(|op| op.task) {
            // The destroy waits for this exit itself.
            Some(Task::Destroy) => return,
            Some(Task::Shutdown) => {
                vm.op = None;
                BackendEvent::Stopped
            }
            _ if asked && vm.op.is_none() => BackendEvent::Stopped,
            _ => {
                vm.op = None;
                BackendEvent::Crashed {
                    message: format!(
                        "QEMU exited unexpectedly ({how}){}{}",
                        log_tail(&paths.qemu_log(), "qemu.log"),
                        log_tail(&paths.serial_log(), "serial console")
                    ),
                }
            }
        };
        tracing::info!(server = id, %how, ?event, "QEMU exited");
        self.emit(id, event);
    }

    /// Applies the latest NIC list `set_nics` gave (under the server's `work` lock, so a
    /// build or start in progress finishes first): `vm.json` gets it, for every later boot,
    /// and a running machine has its NICs plugged and unplugged to match. Each outcome is a
    /// diagnostics note.
    async fn apply_nics(self: &Arc<Self>, id: i64) {
        let Some(nics) = self
            .lock()
            .vms
            .get_mut(&id)
            .and_then(|vm| vm.nics_wanted.take())
        else {
            return;
        };
        let macs: Vec<String> = nics.iter().map(|n| n.mac.clone()).collect();
        let warn = |message: &str, details: String| {
            self.note(
                id,
                DiagLevel::Warning,
                "compute-backend",
                message,
                Some(details),
            );
        };
        let paths = self.paths(id);
        let mut file = match read_vm_file(&paths) {
            Ok(f) => f,
            Err(e) => {
                warn("The server's new NIC list could not be kept.", e);
                return;
            }
        };
        let old = std::mem::replace(&mut file.macs, macs.clone());
        file.networks = networks_of(&nics);
        if let Err(e) = write_vm_file(&paths, &file) {
            warn("The server's new NIC list could not be kept.", e);
            return;
        }
        let machine = self
            .lock()
            .vms
            .get(&id)
            .and_then(|vm| vm.machine.clone())
            .filter(|m| m.exited.borrow().is_none());
        let Some(m) = machine else {
            self.note(
                id,
                DiagLevel::Info,
                "compute-backend",
                "The server's NICs changed; its next start has them.",
                Some(format!("MACs: {}", macs.join(", "))),
            );
            return;
        };
        let (unplug, plug) = cmdline::nic_diff(&old, &macs);
        for mac in unplug {
            let unplugged = unplug_nic(&m, &mac).await;
            if let Some(addr) = switch::parse_mac(&mac) {
                self.switch.unplug(&addr);
            }
            match unplugged {
                Ok(true) => self.note(
                    id,
                    DiagLevel::Info,
                    "compute-backend",
                    &format!("NIC {mac} unplugged."),
                    Some(format!(
                        "QEMU reported device {} deleted",
                        NicIds::of(&mac).device
                    )),
                ),
                Ok(false) => warn(
                    &format!("NIC {mac} is still in the running server."),
                    format!(
                        "the guest did not release it within {UNPLUG_WAIT:?}; its next start \
                         does not have it"
                    ),
                ),
                Err(e) => warn(
                    &format!("NIC {mac} could not be unplugged."),
                    format!("{e}; the server's next start does not have it"),
                ),
            }
        }
        for mac in plug {
            let owner = switch::Owner {
                server: id,
                pid: m.pid,
            };
            if let Err(e) = self.plug_port(&file, &paths, owner, &mac) {
                warn(&format!("NIC {mac} could not be plugged."), e);
                continue;
            }
            let plugged = plug_nic(&m, &paths, &mac).await;
            if plugged.is_err()
                && let Some(addr) = switch::parse_mac(&mac)
            {
                self.switch.unplug(&addr);
            }
            match plugged {
                Ok(seen) => self.note(
                    id,
                    DiagLevel::Info,
                    "compute-backend",
                    &format!("NIC {mac} plugged."),
                    Some(format!(
                        "QEMU's device {}: {} mac {seen}",
                        NicIds::of(&mac).device,
                        cmdline::NIC_MODEL
                    )),
                ),
                Err(e) => warn(
                    &format!("NIC {mac} could not be plugged."),
                    format!("{e}; the server's next start has it"),
                ),
            }
        }
    }

    fn start_sampler(self: &Arc<Self>) {
        let me = Arc::clone(self);
        let period = self.cfg.sample_interval.max(Duration::from_millis(10));
        self.spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                me.sample_running().await;
            }
        });
    }

    /// CPU time from `/proc/<pid>/stat`; network bytes from the server's switch ports
    /// (QMP has no per-NIC counters); disk bytes from QMP's `query-blockstats`, asked of
    /// every machine at once, outside the lock, each bounded by [`SAMPLE_QMP_WAIT`].
    async fn sample_running(&self) {
        let machines: Vec<(i64, Machine)> = self
            .lock()
            .vms
            .iter()
            .filter(|(_, vm)| vm.power == Power::Running)
            .filter_map(|(&id, vm)| Some((id, vm.machine.clone()?)))
            .collect();
        let blocks = futures_util::future::join_all(machines.iter().map(|(_, m)| async {
            tokio::time::timeout(SAMPLE_QMP_WAIT, m.qmp.block_bytes())
                .await
                .ok()
                .and_then(Result::ok)
        }))
        .await;
        let hz = clock_ticks();
        let now = Instant::now();
        let at = time::now();
        let mut st = self.lock();
        for ((id, m), block) in machines.into_iter().zip(blocks) {
            let Some(vm) = st.vms.get_mut(&id).filter(|vm| {
                vm.power == Power::Running && vm.machine.as_ref().is_some_and(|c| c.pid == m.pid)
            }) else {
                continue;
            };
            let Some(ticks) = cpu_ticks(m.pid) else {
                continue;
            };
            // Taken at every tick, so that a sample holds its own interval's bytes only.
            let (rx, tx) = self.switch.take_server_counters(id);
            // QEMU's counters are cumulative: a sample is the difference with the last
            // answer (a missed answer leaves its bytes to the next sample).
            let (read, written) = match (block, vm.disk) {
                (Some((r, w)), Some((r0, w0))) => (r.saturating_sub(r0), w.saturating_sub(w0)),
                _ => (0, 0),
            };
            if block.is_some() {
                vm.disk = block;
            }
            if let Some((before, when)) = vm.cpu {
                let secs = now.duration_since(when).as_secs_f64();
                if secs > 0.0 {
                    let used = ticks.saturating_sub(before) as f64 / hz;
                    let pct = (used / secs / f64::from(vm.vcpus.max(1)) * 100.0).clamp(0.0, 100.0);
                    if vm.samples.len() >= HISTORY {
                        vm.samples.pop_front();
                    }
                    vm.samples.push_back(Sample {
                        at,
                        cpu_percent: pct as f32,
                        net_rx_bytes: rx,
                        net_tx_bytes: tx,
                        disk_read_bytes: read,
                        disk_write_bytes: written,
                    });
                }
            }
            vm.cpu = Some((ticks, now));
        }
    }
}

/// Plugs a NIC into a running machine (its switch port is ready): its datagram netdev,
/// then its PCI device, named as at boot ([`NicIds`]). Returns the MAC address QEMU
/// reports for the new device.
async fn plug_nic(m: &Machine, paths: &VmPaths, mac: &str) -> Result<String, qmp::QmpError> {
    let ids = NicIds::of(mac);
    let _ = std::fs::remove_file(paths.nic_vm(&ids));
    m.qmp
        .execute(Cmd::NetdevAdd {
            kind: cmdline::NETDEV_KIND.into(),
            id: ids.netdev.clone(),
            local: UnixAddress::new(&paths.nic_vm(&ids)),
            remote: UnixAddress::new(&paths.nic_gw(&ids)),
        })
        .await?;
    let added = m
        .qmp
        .execute(Cmd::DeviceAdd {
            driver: cmdline::NIC_MODEL.into(),
            id: ids.device.clone(),
            netdev: ids.netdev.clone(),
            mac: mac.into(),
            romfile: String::new(),
        })
        .await;
    if let Err(e) = added {
        let _ = m.qmp.execute(Cmd::NetdevDel { id: ids.netdev }).await;
        return Err(e);
    }
    let seen = m
        .qmp
        .execute(Cmd::QomGet {
            path: format!("/machine/peripheral/{}", ids.device),
            property: "mac".into(),
        })
        .await?;
    Ok(seen.as_str().unwrap_or("unknown").to_owned())
}

/// Unplugs a NIC from a running machine: asks the guest to release the device and waits
/// (bounded) for QEMU's `DEVICE_DELETED`, then removes its netdev. False when the guest
/// kept the device (its netdev goes anyway: the NIC then reaches nothing).
async fn unplug_nic(m: &Machine, mac: &str) -> Result<bool, qmp::QmpError> {
    let ids = NicIds::of(mac);
    let mut events = m.qmp.subscribe();
    m.qmp
        .execute(Cmd::DeviceDel {
            id: ids.device.clone(),
        })
        .await?;
    let deleted = tokio::time::timeout(UNPLUG_WAIT, async {
        loop {
            match events.recv().await {
                Ok(Event::DeviceDeleted { device: Some(d) }) if d == ids.device => return true,
                Ok(Event::Other(n)) if n == qmp::CLOSED => return false,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return false,
                _ => {}
            }
        }
    })
    .await
    .unwrap_or(false);
    m.qmp.execute(Cmd::NetdevDel { id: ids.netdev }).await?;
    Ok(deleted)
}

/// Connects to a QMP socket that may not exist yet, while `alive` says the process runs.
async fn connect_retrying(
    path: &Path,
    limit: Duration,
    alive: impl Fn() -> bool,
) -> Result<Qmp, String> {
    let deadline = Instant::now() + limit;
    loop {
        match Qmp::connect(path).await {
            Ok(q) => return Ok(q),
            Err(e) => {
                if !alive() {
                    return Err("the process exited".into());
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "no QMP on {} within {limit:?}: {e}",
                        path.display()
                    ));
                }
            }
        }
        sleep(Duration::from_millis(20)).await;
    }
}

fn describe_exit(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "ended".into(),
    }
}

/// A process that exists and is not a zombie waiting for a parent (or init) to reap it.
fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if pid <= 0 || unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next());
    state != Some('Z')
}

/// The pid in the server's pid file, if that process is alive and is this server's QEMU
/// (its command line names the server's QMP socket: pids are reused).
fn live_pid(paths: &VmPaths) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(paths.pid())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if !pid_alive(pid) {
        return None;
    }
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let needle = paths.qmp().display().to_string();
    String::from_utf8_lossy(&cmd)
        .contains(&needle)
        .then_some(pid)
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the whole line are the 12th and 13th after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// What a file holds from byte `at` on (at most 64 KiB), and the offset after it.
fn read_from(path: &Path, at: u64) -> (String, u64) {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return (String::new(), at);
    };
    if f.seek(SeekFrom::Start(at)).is_err() {
        return (String::new(), at);
    }
    let mut buf = Vec::new();
    let n = f.take(64 * 1024).read_to_end(&mut buf).unwrap_or(0);
    (String::from_utf8_lossy(&buf).into_owned(), at + n as u64)
}

/// The last lines of a log, printable, as a suffix for a message; empty without any.
fn log_tail(path: &Path, what: &str) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    let start = bytes.len().saturating_sub(16 * 1024);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            l.chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .collect::<String>()
                .trim()
                .to_owned()
        })
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL)..];
    format!("; last lines of {what}: {}", tail.join(" | "))
}

/// The disk formats a server's disk can be an overlay of.
fn backing_format(format: Option<&str>) -> Result<&'static str, String> {
    match format {
        Some("raw") => Ok("raw"),
        Some("qcow2") => Ok("qcow2"),
        Some(other) => Err(format!(
            "images of disk_format '{other}' cannot boot a server: only raw and qcow2 can"
        )),
        None => {
            Err("the image has no disk_format: only raw and qcow2 images can boot a server".into())
        }
    }
}

/// Builds server `spec.id`: its disk, its files, its first boot.
async fn build(
    inner: Arc<Inner>,
    spec: ServerSpec,
    generation: u64,
    _work: tokio::sync::OwnedMutexGuard<()>,
) {
    let id = spec.id;
    let fail = |message: String| {
        move |vm: &mut Vm| {
            vm.op = None;
            vm.power = Power::Broken;
            BackendEvent::Failed {
                task: Task::Build,
                message,
            }
        }
    };
    if !inner.report(id, generation, |_| BackendEvent::Progress(0)) {
        return;
    }
    let paths = inner.paths(id);
    let file = match prepare(&inner, &spec, &paths).await {
        Ok(f) => f,
        Err(message) => {
            inner.report(id, generation, fail(message));
            return;
        }
    };
    if !inner.report(id, generation, |_| BackendEvent::Progress(50)) {
        return;
    }
    let machine = match inner.boot(&file).await {
        Ok(m) => m,
        Err(message) => {
            inner.report(id, generation, fail(message));
            return;
        }
    };
    if !inner.attach(id, &machine) {
        let message = format!(
            "QEMU exited right after it started{}",
            log_tail(&paths.qemu_log(), "qemu.log")
        );
        inner.report(id, generation, fail(message));
        return;
    }
    inner.report(id, generation, |_| BackendEvent::Progress(100));
    inner.report(id, generation, |vm| {
        vm.op = None;
        vm.power = Power::Running;
        BackendEvent::BuildSucceeded
    });
}

/// The server's directory, disk and `vm.json`.
async fn prepare(inner: &Inner, spec: &ServerSpec, paths: &VmPaths) -> Result<VmFile, String> {
    let image = spec
        .image_path
        .as_ref()
        .ok_or_else(|| format!("image {} has no data in the image store", spec.image_id))?;
    tokio::fs::metadata(image)
        .await
        .map_err(|e| format!("image file {}: {e}", image.display()))?;
    let format = backing_format(spec.image_disk_format.as_deref())?;
    for (what, path) in [
        ("kernel", &spec.kernel_path),
        ("ramdisk", &spec.ramdisk_path),
    ] {
        if let Some(p) = path {
            tokio::fs::metadata(p)
                .await
                .map_err(|e| format!("{what} file {}: {e}", p.display()))?;
        }
    }
    tokio::fs::create_dir_all(&paths.dir)
        .await
        .map_err(|e| format!("{}: {e}", paths.dir.display()))?;
    // The server keeps its own names for the files it boots from: deleting the image (or
    // its kernel) from the image store must not break a server's disk or its next boot.
    let image = keep(image, &paths.dir.join("base")).await?;
    let kernel = match &spec.kernel_path {
        Some(k) => Some(keep(k, &paths.dir.join("kernel")).await?),
        None => None,
    };
    let initrd = match &spec.ramdisk_path {
        Some(r) => Some(keep(r, &paths.dir.join("initrd")).await?),
        None => None,
    };
    let mut cmd = tokio::process::Command::new(&inner.cfg.img_binary);
    cmd.args(["create", "-q", "-f", "qcow2", "-b"])
        .arg(&image)
        .args(["-F", format])
        .arg(paths.disk());
    if spec.disk_gib > 0 {
        cmd.arg(format!("{}G", spec.disk_gib));
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", inner.cfg.img_binary.display()))?;
    if !out.status.success() {
        return Err(format!(
            "qemu-img could not create the server's disk: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let drive = paths.config_drive();
    let spec2 = spec.clone();
    tokio::task::spawn_blocking(move || configdrive::write(&spec2, &drive))
        .await
        .map_err(|e| format!("config drive: {e}"))??;
    let file = VmFile {
        id: spec.id,
        name: spec.name.clone(),
        vcpus: spec.vcpus,
        ram_mib: spec.ram_mib,
        macs: spec.nics.iter().map(|n| n.mac.clone()).collect(),
        networks: networks_of(&spec.nics),
        kernel,
        initrd,
        cmdline: spec.kernel_cmdline.clone(),
        config_drive: true,
    };
    write_vm_file(paths, &file)?;
    Ok(file)
}

/// A name of `file` at `at` that lives as long as the server: a hard link (instant, and
/// image data never changes once uploaded), or a copy when the image store is on another
/// file system. Returns `at`.
async fn keep(file: &Path, at: &Path) -> Result<PathBuf, String> {
    let _ = tokio::fs::remove_file(at).await;
    if tokio::fs::hard_link(file, at).await.is_err() {
        tokio::fs::copy(file, at)
            .await
            .map_err(|e| format!("cannot keep {} for the server: {e}", file.display()))?;
    }
    Ok(at.to_path_buf())
}

/// MAC (lower case) → network, for `vm.json`.
fn networks_of(nics: &[NicSpec]) -> BTreeMap<String, String> {
    nics.iter()
        .map(|n| (n.mac.to_ascii_lowercase(), n.network_id.clone()))
        .collect()
}

/// The server's `vm.json`; an error names the file.
fn read_vm_file(paths: &VmPaths) -> Result<VmFile, String> {
    std::fs::read_to_string(paths.file())
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<VmFile>(&t).map_err(|e| e.to_string()))
        .map_err(|e| format!("{}: {e}", paths.file().display()))
}

fn write_vm_file(paths: &VmPaths, file: &VmFile) -> Result<(), String> {
    let text = serde_json::to_vec_pretty(file).map_err(|e| e.to_string())?;
    let tmp = paths.dir.join("vm.json.new");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, paths.file()))
        .map_err(|e| format!("{}: {e}", paths.file().display()))
}

#[async_trait]
impl ComputeBackend for QemuBackend {
    async fn create(&self, spec: ServerSpec) -> Result<(), BackendError> {
        let inner = &self.inner;
        let mut st = inner.lock();
        if st.vms.contains_key(&spec.id) {
            return Err(BackendError::AlreadyExists(spec.id));
        }
        st.generation += 1;
        let generation = st.generation;
        let work: Arc<tokio::sync::Mutex<()>> = Arc::default();
        // Taken here rather than in the task: a `set_nics` that comes right after the create
        // must find the build holding it, and so wait for the build's `vm.json`.
        let held = Arc::clone(&work)
            .try_lock_owned()
            .map_err(|e| BackendError::Unavailable(format!("server {}: {e}", spec.id)))?;
        st.vms.insert(
            spec.id,
            Vm {
                power: Power::Building,
                op: Some(Op {
                    task: Task::Build,
                    generation,
                }),
                machine: None,
                work: Arc::clone(&work),
                vcpus: spec.vcpus,
                samples: VecDeque::new(),
                cpu: None,
                disk: None,
                nics_wanted: None,
            },
        );
        inner.spawn(build(Arc::clone(inner), spec, generation, held));
        Ok(())
    }

    async fn start(&self, id: i64) -> Result<(), BackendError> {
        let inner = &self.inner;
        let mut st = inner.lock();
        st.generation += 1;
        let generation = st.generation;
        let vm = st.vms.get_mut(&id).ok_or(BackendError::NotFound(id))?;
        if let Some(op) = &vm.op {
            return Err(BackendError::Busy { id, task: op.task });
        }
        if vm.power != Power::Stopped {
            return Err(BackendError::InvalidState {
                id,
                action: "start",
                state: vm.power.observed(),
            });
        }
        vm.op = Some(Op {
            task: Task::Start,
            generation,
        });
        let work = Arc::clone(&vm.work);
        let me = Arc::clone(inner);
        inner.spawn(async move {
            let _work = work.lock().await;
            let paths = me.paths(id);
            let booted = match read_vm_file(&paths) {
                Ok(file) => me.boot(&file).await,
                Err(e) => Err(e),
            };
            match booted {
                Ok(machine) if me.attach(id, &machine) => {
                    me.report(id, generation, |vm| {
                        vm.op = None;
                        vm.power = Power::Running;
                        BackendEvent::Started
                    });
                }
                Ok(_) => {
                    let message = format!(
                        "QEMU exited right after it started{}",
                        log_tail(&paths.qemu_log(), "qemu.log")
                    );
                    me.report(id, generation, |vm| {
                        vm.op = None;
                        BackendEvent::Failed {
                            task: Task::Start,
                            message,
                        }
                    });
                }
                Err(message) => {
                    me.report(id, generation, |vm| {
                        vm.op = None;
                        BackendEvent::Failed {
                            task: Task::Start,
                            message,
                        }
                    });
                }
            }
        });
        Ok(())
    }

    async fn shutdown(&self, id: i64) -> Result<(), BackendError> {
        let timeout = self.inner.cfg.acpi_timeout;
        self.begin_running(
            id,
            Task::Shutdown,
            "shut down",
            move |inner, m, generation| async move {
                // The exit concludes the shutdown (see `Inner::exited`); this only escalates.
                let exited = m.press_power_until(id, timeout, m.wait_exit(timeout));
                if exited.await == Some(true) {
                    return;
                }
                let still = inner
                    .lock()
                    .vms
                    .get(&id)
                    .is_some_and(|vm| vm.op.is_some_and(|op| op.generation == generation));
                if still {
                    tracing::warn!(
                        server = id,
                        "the guest did not power off within {timeout:?}; powering it off"
                    );
                    m.stop().await;
                }
            },
        )
    }

    async fn reboot(&self, id: i64, kind: RebootKind) -> Result<(), BackendError> {
        let timeout = self.inner.cfg.acpi_timeout;
        self.begin_running(
            id,
            Task::Reboot(kind),
            "reboot",
            move |inner, m, generation| async move {
                let mut events = m.qmp.subscribe();
                if kind == RebootKind::Soft {
                    let powered_off = async {
                        loop {
                            match events.recv().await {
                                Ok(Event::Shutdown { guest: true, .. }) => return Ok(()),
                                Ok(Event::Other(n)) if n == qmp::CLOSED => {
                                    return Err(qmp::QmpError::Closed);
                                }
                                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                                    return Err(qmp::QmpError::Closed);
                                }
                                _ => {}
                            }
                        }
                    };
                    match m.press_power_until(id, timeout, powered_off).await {
                        Some(Ok(())) => {}
                        Some(Err(e)) => {
                            inner.report(id, generation, |vm| {
                                vm.op = None;
                                BackendEvent::Failed {
                                    task: Task::Reboot(kind),
                                    message: e.to_string(),
                                }
                            });
                            return;
                        }
                        None => tracing::warn!(
                            server = id,
                            "the guest did not power off within {timeout:?}; resetting it"
                        ),
                    }
                }
                let reset = async {
                    m.qmp.execute(Cmd::SystemReset).await?;
                    // After a guest power-off (-no-shutdown) the VM is stopped until `cont`.
                    if m.qmp.status().await? != "running" {
                        m.qmp.execute(Cmd::Cont).await?;
                    }
                    Ok::<(), qmp::QmpError>(())
                };
                let result = reset.await;
                inner.report(id, generation, |vm| {
                    vm.op = None;
                    match result {
                        Ok(()) => BackendEvent::Rebooted,
                        Err(e) => BackendEvent::Failed {
                            task: Task::Reboot(kind),
                            message: e.to_string(),
                        },
                    }
                });
            },
        )
    }

    async fn destroy(&self, id: i64) -> Result<(), BackendError> {
        let inner = &self.inner;
        let mut st = inner.lock();
        st.generation += 1;
        let generation = st.generation;
        let vm = st.vms.get_mut(&id).ok_or(BackendError::NotFound(id))?;
        if vm.op.is_some_and(|op| op.task == Task::Destroy) {
            return Ok(());
        }
        vm.op = Some(Op {
            task: Task::Destroy,
            generation,
        });
        let work = Arc::clone(&vm.work);
        let me = Arc::clone(inner);
        inner.spawn(async move {
            // Waits for a build or start in progress, which then finds itself superseded.
            let _work = work.lock().await;
            let machine = me.lock().vms.get(&id).and_then(|vm| vm.machine.clone());
            if let Some(m) = machine {
                m.stop().await;
            }
            let paths = me.paths(id);
            let removed = match tokio::fs::remove_dir_all(&paths.dir).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(format!("cannot remove {}: {e}", paths.dir.display())),
            };
            let mut st = me.lock();
            let current = st
                .vms
                .get(&id)
                .is_some_and(|vm| vm.op.is_some_and(|op| op.generation == generation));
            if !current {
                return;
            }
            match removed {
                Ok(()) => {
                    st.vms.remove(&id);
                    me.emit(id, BackendEvent::Destroyed);
                }
                Err(message) => {
                    if let Some(vm) = st.vms.get_mut(&id) {
                        vm.op = None;
                        vm.machine = None;
                        vm.power = Power::Stopped;
                    }
                    me.emit(
                        id,
                        BackendEvent::Failed {
                            task: Task::Destroy,
                            message,
                        },
                    );
                }
            }
        });
        Ok(())
    }

    async fn known(&self) -> Vec<(i64, ObservedState)> {
        self.inner
            .lock()
            .vms
            .iter()
            .map(|(&id, vm)| (id, vm.power.observed()))
            .collect()
    }

    async fn samples(&self, id: i64) -> Vec<Sample> {
        self.inner
            .lock()
            .vms
            .get(&id)
            .map(|vm| vm.samples.iter().copied().collect())
            .unwrap_or_default()
    }

    fn sample_interval(&self) -> Duration {
        self.inner.cfg.sample_interval
    }

    async fn set_nics(&self, id: i64, nics: Vec<NicSpec>) -> Result<(), BackendError> {
        let work = {
            let mut st = self.inner.lock();
            let vm = st.vms.get_mut(&id).ok_or(BackendError::NotFound(id))?;
            if vm.op.is_some_and(|op| op.task == Task::Destroy) {
                return Err(BackendError::Busy {
                    id,
                    task: Task::Destroy,
                });
            }
            vm.nics_wanted = Some(nics);
            Arc::clone(&vm.work)
        };
        let me = Arc::clone(&self.inner);
        self.inner.spawn(async move {
            let _work = work.lock().await;
            me.apply_nics(id).await;
        });
        Ok(())
    }

    fn vnc_socket(&self, id: i64) -> Option<PathBuf> {
        let st = self.inner.lock();
        let vm = st.vms.get(&id)?;
        vm.machine.as_ref()?;
        Some(self.inner.paths(id).vnc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_raw_and_qcow2_back_a_disk() {
        assert_eq!(backing_format(Some("raw")), Ok("raw"));
        assert_eq!(backing_format(Some("qcow2")), Ok("qcow2"));
        assert!(backing_format(Some("iso")).unwrap_err().contains("iso"));
        assert!(backing_format(None).is_err());
    }

    #[test]
    fn log_tails_are_printable_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l");
        let mut text = String::new();
        for i in 0..20 {
            text.push_str(&format!("line {i}\x1b[6n\r\n"));
        }
        std::fs::write(&p, text).unwrap();
        let t = log_tail(&p, "x");
        assert!(t.starts_with("; last lines of x: line 12"), "{t}");
        assert!(t.ends_with("line 19[6n"), "{t}");
        assert_eq!(log_tail(&dir.path().join("none"), "x"), "");
    }

    #[test]
    fn this_process_has_cpu_ticks() {
        let pid = std::process::id() as i32;
        assert!(cpu_ticks(pid).is_some());
        assert!(pid_alive(pid));
        assert!(find_binary(Path::new("sh")).is_some());
        assert!(find_binary(Path::new("no-such-binary-cyclades")).is_none());
    }
}
