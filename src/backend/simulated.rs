//! The simulated compute backend: servers that exist only as timers. A build reports
//! progress 0→100 over `build_secs`, start/shutdown/reboot take `op_secs` (a hard reboot
//! half of it, as a reset skips the guest's own shutdown), a running server produces CPU,
//! network and disk samples every `sample_interval_secs`. It is for tests, demos and laptops: it
//! checks what a real backend would check (the server exists, is in a state for the
//! command, is not busy, its image file is there) so that the gateway meets the same
//! refusals, and it can be told to fail an operation ([`SimulatedBackend::fail_next`]) or to
//! crash a server ([`SimulatedBackend::crash`]).
//!
//! It keeps everything in memory: after a restart it knows no server, and the reconciler
//! sees every one of them vanish — the path a real backend takes after losing its host.
//!
//! Every timer is a task that stops when the driver is dropped (one cancellation token),
//! and each operation carries a generation number checked under the lock before it sends:
//! an operation superseded by a destroy never reports, so nothing follows `Destroyed`.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior, sleep};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{BackendError, ComputeBackend, EventSender, ObservedState, Sample, ServerSpec};
use crate::domain::server::{BackendEvent, RebootKind, Task};
use crate::domain::time::{self, Timestamp};

/// How long things take, in seconds (fractions allowed, so that tests can use 0.05).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimulatedConfig {
    pub build_secs: f64,
    pub op_secs: f64,
    pub sample_interval_secs: f64,
}

impl Default for SimulatedConfig {
    fn default() -> SimulatedConfig {
        SimulatedConfig {
            build_secs: 5.0,
            op_secs: 2.0,
            sample_interval_secs: 10.0,
        }
    }
}

/// Samples kept per server: an hour at the default interval.
pub const HISTORY: usize = 360;
/// A build reports progress in this many steps after 0 (every 5 %).
pub const BUILD_STEPS: u8 = 20;
/// A zero interval would make the sampler spin.
const MIN_SAMPLE_INTERVAL: Duration = Duration::from_millis(10);
/// No simulated operation takes longer than a day, whatever the configuration says.
const MAX_SECS: f64 = 86_400.0;

/// Configuration is validated elsewhere, but a timer must not panic on a negative or NaN.
fn duration(secs: f64) -> Duration {
    if secs.is_nan() {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs.min(MAX_SECS)).unwrap_or(Duration::ZERO)
}

/// The simulated driver. Construct it inside a tokio runtime; drop it to stop every timer.
pub struct SimulatedBackend {
    inner: Arc<Inner>,
    /// Cancels every task of this driver when it is dropped.
    _stop: DropGuard,
}

struct Inner {
    build_step: Duration,
    op: Duration,
    sample_interval: Duration,
    events: EventSender,
    stop: CancellationToken,
    state: Mutex<State>,
}

struct State {
    /// Ordered, so that a seeded driver draws its random numbers in the same order.
    servers: BTreeMap<i64, Vm>,
    /// Armed failures: `(server or any, task)`, first match wins.
    failures: Vec<(Option<i64>, Task)>,
    rng: StdRng,
    generation: u64,
    sampling: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Power {
    Building,
    Running,
    Stopped,
    /// The build failed: nothing to boot.
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
    samples: VecDeque<Sample>,
    load: Load,
}

/// The operation in flight and the timer task that will finish it.
struct Op {
    task: Task,
    generation: u64,
    handle: AbortHandle,
}

impl SimulatedBackend {
    /// A driver that sends its events to `events`, with fresh randomness.
    pub fn new(config: SimulatedConfig, events: EventSender) -> SimulatedBackend {
        SimulatedBackend::with_seed(config, events, rand::rng().random())
    }

    /// A driver whose samples are the same for the same seed and the same commands.
    pub fn with_seed(config: SimulatedConfig, events: EventSender, seed: u64) -> SimulatedBackend {
        let stop = CancellationToken::new();
        let inner = Inner {
            build_step: duration(config.build_secs) / u32::from(BUILD_STEPS),
            op: duration(config.op_secs),
            sample_interval: duration(config.sample_interval_secs).max(MIN_SAMPLE_INTERVAL),
            events,
            stop: stop.clone(),
            state: Mutex::new(State {
                servers: BTreeMap::new(),
                failures: Vec::new(),
                rng: StdRng::seed_from_u64(seed),
                generation: 0,
                sampling: false,
            }),
        };
        SimulatedBackend {
            inner: Arc::new(inner),
            _stop: stop.drop_guard(),
        }
    }

    /// Makes the next `task` on `server` (or on any server, with `None`) fail: it reports
    /// `Failed { task, .. }` where it would have succeeded, after the same delay. A reboot
    /// failure applies to either kind of reboot. Failures are used up in the order given.
    pub fn fail_next(&self, server: Option<i64>, task: Task) {
        self.inner.lock().failures.push((server, task));
    }

    /// Kills a running server's VM: it reports `Crashed` at once and is off afterwards (it
    /// can be started again). Whatever the server was doing is abandoned, except a destroy.
    pub fn crash(&self, id: i64, message: impl Into<String>) -> Result<(), BackendError> {
        let mut guard = self.inner.lock();
        let vm = guard
            .servers
            .get_mut(&id)
            .ok_or(BackendError::NotFound(id))?;
        if let Some(op) = vm.op.as_ref().filter(|op| op.task == Task::Destroy) {
            return Err(BackendError::Busy { id, task: op.task });
        }
        if vm.power != Power::Running {
            return Err(BackendError::InvalidState {
                id,
                action: "crash",
                state: vm.power.observed(),
            });
        }
        if let Some(op) = vm.op.take() {
            op.handle.abort();
        }
        vm.power = Power::Stopped;
        self.inner.emit(
            id,
            BackendEvent::Crashed {
                message: message.into(),
            },
        );
        Ok(())
    }

    /// Starts an operation on a server in power state `needs`; `done` turns the server
    /// into its state after success and names the event.
    fn begin(
        &self,
        id: i64,
        task: Task,
        action: &'static str,
        needs: Power,
        delay: Duration,
        done: fn(&mut Vm, &mut StdRng) -> BackendEvent,
    ) -> Result<(), BackendError> {
        let inner = &self.inner;
        let mut guard = inner.lock();
        let st = &mut *guard;
        let vm = st.servers.get_mut(&id).ok_or(BackendError::NotFound(id))?;
        if let Some(op) = &vm.op {
            return Err(BackendError::Busy { id, task: op.task });
        }
        if vm.power != needs {
            return Err(BackendError::InvalidState {
                id,
                action,
                state: vm.power.observed(),
            });
        }
        let failure = take_failure(&mut st.failures, id, task);
        st.generation += 1;
        let generation = st.generation;
        let me = Arc::clone(inner);
        // Spawned under the lock, so the task can't finish before `op` records it.
        let handle = inner.spawn(async move {
            sleep(delay).await;
            me.report(id, generation, |vm, rng| {
                vm.op = None;
                match failure {
                    Some(message) => BackendEvent::Failed { task, message },
                    None => done(vm, rng),
                }
            });
        });
        vm.op = Some(Op {
            task,
            generation,
            handle,
        });
        tracing::debug!(server = id, %task, "simulated backend: operation started");
        Ok(())
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements, so a panic elsewhere while the
        // lock was held leaves nothing half-done worth refusing to read.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, id: i64, event: BackendEvent) {
        // No receiver means the reconciler is gone, i.e. the gateway is shutting down:
        // there is nobody left to tell.
        let _ = self.events.send((id, event));
    }

    /// Spawns a timer task that ends when the driver is dropped.
    fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) -> AbortHandle {
        let stop = self.stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = work => {}
            }
        })
        .abort_handle()
    }

    /// Runs `f` on the server if operation `generation` is still its current one and sends
    /// the event `f` makes. The send happens under the lock: a destroy can't slip in
    /// between the check and the send. False when the operation was superseded.
    fn report(
        &self,
        id: i64,
        generation: u64,
        f: impl FnOnce(&mut Vm, &mut StdRng) -> BackendEvent,
    ) -> bool {
        let mut guard = self.lock();
        let st = &mut *guard;
        let current = st
            .servers
            .get_mut(&id)
            .filter(|vm| vm.op.as_ref().is_some_and(|op| op.generation == generation));
        let Some(vm) = current else {
            return false;
        };
        let event = f(vm, &mut st.rng);
        self.emit(id, event);
        true
    }

    fn start_sampler(self: &Arc<Self>) {
        let me = Arc::clone(self);
        let period = self.sample_interval;
        self.spawn(async move {
            let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
            // After a stall, carry on from now rather than bursting out the missed samples.
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                me.sample_running(time::now());
            }
        });
    }

    fn sample_running(&self, at: Timestamp) {
        let secs = self.sample_interval.as_secs_f64();
        let mut guard = self.lock();
        let st = &mut *guard;
        for vm in st.servers.values_mut() {
            if vm.power != Power::Running {
                continue;
            }
            let sample = vm.load.sample(&mut st.rng, at, secs);
            if vm.samples.len() >= HISTORY {
                vm.samples.pop_front();
            }
            vm.samples.push_back(sample);
        }
    }
}

/// Takes the first armed failure for `task` on `id`, as the message the failure reports.
fn take_failure(failures: &mut Vec<(Option<i64>, Task)>, id: i64, task: Task) -> Option<String> {
    let i = failures
        .iter()
        .position(|&(target, t)| target.is_none_or(|s| s == id) && t.same_operation(task))?;
    failures.remove(i);
    let what = match task {
        Task::Build => "image deployment failed: the disk copy stopped with an I/O error",
        Task::Start => "the hypervisor could not start the virtual machine",
        Task::Shutdown => "the guest did not respond to the ACPI shutdown request",
        Task::Reboot(_) => "the hypervisor could not reboot the virtual machine",
        Task::Destroy => "the hypervisor could not remove the virtual machine",
    };
    Some(format!("{what} (injected failure)"))
}

/// Builds server `id`: checks the image file, copies it (progress), boots it.
async fn build(
    inner: Arc<Inner>,
    id: i64,
    generation: u64,
    image: Option<PathBuf>,
    failure: Option<String>,
) {
    let broken = |message: String| {
        move |vm: &mut Vm, _: &mut StdRng| {
            vm.op = None;
            vm.power = Power::Broken;
            BackendEvent::Failed {
                task: Task::Build,
                message,
            }
        }
    };
    if !inner.report(id, generation, |_, _| BackendEvent::Progress(0)) {
        return;
    }
    if let Some(path) = image
        && let Err(e) = tokio::fs::metadata(&path).await
    {
        let message = format!("image file {}: {e}", path.display());
        inner.report(id, generation, broken(message));
        return;
    }
    for step in 1..=BUILD_STEPS {
        sleep(inner.build_step).await;
        let percent = step * (100 / BUILD_STEPS);
        if let Some(message) = &failure
            && percent > 50
        {
            // Half-way is where an image copy that goes wrong usually does.
            inner.report(id, generation, broken(message.clone()));
            return;
        }
        if !inner.report(id, generation, |_, _| BackendEvent::Progress(percent)) {
            return;
        }
    }
    inner.report(id, generation, |vm, rng| {
        vm.op = None;
        vm.power = Power::Running;
        vm.load.boot(rng);
        BackendEvent::BuildSucceeded
    });
}

#[async_trait]
impl ComputeBackend for SimulatedBackend {
    async fn create(&self, spec: ServerSpec) -> Result<(), BackendError> {
        let inner = &self.inner;
        let mut guard = inner.lock();
        let st = &mut *guard;
        if st.servers.contains_key(&spec.id) {
            return Err(BackendError::AlreadyExists(spec.id));
        }
        if !st.sampling {
            st.sampling = true;
            inner.start_sampler();
        }
        // A simulated guest has no disk to inject the personality files or the password
        // into; both are dropped with the spec, and never kept.
        let failure = take_failure(&mut st.failures, spec.id, Task::Build);
        st.generation += 1;
        let generation = st.generation;
        let load = Load::idle(&mut st.rng);
        let handle = inner.spawn(build(
            Arc::clone(inner),
            spec.id,
            generation,
            spec.image_path,
            failure,
        ));
        st.servers.insert(
            spec.id,
            Vm {
                power: Power::Building,
                op: Some(Op {
                    task: Task::Build,
                    generation,
                    handle,
                }),
                samples: VecDeque::new(),
                load,
            },
        );
        tracing::debug!(server = spec.id, "simulated backend: build started");
        Ok(())
    }

    async fn start(&self, id: i64) -> Result<(), BackendError> {
        self.begin(
            id,
            Task::Start,
            "start",
            Power::Stopped,
            self.inner.op,
            |vm, rng| {
                vm.power = Power::Running;
                vm.load.boot(rng);
                BackendEvent::Started
            },
        )
    }

    async fn shutdown(&self, id: i64) -> Result<(), BackendError> {
        self.begin(
            id,
            Task::Shutdown,
            "shut down",
            Power::Running,
            self.inner.op,
            |vm, _| {
                vm.power = Power::Stopped;
                BackendEvent::Stopped
            },
        )
    }

    async fn reboot(&self, id: i64, kind: RebootKind) -> Result<(), BackendError> {
        let delay = match kind {
            RebootKind::Soft => self.inner.op,
            RebootKind::Hard => self.inner.op / 2,
        };
        self.begin(
            id,
            Task::Reboot(kind),
            "reboot",
            Power::Running,
            delay,
            |vm, rng| {
                vm.load.boot(rng);
                BackendEvent::Rebooted
            },
        )
    }

    async fn destroy(&self, id: i64) -> Result<(), BackendError> {
        let inner = &self.inner;
        let delay = inner.op / 2;
        let mut guard = inner.lock();
        let st = &mut *guard;
        let vm = st.servers.get_mut(&id).ok_or(BackendError::NotFound(id))?;
        if vm.op.as_ref().is_some_and(|op| op.task == Task::Destroy) {
            return Ok(());
        }
        let me = Arc::clone(inner);
        if let Some(message) = take_failure(&mut st.failures, id, Task::Destroy) {
            // A failed destroy leaves the server doing whatever it was doing.
            inner.spawn(async move {
                sleep(delay).await;
                let guard = me.lock();
                if guard.servers.contains_key(&id) {
                    me.emit(
                        id,
                        BackendEvent::Failed {
                            task: Task::Destroy,
                            message,
                        },
                    );
                }
            });
            return Ok(());
        }
        // The superseded operation would not report anyway (its generation is stale);
        // aborting it just frees its timer now.
        if let Some(op) = vm.op.take() {
            op.handle.abort();
        }
        st.generation += 1;
        let generation = st.generation;
        let handle = inner.spawn(async move {
            sleep(delay).await;
            let mut guard = me.lock();
            let current = guard
                .servers
                .get(&id)
                .and_then(|vm| vm.op.as_ref())
                .is_some_and(|op| op.generation == generation);
            if current {
                guard.servers.remove(&id);
                me.emit(id, BackendEvent::Destroyed);
            }
        });
        vm.op = Some(Op {
            task: Task::Destroy,
            generation,
            handle,
        });
        tracing::debug!(server = id, "simulated backend: destroy started");
        Ok(())
    }

    async fn adopt(&self, id: i64, state: ObservedState) -> Result<(), BackendError> {
        let power = match state {
            ObservedState::Running => Power::Running,
            ObservedState::Stopped => Power::Stopped,
            other => {
                return Err(BackendError::Unavailable(format!(
                    "a simulated server can be adopted running or stopped, not {other:?}"
                )));
            }
        };
        let inner = &self.inner;
        let mut guard = inner.lock();
        let st = &mut *guard;
        if st.servers.contains_key(&id) {
            return Err(BackendError::AlreadyExists(id));
        }
        if !st.sampling {
            st.sampling = true;
            inner.start_sampler();
        }
        let load = Load::idle(&mut st.rng);
        st.servers.insert(
            id,
            Vm {
                power,
                op: None,
                samples: VecDeque::new(),
                load,
            },
        );
        Ok(())
    }

    async fn known(&self) -> Vec<(i64, ObservedState)> {
        self.inner
            .lock()
            .servers
            .iter()
            .map(|(&id, vm)| (id, vm.power.observed()))
            .collect()
    }

    async fn samples(&self, id: i64) -> Vec<Sample> {
        self.inner
            .lock()
            .servers
            .get(&id)
            .map(|vm| vm.samples.iter().copied().collect())
            .unwrap_or_default()
    }

    fn sample_interval(&self) -> Duration {
        self.inner.sample_interval
    }
}

/// What a server is doing, as the samples show it.
struct Load {
    cpu: f32,
    /// Bytes per second.
    rx_rate: f64,
    tx_rate: f64,
    /// Bytes per second the disk reads and writes at rest (a walk, like the network's).
    read_rate: f64,
    write_rate: f64,
    /// What a boot reads on top (its kernel, its init, its libraries), in bytes per
    /// second; it fades sample by sample.
    boot_reads: f64,
}

impl Load {
    fn idle(rng: &mut StdRng) -> Load {
        Load {
            cpu: rng.random_range(2.0..10.0),
            rx_rate: rng.random_range(2_000.0..20_000.0),
            tx_rate: rng.random_range(1_000.0..10_000.0),
            read_rate: rng.random_range(4_000.0..64_000.0),
            write_rate: rng.random_range(8_000.0..128_000.0),
            boot_reads: 0.0,
        }
    }

    /// A booting guest keeps its CPU busy for a while, and reads a lot from its disk.
    fn boot(&mut self, rng: &mut StdRng) {
        self.cpu = rng.random_range(60.0..95.0);
        self.boot_reads = rng.random_range(30e6..90e6);
    }

    /// The next sample: a random walk pulled back to an idle level, with a burst now and
    /// then — what a mostly idle server with occasional work looks like on a graph.
    fn sample(&mut self, rng: &mut StdRng, at: Timestamp, secs: f64) -> Sample {
        const IDLE: f32 = 8.0;
        let mut cpu = self.cpu + (IDLE - self.cpu) * 0.25 + rng.random_range(-5.0..5.0);
        if rng.random_bool(0.05) {
            cpu += rng.random_range(20.0..60.0);
        }
        self.cpu = cpu.clamp(0.0, 100.0);
        self.rx_rate = (self.rx_rate * rng.random_range(0.8..1.25)).clamp(500.0, 5e6);
        self.tx_rate = (self.tx_rate * rng.random_range(0.8..1.25)).clamp(200.0, 2e6);
        self.read_rate = (self.read_rate * rng.random_range(0.8..1.25)).clamp(1_000.0, 2e6);
        self.write_rate = (self.write_rate * rng.random_range(0.8..1.25)).clamp(500.0, 2e6);
        // A busy server also talks more, and uses its disk more.
        let busy = 1.0 + f64::from(self.cpu) / 25.0;
        let reads = self.read_rate * busy + self.boot_reads;
        self.boot_reads *= 0.6;
        Sample {
            at,
            cpu_percent: self.cpu,
            net_rx_bytes: (self.rx_rate * busy * secs) as u64,
            net_tx_bytes: (self.tx_rate * busy * secs) as u64,
            disk_read_bytes: (reads * secs) as u64,
            disk_write_bytes: (self.write_rate * busy * secs) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{EventReceiver, event_channel};
    use tokio::sync::mpsc::error::TryRecvError;
    use tokio::time::timeout;

    const CONFIG: SimulatedConfig = SimulatedConfig {
        build_secs: 2.0,
        op_secs: 1.0,
        sample_interval_secs: 0.5,
    };

    fn backend() -> (SimulatedBackend, EventReceiver) {
        let (tx, rx) = event_channel();
        (SimulatedBackend::with_seed(CONFIG, tx, 7), rx)
    }

    fn spec(id: i64) -> ServerSpec {
        ServerSpec {
            id,
            name: format!("server-{id}"),
            vcpus: 1,
            ram_mib: 512,
            disk_gib: 10,
            image_id: "img".into(),
            image_path: None,
            image_disk_format: Some("raw".into()),
            kernel_path: None,
            ramdisk_path: None,
            kernel_cmdline: None,
            nics: Vec::new(),
            admin_password: "secret".into(),
            personality: Vec::new(),
        }
    }

    async fn next(rx: &mut EventReceiver) -> (i64, BackendEvent) {
        match timeout(Duration::from_secs(3600), rx.recv()).await {
            Ok(Some(e)) => e,
            other => panic!("no event: {other:?}"),
        }
    }

    /// Waits for `id`'s build and returns its events.
    async fn built(b: &SimulatedBackend, rx: &mut EventReceiver, id: i64) -> Vec<BackendEvent> {
        b.create(spec(id)).await.unwrap();
        let mut seen = Vec::new();
        loop {
            let (i, e) = next(rx).await;
            assert_eq!(i, id);
            seen.push(e.clone());
            if e == BackendEvent::BuildSucceeded {
                return seen;
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_build_reports_progress_then_success() {
        let (b, mut rx) = backend();
        let t0 = Instant::now();
        let events = built(&b, &mut rx, 1).await;
        let mut expected: Vec<_> = (0..=BUILD_STEPS)
            .map(|s| BackendEvent::Progress(s * 5))
            .collect();
        expected.push(BackendEvent::BuildSucceeded);
        assert_eq!(events, expected);
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
        assert_eq!(b.known().await, vec![(1, ObservedState::Running)]);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_start_and_reboots_take_their_time() {
        let (b, mut rx) = backend();
        built(&b, &mut rx, 1).await;

        let t0 = Instant::now();
        b.shutdown(1).await.unwrap();
        assert_eq!(next(&mut rx).await, (1, BackendEvent::Stopped));
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
        assert_eq!(b.known().await, vec![(1, ObservedState::Stopped)]);

        b.start(1).await.unwrap();
        assert_eq!(next(&mut rx).await, (1, BackendEvent::Started));

        let t0 = Instant::now();
        b.reboot(1, RebootKind::Soft).await.unwrap();
        assert_eq!(next(&mut rx).await, (1, BackendEvent::Rebooted));
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
        let t0 = Instant::now();
        b.issue(1, Task::Reboot(RebootKind::Hard)).await.unwrap();
        assert_eq!(next(&mut rx).await, (1, BackendEvent::Rebooted));
        assert_eq!(t0.elapsed(), Duration::from_millis(500));
        assert_eq!(b.known().await, vec![(1, ObservedState::Running)]);
    }

    #[tokio::test(start_paused = true)]
    async fn commands_it_cannot_do_are_refused_on_the_spot() {
        let (b, mut rx) = backend();
        assert_eq!(b.start(9).await, Err(BackendError::NotFound(9)));
        b.create(spec(1)).await.unwrap();
        assert_eq!(b.create(spec(1)).await, Err(BackendError::AlreadyExists(1)));
        assert_eq!(
            b.shutdown(1).await,
            Err(BackendError::Busy {
                id: 1,
                task: Task::Build
            })
        );
        while next(&mut rx).await.1 != BackendEvent::BuildSucceeded {}
        let e = b.start(1).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "the compute backend can't start server 1: it is running"
        );
        b.shutdown(1).await.unwrap();
        assert!(matches!(
            b.reboot(1, RebootKind::Soft).await,
            Err(BackendError::Busy { .. })
        ));
        assert!(b.issue(1, Task::Build).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn armed_failures_report_failed() {
        let (b, mut rx) = backend();
        b.fail_next(Some(2), Task::Build);
        b.fail_next(None, Task::Reboot(RebootKind::Soft));
        built(&b, &mut rx, 1).await;

        b.create(spec(2)).await.unwrap();
        let mut last = None;
        loop {
            let (id, e) = next(&mut rx).await;
            assert_eq!(id, 2);
            match e {
                BackendEvent::Progress(p) => last = Some(p),
                BackendEvent::Failed { task, message } => {
                    assert_eq!(task, Task::Build);
                    assert!(message.contains("injected"), "{message}");
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(last, Some(50));
        assert_eq!(b.known().await[1], (2, ObservedState::Error));
        assert!(matches!(
            b.start(2).await,
            Err(BackendError::InvalidState { .. })
        ));

        // Any server, either kind of reboot; used up once.
        b.reboot(1, RebootKind::Hard).await.unwrap();
        assert!(matches!(
            next(&mut rx).await,
            (
                1,
                BackendEvent::Failed {
                    task: Task::Reboot(RebootKind::Hard),
                    ..
                }
            )
        ));
        assert_eq!(b.known().await[0], (1, ObservedState::Running));
        b.reboot(1, RebootKind::Hard).await.unwrap();
        assert_eq!(next(&mut rx).await, (1, BackendEvent::Rebooted));

        b.fail_next(Some(1), Task::Shutdown);
        b.shutdown(1).await.unwrap();
        assert!(matches!(
            next(&mut rx).await,
            (
                1,
                BackendEvent::Failed {
                    task: Task::Shutdown,
                    ..
                }
            )
        ));
        assert_eq!(b.known().await[0], (1, ObservedState::Running));
    }

    #[tokio::test(start_paused = true)]
    async fn destroy_mid_build_is_the_last_word() {
        let (b, mut rx) = backend();
        b.create(spec(1)).await.unwrap();
        assert_eq!(next(&mut rx).await, (1, BackendEvent::Progress(0)));
        assert_eq!(next(&mut rx).await, (1, BackendEvent::Progress(5)));
        b.destroy(1).await.unwrap();
        // A second delete while the first runs changes nothing.
        b.destroy(1).await.unwrap();
        assert_eq!(next(&mut rx).await, (1, BackendEvent::Destroyed));
        sleep(Duration::from_secs(10)).await;
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(b.known().await.is_empty());
        assert_eq!(b.destroy(1).await, Err(BackendError::NotFound(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn destroy_works_in_any_state() {
        let (b, mut rx) = backend();
        b.fail_next(Some(2), Task::Build);
        built(&b, &mut rx, 1).await;
        b.create(spec(2)).await.unwrap();
        while !matches!(next(&mut rx).await.1, BackendEvent::Failed { .. }) {}
        b.shutdown(1).await.unwrap();
        b.destroy(1).await.unwrap();
        b.destroy(2).await.unwrap();
        let mut gone = vec![next(&mut rx).await, next(&mut rx).await];
        gone.sort_by_key(|&(id, _)| id);
        assert_eq!(
            gone,
            vec![(1, BackendEvent::Destroyed), (2, BackendEvent::Destroyed)]
        );
        sleep(Duration::from_secs(10)).await;
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_destroy_leaves_the_server_running() {
        let (b, mut rx) = backend();
        built(&b, &mut rx, 1).await;
        b.fail_next(Some(1), Task::Destroy);
        b.destroy(1).await.unwrap();
        assert!(matches!(
            next(&mut rx).await,
            (
                1,
                BackendEvent::Failed {
                    task: Task::Destroy,
                    ..
                }
            )
        ));
        assert_eq!(b.known().await, vec![(1, ObservedState::Running)]);
        b.destroy(1).await.unwrap();
        assert_eq!(next(&mut rx).await, (1, BackendEvent::Destroyed));
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_image_file_fails_the_build() {
        let (b, mut rx) = backend();
        let mut s = spec(1);
        s.image_path = Some(PathBuf::from("/nonexistent/cyclades/image.raw"));
        b.create(s).await.unwrap();
        assert_eq!(next(&mut rx).await, (1, BackendEvent::Progress(0)));
        match next(&mut rx).await {
            (1, BackendEvent::Failed { task, message }) => {
                assert_eq!(task, Task::Build);
                assert!(
                    message.contains("/nonexistent/cyclades/image.raw"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_crashed_server_can_be_started_again() {
        let (b, mut rx) = backend();
        built(&b, &mut rx, 1).await;
        b.shutdown(1).await.unwrap();
        b.crash(1, "qemu: killed by signal 9").unwrap();
        assert_eq!(
            next(&mut rx).await,
            (
                1,
                BackendEvent::Crashed {
                    message: "qemu: killed by signal 9".into()
                }
            )
        );
        // The shutdown it was doing never reports.
        sleep(Duration::from_secs(5)).await;
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(b.crash(1, "again").is_err());
        b.start(1).await.unwrap();
        assert_eq!(next(&mut rx).await, (1, BackendEvent::Started));
    }

    #[tokio::test(start_paused = true)]
    async fn samples_accumulate_only_while_running_and_stay_bounded() {
        let (b, mut rx) = backend();
        assert_eq!(b.sample_interval(), Duration::from_millis(500));
        b.create(spec(1)).await.unwrap();
        sleep(Duration::from_millis(1900)).await;
        assert!(b.samples(1).await.is_empty(), "sampled while building");
        while next(&mut rx).await.1 != BackendEvent::BuildSucceeded {}

        sleep(Duration::from_secs(5)).await;
        let running = b.samples(1).await;
        assert!((9..=11).contains(&running.len()), "{}", running.len());
        for s in &running {
            assert!((0.0..=100.0).contains(&s.cpu_percent), "{s:?}");
            assert!(s.net_rx_bytes > 0 && s.net_tx_bytes > 0, "{s:?}");
            assert!(s.disk_read_bytes > 0 && s.disk_write_bytes > 0, "{s:?}");
        }
        // Booting read the guest's files: tens of MB/s at first (an idle walk starting
        // below 64 KB/s cannot get there in a few samples), far more than at the end.
        let (first, last) = (&running[0], &running[running.len() - 1]);
        assert!(first.disk_read_bytes as f64 / 0.5 > 10e6, "{first:?}");
        assert!(
            first.disk_read_bytes > 4 * last.disk_read_bytes,
            "{first:?} {last:?}"
        );
        assert!(running.windows(2).all(|w| w[0].at <= w[1].at));

        b.shutdown(1).await.unwrap();
        assert_eq!(next(&mut rx).await.1, BackendEvent::Stopped);
        let stopped = b.samples(1).await.len();
        sleep(Duration::from_secs(5)).await;
        assert_eq!(b.samples(1).await.len(), stopped, "sampled while stopped");

        b.start(1).await.unwrap();
        assert_eq!(next(&mut rx).await.1, BackendEvent::Started);
        sleep(CONFIG_HISTORY_SPAN).await;
        let all = b.samples(1).await;
        assert_eq!(all.len(), HISTORY);
        // The oldest went first: what stayed ends with the newest.
        assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(b.samples(42).await.is_empty());
    }

    /// Long enough at `CONFIG`'s interval to overfill the history.
    const CONFIG_HISTORY_SPAN: Duration = Duration::from_millis(500 * (HISTORY as u64 + 20));

    #[tokio::test(start_paused = true)]
    async fn the_same_seed_gives_the_same_samples() {
        let mut runs = Vec::new();
        for _ in 0..2 {
            let (b, mut rx) = backend();
            built(&b, &mut rx, 1).await;
            sleep(Duration::from_secs(3)).await;
            let cpu: Vec<f32> = b.samples(1).await.iter().map(|s| s.cpu_percent).collect();
            runs.push(cpu);
        }
        assert!(!runs[0].is_empty());
        assert_eq!(runs[0], runs[1]);
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_driver_stops_its_timers() {
        let (b, mut rx) = backend();
        b.create(spec(1)).await.unwrap();
        b.create(spec(2)).await.unwrap();
        assert_eq!(next(&mut rx).await.1, BackendEvent::Progress(0));
        drop(b);
        // Every task holding the sender has ended once the channel closes; a stray event
        // at most was already on its way.
        let rest = timeout(Duration::from_secs(1), async {
            let mut n = 0;
            while rx.recv().await.is_some() {
                n += 1;
            }
            n
        })
        .await
        .expect("timers still running after drop");
        assert!(rest <= 1, "{rest} events after drop");
    }

    #[test]
    fn odd_durations_do_not_panic() {
        assert_eq!(duration(-1.0), Duration::ZERO);
        assert_eq!(duration(f64::NAN), Duration::ZERO);
        assert_eq!(duration(f64::INFINITY), Duration::from_secs(86_400));
        assert_eq!(duration(0.05), Duration::from_millis(50));
    }

    #[test]
    fn the_spec_never_prints_the_password() {
        let mut s = spec(1);
        s.personality.push(crate::backend::PersonalityFile {
            path: "/etc/motd".into(),
            contents: b"top secret".to_vec(),
            owner: None,
            group: None,
            mode: Some(0o644),
        });
        let printed = format!("{s:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("<redacted>") && printed.contains("<10 bytes>"));
    }
}
