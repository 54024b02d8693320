//! A small typed QMP client: the commands and events the QEMU driver uses, over QEMU's
//! line-delimited JSON on a unix socket.
//!
//! Hand-written rather than the `qapi` crate: that crate binds the whole QMP schema of the
//! QEMU release it was generated from (thousands of generated types for a driver that needs
//! a dozen commands and six events), and a typed event it does not know fails to parse; here
//! every event QEMU sends is read, the ones the driver acts on are typed, the rest are kept
//! by name. The protocol part is small: a greeting, `qmp_capabilities`, then commands whose
//! answers come back in order, interleaved with events.
//!
//! One task owns the socket: it writes commands, matches each `return`/`error` line to the
//! oldest command waiting, and forwards events on a broadcast channel. When QEMU closes the
//! socket (it exits) every waiting command fails and the event channel closes, which is how
//! the driver learns that the process is going away.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{broadcast, mpsc, oneshot};

/// A command, as QMP spells it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "execute", content = "arguments")]
pub enum Command {
    #[serde(rename = "qmp_capabilities")]
    Capabilities,
    #[serde(rename = "system_powerdown")]
    SystemPowerdown,
    #[serde(rename = "system_reset")]
    SystemReset,
    #[serde(rename = "cont")]
    Cont,
    #[serde(rename = "stop")]
    Stop,
    #[serde(rename = "quit")]
    Quit,
    #[serde(rename = "query-status")]
    QueryStatus,
    /// Each block backend's I/O counters since QEMU started ([`Qmp::block_bytes`]).
    #[serde(rename = "query-blockstats")]
    QueryBlockstats,
    #[serde(rename = "screendump")]
    Screendump { filename: String, format: String },
    /// A datagram netdev between two unix sockets (what `-netdev dgram` makes at boot).
    #[serde(rename = "netdev_add")]
    NetdevAdd {
        #[serde(rename = "type")]
        kind: String,
        id: String,
        local: UnixAddress,
        remote: UnixAddress,
    },
    #[serde(rename = "netdev_del")]
    NetdevDel { id: String },
    /// A NIC on `netdev`; `romfile: ""` as at boot (no iPXE).
    #[serde(rename = "device_add")]
    DeviceAdd {
        driver: String,
        id: String,
        netdev: String,
        mac: String,
        romfile: String,
    },
    /// Asks the guest to release a device; `DEVICE_DELETED` says it is gone.
    #[serde(rename = "device_del")]
    DeviceDel { id: String },
    #[serde(rename = "qom-get")]
    QomGet { path: String, property: String },
}

/// A unix socket address, as QMP's `SocketAddress` spells one.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UnixAddress {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub path: String,
}

impl UnixAddress {
    pub fn new(path: &Path) -> UnixAddress {
        UnixAddress {
            kind: "unix",
            path: path.display().to_string(),
        }
    }
}

/// An event the driver acts on; any other is kept by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The VM stopped running for good (QEMU exits after it unless `-no-shutdown`):
    /// `guest` when the guest did it (ACPI power-off), with QEMU's reason.
    Shutdown {
        guest: bool,
        reason: String,
    },
    /// `system_powerdown` reached the guest as an ACPI power-button press.
    Powerdown,
    Reset {
        guest: bool,
    },
    Stop,
    Resume,
    /// A device is gone (after `device_del`, once the guest released it): its id.
    DeviceDeleted {
        device: Option<String>,
    },
    Other(String),
}

#[derive(Deserialize)]
struct RawEvent {
    event: String,
    #[serde(default)]
    data: Value,
}

impl Event {
    fn from_raw(raw: RawEvent) -> Event {
        let guest = raw
            .data
            .get("guest")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        match raw.event.as_str() {
            "SHUTDOWN" => Event::Shutdown {
                guest,
                reason: raw
                    .data
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_owned(),
            },
            "POWERDOWN" => Event::Powerdown,
            "RESET" => Event::Reset { guest },
            "STOP" => Event::Stop,
            "RESUME" => Event::Resume,
            "DEVICE_DELETED" => Event::DeviceDeleted {
                device: raw
                    .data
                    .get("device")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            },
            _ => Event::Other(raw.event),
        }
    }
}

/// One line QEMU sends after the greeting.
#[derive(Debug, PartialEq)]
enum Line {
    Return(Value),
    Error(String),
    Event(Event),
}

fn parse_line(line: &str) -> Result<Line, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("bad QMP line: {e}"))?;
    if let Some(r) = v.get("return") {
        return Ok(Line::Return(r.clone()));
    }
    if let Some(e) = v.get("error") {
        let class = e.get("class").and_then(Value::as_str).unwrap_or("Error");
        let desc = e.get("desc").and_then(Value::as_str).unwrap_or("");
        return Ok(Line::Error(format!("{class}: {desc}")));
    }
    if v.get("event").is_some() {
        let raw: RawEvent = serde_json::from_value(v).map_err(|e| format!("bad event: {e}"))?;
        return Ok(Line::Event(Event::from_raw(raw)));
    }
    Err(format!("unexpected QMP line: {line}"))
}

/// Why a command did not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QmpError {
    #[error("QMP: {0}")]
    Refused(String),
    #[error("QMP connection closed")]
    Closed,
    #[error("QMP: no answer within {0:?}")]
    Timeout(Duration),
    #[error("QMP: {0}")]
    Io(String),
}

type Pending = oneshot::Sender<Result<Value, QmpError>>;

/// A connected, negotiated QMP monitor. Cheap to clone; the socket closes when the last
/// clone is dropped or QEMU exits.
#[derive(Clone)]
pub struct Qmp {
    commands: mpsc::UnboundedSender<(Command, Pending)>,
    events: broadcast::Sender<Event>,
}

/// No single command may take longer (the slowest, `system_reset`, takes a few ms).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

impl Qmp {
    /// Connects to `path`, reads the greeting and negotiates capabilities.
    pub async fn connect(path: &Path) -> Result<Qmp, QmpError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|e| QmpError::Io(format!("connect {}: {e}", path.display())))?;
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let greeting = tokio::time::timeout(COMMAND_TIMEOUT, lines.next_line())
            .await
            .map_err(|_| QmpError::Timeout(COMMAND_TIMEOUT))?
            .map_err(|e| QmpError::Io(e.to_string()))?
            .ok_or(QmpError::Closed)?;
        if !greeting.contains("\"QMP\"") {
            return Err(QmpError::Io(format!("not a QMP greeting: {greeting}")));
        }
        let (commands, mut queue) = mpsc::unbounded_channel::<(Command, Pending)>();
        let (events, _) = broadcast::channel(64);
        let tx_events = events.clone();
        tokio::spawn(async move {
            let mut waiting: VecDeque<Pending> = VecDeque::new();
            loop {
                tokio::select! {
                    cmd = queue.recv() => {
                        let Some((cmd, reply)) = cmd else { break };
                        let mut text = match serde_json::to_string(&cmd) {
                            Ok(t) => t,
                            Err(e) => {
                                let _ = reply.send(Err(QmpError::Io(e.to_string())));
                                continue;
                            }
                        };
                        text.push('\n');
                        if let Err(e) = write.write_all(text.as_bytes()).await {
                            let _ = reply.send(Err(QmpError::Io(e.to_string())));
                            break;
                        }
                        waiting.push_back(reply);
                    }
                    line = lines.next_line() => {
                        let Ok(Some(line)) = line else { break };
                        match parse_line(&line) {
                            Ok(Line::Event(ev)) => {
                                tracing::debug!(?ev, "QMP event");
                                // Nobody listening is fine: events are advisory to waiters.
                                let _ = tx_events.send(ev);
                            }
                            Ok(Line::Return(v)) => {
                                if let Some(w) = waiting.pop_front() {
                                    let _ = w.send(Ok(v));
                                }
                            }
                            Ok(Line::Error(e)) => {
                                if let Some(w) = waiting.pop_front() {
                                    let _ = w.send(Err(QmpError::Refused(e)));
                                }
                            }
                            Err(e) => tracing::warn!("{e}"),
                        }
                    }
                }
            }
            for w in waiting {
                let _ = w.send(Err(QmpError::Closed));
            }
            // Dropping `tx_events` (the last sender once every `Qmp` is gone or was never
            // cloned) closes the event channel; the `Qmp` clones keep theirs, so the monitor
            // also reports the end explicitly.
            let _ = tx_events.send(Event::Other(CLOSED.into()));
        });
        let qmp = Qmp { commands, events };
        qmp.execute(Command::Capabilities).await?;
        Ok(qmp)
    }

    /// Sends a command and waits for its answer.
    pub async fn execute(&self, cmd: Command) -> Result<Value, QmpError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send((cmd, tx))
            .map_err(|_| QmpError::Closed)?;
        match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(QmpError::Closed),
            Err(_) => Err(QmpError::Timeout(COMMAND_TIMEOUT)),
        }
    }

    /// Every event from now on; after the socket closed, [`Event::Other`] with
    /// [`CLOSED`] comes last.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// QEMU's run state (`running`, `paused`, `shutdown`, …).
    pub async fn status(&self) -> Result<String, QmpError> {
        let v = self.execute(Command::QueryStatus).await?;
        Ok(v.get("status")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned())
    }

    /// Bytes the guest has read from and written to all its disks since QEMU started:
    /// cumulative counters (`query-blockstats`), `(read, written)`; the sampler makes a
    /// rate of two of them.
    pub async fn block_bytes(&self) -> Result<(u64, u64), QmpError> {
        block_totals(self.execute(Command::QueryBlockstats).await?)
    }
}

/// One entry of `query-blockstats`' answer (one per block backend: the server's disk, its
/// config drive), as far as the driver reads it. Its `parent` (the image's file node) and
/// `backing` (the backing image's) count the same guest I/O again, a layer further down,
/// and are not read.
#[derive(Deserialize)]
struct BlockStats {
    /// Required by QEMU's schema; an entry without it counts for nothing rather than
    /// failing the whole answer.
    stats: Option<BlockCounters>,
}

#[derive(Deserialize)]
struct BlockCounters {
    rd_bytes: u64,
    wr_bytes: u64,
}

/// `(read, written)` bytes over every device of a `query-blockstats` answer.
fn block_totals(answer: Value) -> Result<(u64, u64), QmpError> {
    let devices: Vec<BlockStats> = serde_json::from_value(answer)
        .map_err(|e| QmpError::Io(format!("unexpected query-blockstats answer: {e}")))?;
    Ok(devices
        .iter()
        .filter_map(|d| d.stats.as_ref())
        .fold((0u64, 0u64), |(rd, wr), s| {
            (rd.saturating_add(s.rd_bytes), wr.saturating_add(s.wr_bytes))
        }))
}

/// The pseudo-event that says the monitor's socket closed.
pub const CLOSED: &str = "cyclades:qmp-closed";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_are_spelled_as_qmp_wants() {
        let s = |c: Command| serde_json::to_value(c).unwrap();
        assert_eq!(
            s(Command::Capabilities),
            json!({"execute": "qmp_capabilities"})
        );
        assert_eq!(
            s(Command::SystemPowerdown),
            json!({"execute": "system_powerdown"})
        );
        assert_eq!(s(Command::QueryStatus), json!({"execute": "query-status"}));
        assert_eq!(
            s(Command::QueryBlockstats),
            json!({"execute": "query-blockstats"})
        );
        assert_eq!(
            s(Command::Screendump {
                filename: "/tmp/x.png".into(),
                format: "png".into()
            }),
            json!({"execute": "screendump", "arguments": {"filename": "/tmp/x.png", "format": "png"}})
        );
        assert_eq!(
            s(Command::NetdevAdd {
                kind: "dgram".into(),
                id: "net1".into(),
                local: UnixAddress::new(Path::new("/d/a.vm")),
                remote: UnixAddress::new(Path::new("/d/a.gw")),
            }),
            json!({"execute": "netdev_add", "arguments": {"type": "dgram", "id": "net1",
                "local": {"type": "unix", "path": "/d/a.vm"},
                "remote": {"type": "unix", "path": "/d/a.gw"}}})
        );
        assert_eq!(
            s(Command::DeviceAdd {
                driver: "virtio-net-pci".into(),
                id: "nic1".into(),
                netdev: "net1".into(),
                mac: "aa:00:00:00:00:01".into(),
                romfile: String::new()
            }),
            json!({"execute": "device_add", "arguments": {"driver": "virtio-net-pci", "id": "nic1",
                "netdev": "net1", "mac": "aa:00:00:00:00:01", "romfile": ""}})
        );
        assert_eq!(
            s(Command::DeviceDel { id: "nic1".into() }),
            json!({"execute": "device_del", "arguments": {"id": "nic1"}})
        );
    }

    #[test]
    fn lines_parse_into_answers_and_typed_events() {
        assert_eq!(parse_line(r#"{"return": {}}"#), Ok(Line::Return(json!({}))));
        assert_eq!(
            parse_line(r#"{"error": {"class": "GenericError", "desc": "nope"}}"#),
            Ok(Line::Error("GenericError: nope".into()))
        );
        assert_eq!(
            parse_line(
                r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}}"#
            ),
            Ok(Line::Event(Event::Shutdown {
                guest: true,
                reason: "guest-shutdown".into()
            }))
        );
        assert_eq!(
            parse_line(
                r#"{"event": "RESET", "data": {"guest": false, "reason": "host-qmp-system-reset"}}"#
            ),
            Ok(Line::Event(Event::Reset { guest: false }))
        );
        assert_eq!(
            parse_line(r#"{"event": "POWERDOWN"}"#),
            Ok(Line::Event(Event::Powerdown))
        );
        assert_eq!(
            parse_line(
                r#"{"event": "DEVICE_DELETED", "data": {"device": "nic1", "path": "/machine/peripheral/nic1"}}"#
            ),
            Ok(Line::Event(Event::DeviceDeleted {
                device: Some("nic1".into())
            }))
        );
        assert_eq!(
            parse_line(r#"{"event": "VNC_CONNECTED", "data": {}}"#),
            Ok(Line::Event(Event::Other("VNC_CONNECTED".into())))
        );
        assert!(parse_line("not json").is_err());
        assert!(parse_line(r#"{"what": 1}"#).is_err());
    }

    /// The shape QEMU 10 answers for a qcow2 overlay (with its backing image) and a raw
    /// config drive, as the driver attaches them; most counters trimmed.
    const BLOCKSTATS: &str = r##"{"return": [
        {"device": "virtio0", "node-name": "#block141",
         "qdev": "/machine/peripheral-anon/device[0]/virtio-backend",
         "stats": {"rd_bytes": 18350592, "wr_bytes": 4198400, "rd_operations": 1207,
                   "wr_operations": 311, "account_invalid": true, "timed_stats": [],
                   "idle_time_ns": 619848389},
         "parent": {"node-name": "#block049",
                    "stats": {"rd_bytes": 18350592, "wr_bytes": 4263936, "timed_stats": []},
                    "driver-specific": {"driver": "file", "discard-nb-ok": 0}},
         "backing": {"node-name": "#block312",
                     "stats": {"rd_bytes": 17301504, "wr_bytes": 0, "timed_stats": []}}},
        {"device": "virtio1", "node-name": "#block532",
         "qdev": "/machine/peripheral-anon/device[1]/virtio-backend",
         "stats": {"rd_bytes": 69632, "wr_bytes": 0, "rd_operations": 17,
                   "wr_operations": 0, "timed_stats": []},
         "parent": {"node-name": "#block410",
                    "stats": {"rd_bytes": 69632, "wr_bytes": 0, "timed_stats": []}}}
    ]}"##;

    fn answer(line: &str) -> Value {
        match parse_line(line) {
            Ok(Line::Return(v)) => v,
            other => panic!("not an answer: {other:?}"),
        }
    }

    #[test]
    fn block_bytes_sum_the_devices_and_not_their_lower_layers() {
        assert_eq!(
            block_totals(answer(BLOCKSTATS)),
            Ok((18_350_592 + 69_632, 4_198_400))
        );
        // No disks, and an entry without stats, count nothing.
        assert_eq!(block_totals(json!([])), Ok((0, 0)));
        assert_eq!(
            block_totals(json!([{"device": "", "node-name": "n1"},
                {"device": "virtio0", "stats": {"rd_bytes": 512, "wr_bytes": 7}}])),
            Ok((512, 7))
        );
        assert_eq!(
            block_totals(json!([{"stats": {"rd_bytes": u64::MAX, "wr_bytes": 1}},
                {"stats": {"rd_bytes": 2, "wr_bytes": 1}}])),
            Ok((u64::MAX, 2))
        );
        // Anything else is an error that says what it got, never a panic.
        for bad in [
            json!({}),
            json!([{"stats": {"rd_bytes": -1, "wr_bytes": 0}}]),
            json!([{"stats": {"wr_bytes": 0}}]),
        ] {
            let err = block_totals(bad.clone()).unwrap_err();
            assert!(err.to_string().contains("query-blockstats"), "{bad}: {err}");
        }
    }
}
