//! The server state machine: which action a request may ask for in which status, and what
//! each backend event does to a server. Pure: no I/O, no clock, no HTTP. Handlers call
//! [`request`] before they record an intent and hand a command to the compute backend; the
//! reconciler calls [`apply`] (and [`diagnostic_for`]) for every event the backend reports.
//!
//! ```text
//!                   BuildSucceeded               shutdown … Stopped
//!   BUILD ───────────────────────────► ACTIVE ─────────────────────► STOPPED
//!     │                               │  ▲  ◄─────────────────────
//!     │ Progress(n), 0‥100     reboot │  │ Rebooted   start … Started
//!     │                               ▼  │
//!     │                              REBOOT
//!     │
//!     │ Failed{Build}, Crashed, Vanished   (and from ACTIVE, REBOOT: Crashed, Vanished)
//!     └─────────────────────────► ERROR ── start … Started ──► ACTIVE   (if it was built)
//!
//!   delete … Destroyed: every status but DELETED ──► DELETED (terminal)
//!   "a … B": request a records its task; the status moves when the backend reports B
//! ```
//!
//! A [`ServerState`] is a status, the task in flight (what the backend was asked to do and
//! has not yet reported on) and the build progress.
//!
//! **What the API shows while a task runs.** As Cyclades did with Ganeti, a server keeps
//! its status until the backend reports the outcome; the task is recorded beside it:
//! - start: STOPPED (or ERROR) until `Started` → ACTIVE;
//! - shutdown: ACTIVE until `Stopped` → STOPPED;
//! - reboot (soft or hard): REBOOT at once — the seed describes reboot as
//!   "ACTIVE → REBOOT → ACTIVE" and lists REBOOT as a status — until `Rebooted` → ACTIVE;
//! - delete: the status it had until `Destroyed` → DELETED. The server's NICs and
//!   addresses are freed only once the backend has let go of them.
//!
//! **One task at a time.** An action while another task is in flight is refused (409), as
//! Cyclades refused any action with a pending one. Delete is the exception: it is allowed
//! from every status but DELETED and supersedes the task in flight (the build, a reboot…);
//! deleting again while a delete runs re-issues the command, which is harmless.
//!
//! **Which action needs which status** (the seed's Server Actions; [`ACTIONS`]): start needs
//! STOPPED; shutdown, reboot and console need ACTIVE; the firewall profile can be set in
//! ACTIVE and STOPPED. While building every action but delete is refused with 409
//! `buildInProgress`, the firewall included, as Cyclades did. One addition beyond Cyclades,
//! which allowed nothing but delete in ERROR: start is allowed from ERROR when the server
//! was built (progress 100) — a crashed server, or one its backend lost in a restart, can
//! be brought back without deleting it. A server whose build failed has nothing to start;
//! it can only be deleted.
//!
//! **Events** ([`EVENTS`]) always apply — the backend is the truth — except where they are
//! stale: an event with no row for the current status is ignored (`Started` for a DELETED
//! server, `Progress` outside BUILD, `Crashed` for a STOPPED server that has no process),
//! and so is a `Failed` for any task but the one in flight (a build or reboot superseded by
//! a delete: the delete's outcome decides). A failed start/shutdown/reboot returns to the
//! stable status the server had (the reconciler records the message as a diagnostic); a
//! failed build, a crash, or a server the backend has lost (`Vanished`, except a STOPPED
//! one) is ERROR — never ACTIVE on a guess. A `Vanished` server with a delete in flight is
//! what the delete wanted: DELETED. A failed delete leaves a stable status as it was, but a
//! superseded build or reboot can't be trusted any more: ERROR.
//!
//! UNKNOWN is never reached by these rules (the store shows it for a status it can't
//! read): it allows only delete, and takes whatever the backend reports next.

use std::fmt;
use std::str::FromStr;

use super::time::Timestamp;

/// A server's status as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerStatus {
    Build,
    Active,
    Stopped,
    Reboot,
    Error,
    Deleted,
    Unknown,
}

impl ServerStatus {
    pub const ALL: [ServerStatus; 7] = [
        ServerStatus::Build,
        ServerStatus::Active,
        ServerStatus::Stopped,
        ServerStatus::Reboot,
        ServerStatus::Error,
        ServerStatus::Deleted,
        ServerStatus::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServerStatus::Build => "BUILD",
            ServerStatus::Active => "ACTIVE",
            ServerStatus::Stopped => "STOPPED",
            ServerStatus::Reboot => "REBOOT",
            ServerStatus::Error => "ERROR",
            ServerStatus::Deleted => "DELETED",
            ServerStatus::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for ServerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Any case: OpenStack clients send the `status` filter upper case, hand-written queries
/// often lower case.
impl FromStr for ServerStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ServerStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "invalid server status '{s}': expected one of {}",
                    ServerStatus::ALL.map(ServerStatus::as_str).join(", ")
                )
            })
    }
}

/// `{"reboot": {"type": "SOFT" | "HARD"}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RebootKind {
    Soft,
    Hard,
}

impl RebootKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RebootKind::Soft => "SOFT",
            RebootKind::Hard => "HARD",
        }
    }
}

impl fmt::Display for RebootKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Any case: the seed's own example sends `"soft"`, kamaki sends `"SOFT"`.
impl FromStr for RebootKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [RebootKind::Soft, RebootKind::Hard]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("invalid reboot type '{s}': expected SOFT or HARD"))
    }
}

/// What the backend was asked to do and has not yet reported on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    Build,
    Start,
    Shutdown,
    Reboot(RebootKind),
    Destroy,
}

impl Task {
    pub const ALL: [Task; 6] = [
        Task::Build,
        Task::Start,
        Task::Shutdown,
        Task::Reboot(RebootKind::Soft),
        Task::Reboot(RebootKind::Hard),
        Task::Destroy,
    ];

    /// Two tasks are the same operation whatever their reboot kind: a failed soft reboot
    /// ends a hard one the caller may have re-requested meanwhile just as well.
    pub fn same_operation(self, other: Task) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }
}

/// The operation in words, for messages ("a shutdown is in progress").
impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Task::Build => "build",
            Task::Start => "start",
            Task::Shutdown => "shutdown",
            Task::Reboot(RebootKind::Soft) => "soft reboot",
            Task::Reboot(RebootKind::Hard) => "hard reboot",
            Task::Destroy => "delete",
        })
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserAction {
    Start,
    Shutdown,
    Reboot(RebootKind),
    Delete,
    /// `{"console": …}`: changes no state, needs a running server.
    Console,
    /// `{"firewallProfile": …}`: changes no state (the NIC's profile is not a status).
    SetFirewall,
}

impl UserAction {
    pub const ALL: [UserAction; 7] = [
        UserAction::Start,
        UserAction::Shutdown,
        UserAction::Reboot(RebootKind::Soft),
        UserAction::Reboot(RebootKind::Hard),
        UserAction::Delete,
        UserAction::Console,
        UserAction::SetFirewall,
    ];

    /// The backend command the action issues, if any.
    pub fn task(self) -> Option<Task> {
        match self {
            UserAction::Start => Some(Task::Start),
            UserAction::Shutdown => Some(Task::Shutdown),
            UserAction::Reboot(kind) => Some(Task::Reboot(kind)),
            UserAction::Delete => Some(Task::Destroy),
            UserAction::Console | UserAction::SetFirewall => None,
        }
    }
}

/// The action by the name the API gives it.
impl fmt::Display for UserAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UserAction::Start => "start",
            UserAction::Shutdown => "shutdown",
            UserAction::Reboot(_) => "reboot",
            UserAction::Delete => "delete",
            UserAction::Console => "console",
            UserAction::SetFirewall => "firewallProfile",
        })
    }
}

/// What the compute backend reports about one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendEvent {
    /// Build progress, 0‥100.
    Progress(u8),
    BuildSucceeded,
    Started,
    /// The VM is off: a shutdown finished, or the guest powered itself off.
    Stopped,
    Rebooted,
    Destroyed,
    /// The backend could not do `task`.
    Failed {
        task: Task,
        message: String,
    },
    /// A running VM's process died.
    Crashed {
        message: String,
    },
    /// The backend no longer knows the server (it lost it in a restart).
    Vanished,
    /// Something worth a diagnostics entry that changes nothing: boot progress, the
    /// hypervisor's own messages. No transition has it, so [`apply`] leaves the state be.
    Note {
        level: DiagLevel,
        source: String,
        message: String,
        details: Option<String>,
    },
}

/// An event without its data: the key of [`EVENTS`]. A failure keeps its task, since what
/// a failure undoes depends on what failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Progress,
    BuildSucceeded,
    Started,
    Stopped,
    Rebooted,
    Destroyed,
    Failed(Task),
    Crashed,
    Vanished,
    Note,
}

impl BackendEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            BackendEvent::Progress(_) => EventKind::Progress,
            BackendEvent::BuildSucceeded => EventKind::BuildSucceeded,
            BackendEvent::Started => EventKind::Started,
            BackendEvent::Stopped => EventKind::Stopped,
            BackendEvent::Rebooted => EventKind::Rebooted,
            BackendEvent::Destroyed => EventKind::Destroyed,
            BackendEvent::Failed { task, .. } => EventKind::Failed(*task),
            BackendEvent::Crashed { .. } => EventKind::Crashed,
            BackendEvent::Vanished => EventKind::Vanished,
            BackendEvent::Note { .. } => EventKind::Note,
        }
    }

    /// Whether this event is the backend's last word on `task`: the task is over, one way
    /// or the other. A crash or a lost server ends every task but a delete, which still
    /// has to happen.
    fn concludes(&self, task: Task) -> bool {
        match self {
            BackendEvent::Progress(_) | BackendEvent::Note { .. } => false,
            BackendEvent::BuildSucceeded => task == Task::Build,
            BackendEvent::Started => matches!(task, Task::Start | Task::Reboot(_)),
            BackendEvent::Stopped => matches!(task, Task::Shutdown | Task::Reboot(_)),
            BackendEvent::Rebooted => matches!(task, Task::Reboot(_)),
            BackendEvent::Destroyed => true,
            BackendEvent::Failed { task: failed, .. } => failed.same_operation(task),
            BackendEvent::Crashed { .. } | BackendEvent::Vanished => task != Task::Destroy,
        }
    }
}

/// A server as the state machine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerState {
    pub status: ServerStatus,
    pub task: Option<Task>,
    /// 0‥100; moves during BUILD, 100 once built. An ERROR server keeps how far its build
    /// got, which is how [`request`] tells a failed build from a crashed server.
    pub progress: u8,
}

impl ServerState {
    /// A server just created: building, nothing copied yet.
    pub const fn building() -> ServerState {
        ServerState {
            status: ServerStatus::Build,
            task: Some(Task::Build),
            progress: 0,
        }
    }

    /// Whether the status may carry this task (see [`CARRIES`]) and the progress fits the
    /// status. Every state [`request`] and [`apply`] produce from a valid one is valid.
    pub fn is_valid(&self) -> bool {
        let built = matches!(
            self.status,
            ServerStatus::Active | ServerStatus::Stopped | ServerStatus::Reboot
        );
        CARRIES.contains(&(self.status, self.task))
            && self.progress <= 100
            && (!built || self.progress == 100)
    }

    fn was_built(&self) -> bool {
        self.progress == 100
    }
}

use RebootKind::{Hard, Soft};
use ServerStatus as S;
use Task as T;
use UserAction as A;

/// Every action a request may ask for: `(status, action, status shown while the task
/// runs)`. Only with no task in flight, except delete (see the module doc); start from
/// ERROR needs a built server. [`request`] allows nothing else.
pub const ACTIONS: &[(ServerStatus, UserAction, ServerStatus)] = &[
    (S::Active, A::Shutdown, S::Active),
    (S::Active, A::Reboot(Soft), S::Reboot),
    (S::Active, A::Reboot(Hard), S::Reboot),
    (S::Active, A::Console, S::Active),
    (S::Active, A::SetFirewall, S::Active),
    (S::Stopped, A::Start, S::Stopped),
    (S::Stopped, A::SetFirewall, S::Stopped),
    (S::Error, A::Start, S::Error),
    (S::Build, A::Delete, S::Build),
    (S::Active, A::Delete, S::Active),
    (S::Stopped, A::Delete, S::Stopped),
    (S::Reboot, A::Delete, S::Reboot),
    (S::Error, A::Delete, S::Error),
    (S::Unknown, A::Delete, S::Unknown),
];

/// What each backend event does: `(status, event, status after)`. An event without a row
/// for the current status is stale and ignored; [`apply`] does nothing else.
pub const EVENTS: &[(ServerStatus, EventKind, ServerStatus)] = {
    use EventKind as E;
    &[
        // The build.
        (S::Build, E::Progress, S::Build),
        (S::Build, E::BuildSucceeded, S::Active),
        (S::Build, E::Failed(T::Build), S::Error),
        // The backend confirms a VM running or off. UNKNOWN takes whatever it says.
        (S::Stopped, E::Started, S::Active),
        (S::Reboot, E::Started, S::Active),
        (S::Error, E::Started, S::Active),
        (S::Unknown, E::Started, S::Active),
        (S::Reboot, E::Rebooted, S::Active),
        (S::Unknown, E::Rebooted, S::Active),
        (S::Active, E::Stopped, S::Stopped),
        (S::Reboot, E::Stopped, S::Stopped),
        (S::Unknown, E::Stopped, S::Stopped),
        // A failed operation: back to the stable status it started from.
        (S::Stopped, E::Failed(T::Start), S::Stopped),
        (S::Error, E::Failed(T::Start), S::Error),
        (S::Active, E::Failed(T::Shutdown), S::Active),
        (S::Reboot, E::Failed(T::Reboot(Soft)), S::Active),
        (S::Reboot, E::Failed(T::Reboot(Hard)), S::Active),
        // A failed delete: a stable status stands, a superseded build or reboot can't be
        // trusted.
        (S::Build, E::Failed(T::Destroy), S::Error),
        (S::Reboot, E::Failed(T::Destroy), S::Error),
        (S::Active, E::Failed(T::Destroy), S::Active),
        (S::Stopped, E::Failed(T::Destroy), S::Stopped),
        (S::Error, E::Failed(T::Destroy), S::Error),
        (S::Unknown, E::Failed(T::Destroy), S::Unknown),
        // The VM died: only one with a process can (not a STOPPED one).
        (S::Build, E::Crashed, S::Error),
        (S::Active, E::Crashed, S::Error),
        (S::Reboot, E::Crashed, S::Error),
        (S::Error, E::Crashed, S::Error),
        (S::Unknown, E::Crashed, S::Error),
        // The backend lost it: a STOPPED server loses nothing that ran.
        (S::Build, E::Vanished, S::Error),
        (S::Active, E::Vanished, S::Error),
        (S::Stopped, E::Vanished, S::Stopped),
        (S::Reboot, E::Vanished, S::Error),
        (S::Error, E::Vanished, S::Error),
        (S::Unknown, E::Vanished, S::Error),
        // Gone.
        (S::Build, E::Destroyed, S::Deleted),
        (S::Active, E::Destroyed, S::Deleted),
        (S::Stopped, E::Destroyed, S::Deleted),
        (S::Reboot, E::Destroyed, S::Deleted),
        (S::Error, E::Destroyed, S::Deleted),
        (S::Unknown, E::Destroyed, S::Deleted),
    ]
};

/// Which task each status may carry (`None`: no task in flight). BUILD and REBOOT are the
/// task's own status, so they never go without one; DELETED never has one.
pub const CARRIES: &[(ServerStatus, Option<Task>)] = &[
    (S::Build, Some(T::Build)),
    (S::Build, Some(T::Destroy)),
    (S::Active, None),
    (S::Active, Some(T::Shutdown)),
    (S::Active, Some(T::Destroy)),
    (S::Stopped, None),
    (S::Stopped, Some(T::Start)),
    (S::Stopped, Some(T::Destroy)),
    (S::Reboot, Some(T::Reboot(Soft))),
    (S::Reboot, Some(T::Reboot(Hard))),
    (S::Reboot, Some(T::Destroy)),
    (S::Error, None),
    (S::Error, Some(T::Start)),
    (S::Error, Some(T::Destroy)),
    (S::Unknown, None),
    (S::Unknown, Some(T::Destroy)),
    (S::Deleted, None),
];

/// Why an action is refused; both are 409 (`buildInProgress` is Cyclades' own fault name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalKind {
    BuildInProgress,
    Conflict,
}

/// An action the server's status does not allow; the message names the status and says
/// what would work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ActionRefused {
    pub fault: RefusalKind,
    pub message: String,
}

/// Whether `action` is allowed in `state`: the state to record and the backend command to
/// issue (`None` for console and firewall, which the handler carries out itself), or why
/// not.
pub fn request(
    state: &ServerState,
    action: UserAction,
) -> Result<(ServerState, Option<Task>), ActionRefused> {
    let row = ACTIONS
        .iter()
        .find(|&&(from, a, _)| from == state.status && a == action);
    let allowed = match row {
        None => false,
        Some(_) if action == A::Delete => true,
        // Something is already under way; see the module doc.
        Some(_) if state.task.is_some() => false,
        // A server whose build failed has no disk to boot.
        Some(_) if state.status == S::Error => state.was_built(),
        Some(_) => true,
    };
    match row {
        Some(&(_, _, shows)) if allowed => {
            let task = action.task();
            let next = ServerState {
                status: shows,
                task: task.or(state.task),
                progress: state.progress,
            };
            Ok((next, task))
        }
        _ => Err(refusal(state, action)),
    }
}

/// The message for a refused action: the status, then what would work.
fn refusal(state: &ServerState, action: UserAction) -> ActionRefused {
    let status = state.status;
    let conflict = |hint: String| ActionRefused {
        fault: RefusalKind::Conflict,
        message: format!("server is {status}: {hint}"),
    };
    match (state.task, action) {
        (Some(T::Build), _) => ActionRefused {
            fault: RefusalKind::BuildInProgress,
            message: format!(
                "server is {status}: wait until it is ACTIVE (build {}% done)",
                state.progress
            ),
        },
        (Some(T::Destroy), _) => conflict("it is being deleted".into()),
        (Some(task), _) => conflict(format!("a {task} is in progress; wait until it completes")),
        (None, _) if status == S::Deleted => conflict("it can no longer be changed".into()),
        (None, _) if status == S::Error && !state.was_built() => {
            conflict("its build failed; delete it and create a new one".into())
        }
        (None, A::Start) if status == S::Active => conflict("it is already running".into()),
        (None, A::Shutdown) if status == S::Stopped => conflict("it is already shut down".into()),
        (None, A::Reboot(_) | A::Console) if status == S::Stopped => {
            conflict(format!("{action} needs an ACTIVE server; start it first"))
        }
        (None, _) => {
            let allowed: Vec<&str> = ACTIONS
                .iter()
                .filter(|&&(_, a, _)| a == action)
                .map(|&(from, _, _)| from.as_str())
                .collect();
            conflict(format!("{action} needs {}", allowed.join(" or ")))
        }
    }
}

/// The state after the backend reported `event` (see [`EVENTS`]); a stale event leaves the
/// state as it was.
pub fn apply(state: &ServerState, event: &BackendEvent) -> ServerState {
    // A server that vanished while being deleted is gone, which is what the delete wanted.
    let event = match event {
        BackendEvent::Vanished if state.task == Some(T::Destroy) => &BackendEvent::Destroyed,
        e => e,
    };
    // A failure counts only for the task in flight: any other was superseded (by a delete)
    // or is a late duplicate.
    if let BackendEvent::Failed { task: failed, .. } = event
        && !state.task.is_some_and(|t| t.same_operation(*failed))
    {
        return *state;
    }
    let kind = event.kind();
    let Some(&(_, _, to)) = EVENTS
        .iter()
        .find(|&&(from, e, _)| from == state.status && e == kind)
    else {
        return *state;
    };
    let progress = match (event, to) {
        // Never backwards: a client's progress bar should not jump back.
        (BackendEvent::Progress(p), _) => state.progress.max((*p).min(100)),
        (_, S::Active | S::Stopped | S::Reboot) => 100,
        _ => state.progress,
    };
    let task = state.task.filter(|&t| !event.concludes(t));
    ServerState {
        status: to,
        task,
        progress,
    }
}

/// How serious a diagnostics entry is; spelled as the seed's examples (`"DEBUG"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiagLevel {
    Debug,
    Info,
    Warning,
    Error,
}

impl DiagLevel {
    pub const ALL: [DiagLevel; 4] = [
        DiagLevel::Debug,
        DiagLevel::Info,
        DiagLevel::Warning,
        DiagLevel::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DiagLevel::Debug => "DEBUG",
            DiagLevel::Info => "INFO",
            DiagLevel::Warning => "WARNING",
            DiagLevel::Error => "ERROR",
        }
    }
}

impl fmt::Display for DiagLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DiagLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DiagLevel::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "invalid diagnostic level '{s}': expected one of {}",
                    DiagLevel::ALL.map(DiagLevel::as_str).join(", ")
                )
            })
    }
}

/// One entry of `GET /servers/{id}/diagnostics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub level: DiagLevel,
    /// When the gateway recorded it.
    pub created: Timestamp,
    /// Which process reported it (`image-info`, …).
    pub source: String,
    /// When the source reported it.
    pub source_date: Timestamp,
    pub message: String,
    pub details: Option<String>,
}

/// The build progress values that get a diagnostics entry: start, half-way, copied.
pub const PROGRESS_MILESTONES: [u8; 3] = [0, 50, 100];

/// The diagnostics entry an event deserves, if any: build milestones, failures, crashes and
/// lost servers. The wording and sources follow the seed's examples (snf-image's
/// `image-info`). Started/Stopped/Rebooted/Destroyed show in the status; they get none.
/// Events carry no time of their own, so `created` and `source_date` are both `now`.
pub fn diagnostic_for(event: &BackendEvent, now: Timestamp) -> Option<Diagnostic> {
    let entry = |level, source: &str, message: &str, details: Option<String>| Diagnostic {
        level,
        created: now,
        source: source.to_owned(),
        source_date: now,
        message: message.to_owned(),
        details,
    };
    match event {
        BackendEvent::Progress(0) => Some(entry(
            DiagLevel::Debug,
            "image-info",
            "Image copy started.",
            None,
        )),
        BackendEvent::Progress(50) => Some(entry(
            DiagLevel::Debug,
            "image-copy-progress",
            "Image copy 50% done.",
            None,
        )),
        BackendEvent::Progress(100) => Some(entry(
            DiagLevel::Debug,
            "image-info",
            "Image copy finished.",
            Some("All operations finished as they should. No errors reported.".into()),
        )),
        BackendEvent::Progress(_) => None,
        BackendEvent::BuildSucceeded => Some(entry(
            DiagLevel::Debug,
            "image-info",
            "Image customization finished successfully.",
            None,
        )),
        BackendEvent::Failed { task, message } => {
            let (source, headline) = match task {
                T::Build => ("image-error", "Image deployment failed.".to_owned()),
                other => ("compute-backend", {
                    let mut what = other.to_string();
                    if let Some(first) = what.get_mut(..1) {
                        first.make_ascii_uppercase();
                    }
                    format!("{what} failed.")
                }),
            };
            Some(entry(
                DiagLevel::Error,
                source,
                &headline,
                Some(message.clone()),
            ))
        }
        BackendEvent::Crashed { message } => Some(entry(
            DiagLevel::Error,
            "compute-backend",
            "The virtual machine stopped unexpectedly.",
            Some(message.clone()),
        )),
        BackendEvent::Vanished => Some(entry(
            DiagLevel::Warning,
            "compute-backend",
            "The compute backend no longer knows this server.",
            Some("It was most likely lost when the backend restarted.".into()),
        )),
        BackendEvent::Note {
            level,
            source,
            message,
            details,
        } => Some(entry(*level, source, message, details.clone())),
        BackendEvent::Started
        | BackendEvent::Stopped
        | BackendEvent::Rebooted
        | BackendEvent::Destroyed => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn st(status: ServerStatus, task: Option<Task>, progress: u8) -> ServerState {
        ServerState {
            status,
            task,
            progress,
        }
    }

    const ACTIVE: ServerState = ServerState {
        status: S::Active,
        task: None,
        progress: 100,
    };
    const STOPPED: ServerState = ServerState {
        status: S::Stopped,
        task: None,
        progress: 100,
    };

    fn failed(task: Task) -> BackendEvent {
        BackendEvent::Failed {
            task,
            message: "boom".into(),
        }
    }

    /// Applies the events in order.
    fn run(mut s: ServerState, events: &[BackendEvent]) -> ServerState {
        for e in events {
            s = apply(&s, e);
        }
        s
    }

    fn refused(s: &ServerState, a: UserAction) -> ActionRefused {
        match request(s, a) {
            Err(r) => r,
            Ok(ok) => panic!("{a:?} from {s:?} was allowed: {ok:?}"),
        }
    }

    #[test]
    fn statuses_and_reboot_types_parse() {
        for s in ServerStatus::ALL {
            assert_eq!(s.as_str().parse::<ServerStatus>(), Ok(s));
        }
        assert_eq!("active".parse::<ServerStatus>(), Ok(S::Active));
        let e = "RUNNING".parse::<ServerStatus>().unwrap_err();
        assert!(e.contains("'RUNNING'") && e.contains("ACTIVE"), "{e}");
        assert_eq!("soft".parse::<RebootKind>(), Ok(Soft));
        assert_eq!("HARD".parse::<RebootKind>(), Ok(Hard));
        assert_eq!("Hard".parse::<RebootKind>(), Ok(Hard));
        assert_eq!(
            "warm".parse::<RebootKind>(),
            Err("invalid reboot type 'warm': expected SOFT or HARD".into())
        );
        for l in DiagLevel::ALL {
            assert_eq!(l.as_str().parse::<DiagLevel>(), Ok(l));
        }
    }

    #[test]
    fn a_build_runs_to_active() {
        let s = run(
            ServerState::building(),
            &[
                BackendEvent::Progress(0),
                BackendEvent::Progress(40),
                BackendEvent::Progress(100),
            ],
        );
        assert_eq!(s, st(S::Build, Some(T::Build), 100));
        assert_eq!(apply(&s, &BackendEvent::BuildSucceeded), ACTIVE);
    }

    #[test]
    fn progress_never_goes_back_and_is_capped() {
        let s = st(S::Build, Some(T::Build), 40);
        assert_eq!(apply(&s, &BackendEvent::Progress(20)).progress, 40);
        assert_eq!(apply(&s, &BackendEvent::Progress(250)).progress, 100);
    }

    #[test]
    fn progress_outside_build_is_stale() {
        assert_eq!(apply(&ACTIVE, &BackendEvent::Progress(10)), ACTIVE);
        let err = st(S::Error, None, 30);
        assert_eq!(apply(&err, &BackendEvent::Progress(60)), err);
    }

    #[test]
    fn a_failed_build_is_error_and_keeps_its_progress() {
        let s = run(
            ServerState::building(),
            &[BackendEvent::Progress(45), failed(T::Build)],
        );
        assert_eq!(s, st(S::Error, None, 45));
        // A late success report for it is stale.
        assert_eq!(apply(&s, &BackendEvent::BuildSucceeded), s);
    }

    #[test]
    fn shutdown_shows_active_until_stopped() {
        let (s, cmd) = request(&ACTIVE, A::Shutdown).unwrap();
        assert_eq!(cmd, Some(T::Shutdown));
        assert_eq!(s, st(S::Active, Some(T::Shutdown), 100));
        assert_eq!(apply(&s, &BackendEvent::Stopped), STOPPED);
    }

    #[test]
    fn start_shows_stopped_until_started() {
        let (s, cmd) = request(&STOPPED, A::Start).unwrap();
        assert_eq!(cmd, Some(T::Start));
        assert_eq!(s, st(S::Stopped, Some(T::Start), 100));
        assert_eq!(apply(&s, &BackendEvent::Started), ACTIVE);
    }

    #[test]
    fn reboot_shows_reboot_until_rebooted() {
        for kind in [Soft, Hard] {
            let (s, cmd) = request(&ACTIVE, A::Reboot(kind)).unwrap();
            assert_eq!(cmd, Some(T::Reboot(kind)));
            assert_eq!(s, st(S::Reboot, Some(T::Reboot(kind)), 100));
            assert_eq!(apply(&s, &BackendEvent::Rebooted), ACTIVE);
        }
    }

    #[test]
    fn failed_operations_return_to_the_stable_status() {
        let shutting = request(&ACTIVE, A::Shutdown).unwrap().0;
        assert_eq!(apply(&shutting, &failed(T::Shutdown)), ACTIVE);
        let starting = request(&STOPPED, A::Start).unwrap().0;
        assert_eq!(apply(&starting, &failed(T::Start)), STOPPED);
        let rebooting = request(&ACTIVE, A::Reboot(Hard)).unwrap().0;
        assert_eq!(apply(&rebooting, &failed(T::Reboot(Hard))), ACTIVE);
        // Either kind ends a reboot.
        assert_eq!(apply(&rebooting, &failed(T::Reboot(Soft))), ACTIVE);
    }

    #[test]
    fn a_failure_counts_only_for_the_task_in_flight() {
        let deleting = st(S::Active, Some(T::Destroy), 100);
        assert_eq!(apply(&deleting, &failed(T::Shutdown)), deleting);
        assert_eq!(apply(&STOPPED, &failed(T::Shutdown)), STOPPED);
        // No delete was asked for: a report that one failed changes nothing.
        let building = ServerState::building();
        assert_eq!(apply(&building, &failed(T::Destroy)), building);
        // A build superseded by a delete: the delete decides.
        let superseded = st(S::Build, Some(T::Destroy), 40);
        assert_eq!(apply(&superseded, &failed(T::Build)), superseded);
        let superseded = st(S::Reboot, Some(T::Destroy), 100);
        assert_eq!(apply(&superseded, &failed(T::Reboot(Soft))), superseded);
    }

    #[test]
    fn the_guest_may_power_itself_off() {
        assert_eq!(apply(&ACTIVE, &BackendEvent::Stopped), STOPPED);
        let rebooting = st(S::Reboot, Some(T::Reboot(Soft)), 100);
        assert_eq!(apply(&rebooting, &BackendEvent::Stopped), STOPPED);
    }

    #[test]
    fn crashes_are_error_but_not_for_a_stopped_server() {
        let crash = BackendEvent::Crashed {
            message: "qemu exited with signal 9".into(),
        };
        assert_eq!(apply(&ACTIVE, &crash), st(S::Error, None, 100));
        let shutting = st(S::Active, Some(T::Shutdown), 100);
        assert_eq!(apply(&shutting, &crash), st(S::Error, None, 100));
        assert_eq!(
            apply(&ServerState::building(), &crash),
            st(S::Error, None, 0)
        );
        assert_eq!(apply(&STOPPED, &crash), STOPPED);
    }

    #[test]
    fn vanished_is_never_active() {
        let v = BackendEvent::Vanished;
        assert_eq!(apply(&STOPPED, &v), STOPPED);
        assert_eq!(apply(&st(S::Stopped, Some(T::Start), 100), &v), STOPPED);
        assert_eq!(apply(&ACTIVE, &v), st(S::Error, None, 100));
        assert_eq!(
            apply(&st(S::Reboot, Some(T::Reboot(Hard)), 100), &v),
            st(S::Error, None, 100)
        );
        assert_eq!(
            apply(&st(S::Build, Some(T::Build), 30), &v),
            st(S::Error, None, 30)
        );
    }

    #[test]
    fn vanished_while_deleting_is_deleted() {
        let deleting = st(S::Active, Some(T::Destroy), 100);
        assert_eq!(
            apply(&deleting, &BackendEvent::Vanished),
            st(S::Deleted, None, 100)
        );
    }

    #[test]
    fn delete_works_from_every_status_but_deleted_and_supersedes() {
        let states = [
            ServerState::building(),
            ACTIVE,
            STOPPED,
            st(S::Reboot, Some(T::Reboot(Soft)), 100),
            st(S::Active, Some(T::Shutdown), 100),
            st(S::Error, None, 20),
            st(S::Unknown, None, 0),
            st(S::Stopped, Some(T::Destroy), 100),
        ];
        for s in states {
            let (next, cmd) = request(&s, A::Delete).unwrap();
            assert_eq!(cmd, Some(T::Destroy), "{s:?}");
            assert_eq!(next, st(s.status, Some(T::Destroy), s.progress));
            assert_eq!(
                apply(&next, &BackendEvent::Destroyed),
                st(S::Deleted, None, s.progress)
            );
        }
        let deleted = st(S::Deleted, None, 100);
        let r = refused(&deleted, A::Delete);
        assert_eq!(r.fault, RefusalKind::Conflict);
        assert!(r.message.contains("DELETED"), "{}", r.message);
    }

    #[test]
    fn a_deleted_build_reports_its_progress_until_destroyed() {
        let (s, _) = request(&ServerState::building(), A::Delete).unwrap();
        let s = apply(&s, &BackendEvent::Progress(30));
        assert_eq!(s, st(S::Build, Some(T::Destroy), 30));
        // The build may even finish before the delete does: still being deleted.
        let s = apply(&s, &BackendEvent::BuildSucceeded);
        assert_eq!(s, st(S::Active, Some(T::Destroy), 100));
    }

    #[test]
    fn a_failed_delete() {
        let deleting = st(S::Stopped, Some(T::Destroy), 100);
        assert_eq!(apply(&deleting, &failed(T::Destroy)), STOPPED);
        let building = st(S::Build, Some(T::Destroy), 60);
        assert_eq!(
            apply(&building, &failed(T::Destroy)),
            st(S::Error, None, 60)
        );
        let rebooting = st(S::Reboot, Some(T::Destroy), 100);
        assert_eq!(
            apply(&rebooting, &failed(T::Destroy)),
            st(S::Error, None, 100)
        );
    }

    #[test]
    fn deleted_ignores_every_event() {
        let deleted = st(S::Deleted, None, 100);
        for e in [
            BackendEvent::Started,
            BackendEvent::Stopped,
            BackendEvent::Rebooted,
            BackendEvent::BuildSucceeded,
            BackendEvent::Progress(3),
            BackendEvent::Vanished,
            BackendEvent::Destroyed,
            failed(T::Destroy),
        ] {
            assert_eq!(apply(&deleted, &e), deleted, "{e:?}");
        }
    }

    #[test]
    fn everything_but_delete_waits_for_the_build() {
        let s = st(S::Build, Some(T::Build), 35);
        for a in UserAction::ALL {
            if a == A::Delete {
                continue;
            }
            let r = refused(&s, a);
            assert_eq!(r.fault, RefusalKind::BuildInProgress, "{a:?}");
            assert_eq!(
                r.message,
                "server is BUILD: wait until it is ACTIVE (build 35% done)"
            );
        }
    }

    #[test]
    fn one_task_at_a_time() {
        let shutting = st(S::Active, Some(T::Shutdown), 100);
        let r = refused(&shutting, A::Reboot(Soft));
        assert_eq!(r.fault, RefusalKind::Conflict);
        assert_eq!(
            r.message,
            "server is ACTIVE: a shutdown is in progress; wait until it completes"
        );
        assert_eq!(
            refused(&shutting, A::Console).message,
            "server is ACTIVE: a shutdown is in progress; wait until it completes"
        );
        let starting = st(S::Stopped, Some(T::Start), 100);
        assert!(request(&starting, A::Start).is_err());
        assert!(request(&starting, A::SetFirewall).is_err());
        let deleting = st(S::Active, Some(T::Destroy), 100);
        assert_eq!(
            refused(&deleting, A::Shutdown).message,
            "server is ACTIVE: it is being deleted"
        );
    }

    #[test]
    fn refusals_say_what_would_work() {
        assert_eq!(
            refused(&ACTIVE, A::Start).message,
            "server is ACTIVE: it is already running"
        );
        assert_eq!(
            refused(&STOPPED, A::Shutdown).message,
            "server is STOPPED: it is already shut down"
        );
        assert_eq!(
            refused(&STOPPED, A::Reboot(Hard)).message,
            "server is STOPPED: reboot needs an ACTIVE server; start it first"
        );
        assert_eq!(
            refused(&STOPPED, A::Console).message,
            "server is STOPPED: console needs an ACTIVE server; start it first"
        );
        assert_eq!(
            refused(&st(S::Error, None, 100), A::SetFirewall).message,
            "server is ERROR: firewallProfile needs ACTIVE or STOPPED"
        );
        assert_eq!(
            refused(&st(S::Unknown, None, 0), A::Shutdown).message,
            "server is UNKNOWN: shutdown needs ACTIVE"
        );
    }

    #[test]
    fn console_and_firewall_change_nothing() {
        assert_eq!(request(&ACTIVE, A::Console), Ok((ACTIVE, None)));
        assert_eq!(request(&ACTIVE, A::SetFirewall), Ok((ACTIVE, None)));
        assert_eq!(request(&STOPPED, A::SetFirewall), Ok((STOPPED, None)));
    }

    #[test]
    fn start_from_error_only_for_a_built_server() {
        let crashed = st(S::Error, None, 100);
        let (s, cmd) = request(&crashed, A::Start).unwrap();
        assert_eq!(
            (s, cmd),
            (st(S::Error, Some(T::Start), 100), Some(T::Start))
        );
        assert_eq!(apply(&s, &BackendEvent::Started), ACTIVE);
        assert_eq!(apply(&s, &failed(T::Start)), crashed);

        let failed_build = st(S::Error, None, 45);
        for a in UserAction::ALL {
            if a == A::Delete {
                continue;
            }
            assert_eq!(
                refused(&failed_build, a).message,
                "server is ERROR: its build failed; delete it and create a new one"
            );
        }
    }

    #[test]
    fn unknown_takes_what_the_backend_says() {
        let unknown = st(S::Unknown, None, 0);
        assert_eq!(apply(&unknown, &BackendEvent::Started), ACTIVE);
        assert_eq!(apply(&unknown, &BackendEvent::Stopped), STOPPED);
        assert_eq!(apply(&unknown, &BackendEvent::Progress(50)), unknown);
    }

    #[test]
    fn diagnostics_follow_the_seed() {
        let now = chrono::DateTime::parse_from_rfc3339("2013-04-18T10:09:52Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let d = diagnostic_for(&BackendEvent::BuildSucceeded, now).unwrap();
        assert_eq!(
            d,
            Diagnostic {
                level: DiagLevel::Debug,
                created: now,
                source: "image-info".into(),
                source_date: now,
                message: "Image customization finished successfully.".into(),
                details: None,
            }
        );
        let d = diagnostic_for(&BackendEvent::Progress(100), now).unwrap();
        assert_eq!(d.message, "Image copy finished.");
        for p in PROGRESS_MILESTONES {
            assert!(diagnostic_for(&BackendEvent::Progress(p), now).is_some());
        }
        assert_eq!(diagnostic_for(&BackendEvent::Progress(35), now), None);

        let d = diagnostic_for(&failed(T::Reboot(Hard)), now).unwrap();
        assert_eq!(
            (d.level, d.message.as_str(), d.details.as_deref()),
            (DiagLevel::Error, "Hard reboot failed.", Some("boom"))
        );
        let d = diagnostic_for(&failed(T::Build), now).unwrap();
        assert_eq!(d.source, "image-error");
        let d = diagnostic_for(
            &BackendEvent::Crashed {
                message: "signal 9".into(),
            },
            now,
        )
        .unwrap();
        assert_eq!(d.level, DiagLevel::Error);
        assert_eq!(
            diagnostic_for(&BackendEvent::Vanished, now).map(|d| d.level),
            Some(DiagLevel::Warning)
        );
        assert_eq!(diagnostic_for(&BackendEvent::Started, now), None);
    }

    #[test]
    fn the_tables_are_functions() {
        for (i, &(f, a, _)) in ACTIONS.iter().enumerate() {
            assert!(
                !ACTIONS[i + 1..]
                    .iter()
                    .any(|&(f2, a2, _)| f2 == f && a2 == a),
                "two rows for ({f}, {a:?})"
            );
        }
        for (i, &(f, e, _)) in EVENTS.iter().enumerate() {
            assert!(
                !EVENTS[i + 1..]
                    .iter()
                    .any(|&(f2, e2, _)| f2 == f && e2 == e),
                "two rows for ({f}, {e:?})"
            );
        }
    }

    #[test]
    fn every_task_an_action_records_fits_its_status() {
        for &(_, a, shows) in ACTIONS {
            if let Some(t) = a.task() {
                assert!(CARRIES.contains(&(shows, Some(t))), "{a:?} shows {shows}");
            }
        }
    }

    #[test]
    fn deleted_is_a_dead_end_in_the_tables() {
        assert!(!ACTIONS.iter().any(|&(f, _, _)| f == S::Deleted));
        assert!(!EVENTS.iter().any(|&(f, _, _)| f == S::Deleted));
        assert!(
            EVENTS
                .iter()
                .all(|&(_, e, to)| (to == S::Deleted) == (e == EventKind::Destroyed))
        );
    }

    #[derive(Debug, Clone)]
    enum Step {
        Do(UserAction),
        Report(BackendEvent),
    }

    #[test]
    fn a_note_changes_nothing_but_is_a_diagnostics_entry() {
        let note = BackendEvent::Note {
            level: DiagLevel::Warning,
            source: "qemu".into(),
            message: "QEMU: something".into(),
            details: Some("more".into()),
        };
        for s in [ACTIVE, STOPPED, st(S::Build, Some(T::Build), 40)] {
            assert_eq!(apply(&s, &note), s);
        }
        assert!(!note.concludes(T::Shutdown));
        let d = diagnostic_for(&note, crate::domain::time::now()).unwrap();
        assert_eq!((d.level, d.source.as_str()), (DiagLevel::Warning, "qemu"));
        assert_eq!(d.details.as_deref(), Some("more"));
    }

    fn events() -> impl Strategy<Value = BackendEvent> {
        prop_oneof![
            (0u8..=120).prop_map(BackendEvent::Progress),
            Just(BackendEvent::BuildSucceeded),
            Just(BackendEvent::Started),
            Just(BackendEvent::Stopped),
            Just(BackendEvent::Rebooted),
            Just(BackendEvent::Destroyed),
            prop::sample::select(Task::ALL.to_vec()).prop_map(failed),
            Just(BackendEvent::Crashed {
                message: "died".into()
            }),
            Just(BackendEvent::Vanished),
            Just(BackendEvent::Note {
                level: DiagLevel::Info,
                source: "compute-backend".into(),
                message: "QEMU started.".into(),
                details: None,
            }),
        ]
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let step = prop_oneof![
            prop::sample::select(UserAction::ALL.to_vec()).prop_map(Step::Do),
            events().prop_map(Step::Report),
        ];
        prop::collection::vec(step, 0..60)
    }

    /// Every state reachable from a new server, by a random walk.
    fn reachable() -> impl Strategy<Value = ServerState> {
        steps().prop_map(|steps| {
            let mut s = ServerState::building();
            for step in steps {
                s = match step {
                    Step::Do(a) => request(&s, a).map_or(s, |(next, _)| next),
                    Step::Report(e) => apply(&s, &e),
                };
            }
            s
        })
    }

    proptest! {
        #[test]
        fn no_sequence_reaches_an_invalid_state(steps in steps()) {
            let mut s = ServerState::building();
            prop_assert!(s.is_valid());
            for step in steps {
                let before = s;
                match &step {
                    &Step::Do(a) => match request(&s, a) {
                        Ok((next, cmd)) => {
                            prop_assert!(
                                ACTIONS.contains(&(before.status, a, next.status)),
                                "{before:?} --{a:?}--> {next:?}"
                            );
                            prop_assert_eq!(cmd, a.task());
                            if cmd.is_some() {
                                prop_assert_eq!(next.task, cmd);
                            } else {
                                prop_assert_eq!(next, before);
                            }
                            s = next;
                        }
                        Err(r) => {
                            prop_assert!(r.message.contains(before.status.as_str()), "{}", r.message);
                            let building = before.status == S::Build && before.task == Some(T::Build);
                            prop_assert_eq!(r.fault == RefusalKind::BuildInProgress, building);
                        }
                    },
                    Step::Report(e) => {
                        s = apply(&s, e);
                        if s != before {
                            let kind = if *e == BackendEvent::Vanished && before.task == Some(T::Destroy) {
                                EventKind::Destroyed
                            } else {
                                e.kind()
                            };
                            prop_assert!(
                                EVENTS.contains(&(before.status, kind, s.status)),
                                "{before:?} --{e:?}--> {s:?}"
                            );
                        }
                        if before.status == S::Build && s.status == S::Build {
                            prop_assert!(s.progress >= before.progress);
                        }
                    }
                }
                prop_assert!(s.is_valid(), "{before:?} --{step:?}--> {s:?}");
            }
        }

        #[test]
        fn deleted_is_terminal(s in reachable(), more in steps()) {
            let Ok((deleting, _)) = request(&s, A::Delete) else {
                prop_assert_eq!(s.status, S::Deleted);
                return Ok(());
            };
            let mut s = apply(&deleting, &BackendEvent::Destroyed);
            prop_assert_eq!(s.status, S::Deleted);
            let gone = s;
            for step in more {
                match step {
                    Step::Do(a) => prop_assert!(request(&s, a).is_err()),
                    Step::Report(e) => s = apply(&s, &e),
                }
                prop_assert_eq!(s, gone);
            }
        }

        #[test]
        fn console_and_firewall_never_issue_a_task(
            s in reachable(),
            a in prop::sample::select(vec![A::Console, A::SetFirewall]),
        ) {
            if let Ok((next, cmd)) = request(&s, a) {
                prop_assert_eq!(cmd, None);
                prop_assert_eq!(next, s);
            }
        }

        #[test]
        fn delete_is_allowed_until_deleted(s in reachable()) {
            match request(&s, A::Delete) {
                Ok((next, cmd)) => {
                    prop_assert_ne!(s.status, S::Deleted);
                    prop_assert_eq!(cmd, Some(T::Destroy));
                    prop_assert_eq!(next.task, Some(T::Destroy));
                    prop_assert_eq!(next.status, s.status);
                }
                Err(_) => prop_assert_eq!(s.status, S::Deleted),
            }
        }

        #[test]
        fn an_action_while_a_task_runs_is_refused(
            s in reachable(),
            a in prop::sample::select(UserAction::ALL.to_vec()),
        ) {
            if s.task.is_some() && a != A::Delete {
                prop_assert!(request(&s, a).is_err());
            }
        }

        #[test]
        fn built_statuses_have_full_progress(s in reachable()) {
            if matches!(s.status, S::Active | S::Stopped | S::Reboot) {
                prop_assert_eq!(s.progress, 100);
            }
        }
    }
}
