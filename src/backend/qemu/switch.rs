//! The QEMU backend's layer-2 switch: one port per NIC, a unix datagram socket whose peer is
//! the NIC's `-netdev dgram` socket in QEMU. A frame a guest sends reaches the ports of its
//! own network only; it never crosses to another network, and a frame whose source MAC is
//! not the NIC's own is dropped (Cyclades' MAC_FILTERED idea: a guest cannot spoof).
//!
//! Learning: since every port's frames carry its NIC's MAC and no other, the port of a MAC
//! is known from the port list itself. A unicast frame goes to the port of its destination
//! MAC when that port is on the sender's network, and is flooded over the network otherwise
//! (unknown unicast), as are broadcast and multicast frames.
//!
//! Bounded: each port has a queue of at most [`QUEUE`] frames towards its guest, written by a
//! task of its own. The kernel holds only a few datagrams for a unix socket (`max_dgram_qlen`,
//! 10 by default), so without the queue a burst (a TCP window) would lose most of its frames;
//! with it, a burst waits for QEMU to read. The writer's socket is connected to the NIC's, so
//! that it waits for room there instead of failing. A queue that is full (a guest that
//! stopped reading) loses the frame, so one guest never stalls the others. Per-port byte
//! counters (atomics) say what each NIC received and sent; the sampler
//! takes them per interval, per NIC ([`Switch::take_counters`]) or per server
//! ([`Switch::take_server_counters`]: each port belongs to the server whose NIC it serves,
//! and to the QEMU process of that server it serves, see [`Owner`]).
//!
//! Hand-written: no maintained crate does a userspace switch between unix datagram sockets.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use tokio::net::UnixDatagram;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A MAC address, as it is in a frame.
pub type Mac = [u8; 6];

/// The largest frame taken from a guest: QEMU's dgram netdev sends one Ethernet frame per
/// datagram, well under 64 KiB; a longer datagram is cut and then dropped as malformed.
const MAX_FRAME: usize = 65536;
/// Destination + source MAC + EtherType.
const HEADER: usize = 14;
/// Frames a port holds for its guest: a few TCP windows of full-size frames (about 380 KiB
/// at 1514 bytes), at most 16 MiB of the largest datagrams.
pub const QUEUE: usize = 256;

/// `aa:bb:cc:dd:ee:ff` (either case), or `None`.
pub fn parse_mac(s: &str) -> Option<Mac> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in out.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}

/// One NIC's byte counters, from the guest's side: what it received, what it sent.
#[derive(Debug, Default)]
struct Counters {
    to_guest: AtomicU64,
    from_guest: AtomicU64,
}

/// Whose a port is: a server, and the QEMU process of it the port serves. The ports of a
/// process go when it ends ([`Switch::unplug_machine`]), and only they: a newer process of
/// the same server has ports of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub server: i64,
    pub pid: i32,
}

struct Port {
    owner: Owner,
    network: String,
    /// Frames for the guest, to the port's writer.
    queue: mpsc::Sender<Bytes>,
    /// The gateway's socket file, removed with the port.
    local: PathBuf,
    counters: Arc<Counters>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Drop for Port {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
        let _ = std::fs::remove_file(&self.local);
    }
}

#[derive(Default)]
struct State {
    ports: HashMap<Mac, Port>,
}

/// The switch of one gateway; clones share it.
#[derive(Clone, Default)]
pub struct Switch {
    state: Arc<Mutex<State>>,
}

/// The state stays usable when a holder panicked: it is a map of ports, valid at every step.
fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Switch {
    pub fn new() -> Switch {
        Switch::default()
    }

    /// Plugs the NIC `mac` of `owner` into `network`: the gateway's socket is bound at
    /// `local` (a stale file there is replaced: after a gateway restart QEMU still sends to
    /// that path) and frames for the guest go to `peer`. A port the MAC already had is
    /// replaced. Must be called inside the tokio runtime.
    pub fn plug(
        &self,
        owner: Owner,
        network: &str,
        mac: Mac,
        local: &Path,
        peer: &Path,
    ) -> io::Result<()> {
        let mut st = lock(&self.state);
        // Dropped first: the old port removes its socket file, which must not be the new one.
        drop(st.ports.remove(&mac));
        match std::fs::remove_file(local) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let sock = Arc::new(UnixDatagram::bind(local)?);
        let counters = Arc::new(Counters::default());
        let (queue, frames) = mpsc::channel(QUEUE);
        let reader = tokio::spawn(run_port(Arc::downgrade(&self.state), mac, sock.clone()));
        let writer = tokio::spawn(write_port(
            sock,
            peer.to_path_buf(),
            Arc::clone(&counters),
            frames,
        ));
        st.ports.insert(
            mac,
            Port {
                owner,
                network: network.to_string(),
                queue,
                local: local.to_path_buf(),
                counters,
                reader,
                writer,
            },
        );
        Ok(())
    }

    /// Unplugs the NIC's port, if it has one.
    pub fn unplug(&self, mac: &Mac) {
        let old = lock(&self.state).ports.remove(mac);
        drop(old);
    }

    /// Unplugs every port of a QEMU process (it has ended).
    pub fn unplug_machine(&self, owner: Owner) {
        lock(&self.state).ports.retain(|_, p| p.owner != owner);
    }

    /// Whether the NIC has a port.
    pub fn has_port(&self, mac: &Mac) -> bool {
        lock(&self.state).ports.contains_key(mac)
    }

    /// The bytes the NIC received and sent since the last call (then zero), or `None` for a
    /// NIC without a port.
    pub fn take_counters(&self, mac: &Mac) -> Option<(u64, u64)> {
        let st = lock(&self.state);
        let c = &st.ports.get(mac)?.counters;
        Some((
            c.to_guest.swap(0, Ordering::Relaxed),
            c.from_guest.swap(0, Ordering::Relaxed),
        ))
    }

    /// The bytes the server's NICs received and sent together since the last take (then
    /// zero); zero for a server without ports.
    pub fn take_server_counters(&self, server: i64) -> (u64, u64) {
        let st = lock(&self.state);
        st.ports
            .values()
            .filter(|p| p.owner.server == server)
            .fold((0, 0), |(rx, tx), p| {
                (
                    rx + p.counters.to_guest.swap(0, Ordering::Relaxed),
                    tx + p.counters.from_guest.swap(0, Ordering::Relaxed),
                )
            })
    }
}

/// Receives the guest's frames until the port is unplugged (the task is aborted) or the
/// switch is gone.
async fn run_port(state: Weak<Mutex<State>>, mac: Mac, sock: Arc<UnixDatagram>) {
    let mut buf = vec![0u8; MAX_FRAME];
    loop {
        let n = match sock.recv(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("switch port {}: receive failed: {e}", hex::encode(mac));
                return;
            }
        };
        let Some(state) = state.upgrade() else {
            return;
        };
        forward(&state, mac, &buf[..n]);
    }
}

/// Writes the frames queued for the guest to its NIC's socket, waiting for room there. The
/// socket is connected to the NIC's on the first frame, and again after a failure (QEMU
/// restarted and made its socket anew, or has not made it yet): a frame that cannot be
/// written is lost, as on a cable nobody listens to.
async fn write_port(
    sock: Arc<UnixDatagram>,
    peer: PathBuf,
    counters: Arc<Counters>,
    mut frames: mpsc::Receiver<Bytes>,
) {
    let mut connected = false;
    while let Some(f) = frames.recv().await {
        if !connected {
            connected = sock.connect(&peer).is_ok();
            if !connected {
                continue;
            }
        }
        match sock.send(&f).await {
            Ok(_) => {
                counters
                    .to_guest
                    .fetch_add(f.len() as u64, Ordering::Relaxed);
            }
            Err(_) => connected = false,
        }
    }
}

/// Delivers one frame the guest of port `from` sent.
fn forward(state: &Mutex<State>, from: Mac, frame: &[u8]) {
    let st = lock(state);
    let Some(src) = st.ports.get(&from) else {
        return;
    };
    if frame.len() < HEADER || frame.len() >= MAX_FRAME || frame[6..12] != from {
        return;
    }
    src.counters
        .from_guest
        .fetch_add(frame.len() as u64, Ordering::Relaxed);
    // One copy of the frame, shared by every port it goes to.
    let frame = Bytes::copy_from_slice(frame);
    let deliver = |p: &Port| {
        // A full queue loses the frame (the guest's stack retransmits what matters).
        let _ = p.queue.try_send(frame.clone());
    };
    let mut dst: Mac = [0; 6];
    dst.copy_from_slice(&frame[..6]);
    let unicast = dst[0] & 1 == 0;
    if unicast {
        if dst == from {
            return;
        }
        if let Some(p) = st.ports.get(&dst)
            && p.network == src.network
        {
            deliver(p);
            return;
        }
    }
    for (mac, p) in &st.ports {
        if *mac != from && p.network == src.network {
            deliver(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NET_A: &str = "net-a";
    const NET_B: &str = "net-b";

    fn mac(last: u8) -> Mac {
        [0xaa, 0, 0, 0, 0, last]
    }

    fn owner(server: i64) -> Owner {
        Owner { server, pid: 100 }
    }

    fn frame(dst: Mac, src: Mac, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x88, 0xb5]);
        f.extend_from_slice(payload);
        f
    }

    /// A guest: its socket, and the gateway's path it sends to.
    struct Guest {
        sock: UnixDatagram,
        gw: PathBuf,
    }

    impl Guest {
        async fn send(&self, f: &[u8]) {
            self.sock.send_to(f, &self.gw).await.unwrap();
        }

        /// The next frame, or `None` after a short wait.
        async fn recv(&self) -> Option<Vec<u8>> {
            let mut buf = vec![0u8; MAX_FRAME];
            match tokio::time::timeout(Duration::from_millis(300), self.sock.recv(&mut buf)).await {
                Ok(Ok(n)) => Some(buf[..n].to_vec()),
                _ => None,
            }
        }
    }

    /// The writer counts a frame once its send returned, which may be just after the
    /// guest got it.
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    fn guest(sw: &Switch, dir: &Path, network: &str, m: Mac) -> Guest {
        guest_of(sw, dir, i64::from(m[5]), network, m)
    }

    fn guest_of(sw: &Switch, dir: &Path, server: i64, network: &str, m: Mac) -> Guest {
        let vm = dir.join(format!("vm-{}", m[5]));
        let gw = dir.join(format!("gw-{}", m[5]));
        let sock = UnixDatagram::bind(&vm).unwrap();
        sw.plug(owner(server), network, m, &gw, &vm).unwrap();
        Guest { sock, gw }
    }

    #[test]
    fn macs_parse() {
        assert_eq!(
            parse_mac("AA:00:00:12:34:5f"),
            Some([0xaa, 0, 0, 0x12, 0x34, 0x5f])
        );
        assert_eq!(parse_mac("aa:00:00:12:34"), None);
        assert_eq!(parse_mac("aa:00:00:12:34:56:78"), None);
        assert_eq!(parse_mac("aa:00:00:12:34:5g"), None);
        assert_eq!(parse_mac("aa:000:0:12:34:56"), None);
    }

    #[tokio::test]
    async fn broadcast_floods_its_network_only() {
        let dir = tempfile::tempdir().unwrap();
        let sw = Switch::new();
        let a = guest(&sw, dir.path(), NET_A, mac(1));
        let b = guest(&sw, dir.path(), NET_A, mac(2));
        let c = guest(&sw, dir.path(), NET_A, mac(3));
        let other = guest(&sw, dir.path(), NET_B, mac(4));
        let f = frame([0xff; 6], mac(1), b"hello");
        a.send(&f).await;
        assert_eq!(b.recv().await.as_deref(), Some(&f[..]));
        assert_eq!(c.recv().await.as_deref(), Some(&f[..]));
        assert_eq!(other.recv().await, None, "a frame crossed networks");
        assert_eq!(a.recv().await, None, "a frame came back to its sender");
    }

    #[tokio::test]
    async fn unicast_goes_to_its_port_only_and_unknown_is_flooded() {
        let dir = tempfile::tempdir().unwrap();
        let sw = Switch::new();
        let a = guest(&sw, dir.path(), NET_A, mac(1));
        let b = guest(&sw, dir.path(), NET_A, mac(2));
        let c = guest(&sw, dir.path(), NET_A, mac(3));
        let other = guest(&sw, dir.path(), NET_B, mac(4));
        let to_b = frame(mac(2), mac(1), b"to b");
        a.send(&to_b).await;
        assert_eq!(b.recv().await.as_deref(), Some(&to_b[..]));
        assert_eq!(c.recv().await, None, "a unicast frame was flooded");
        // The port of mac(4) is on another network: to net-a it is unknown.
        let to_other = frame(mac(4), mac(1), b"to 4");
        a.send(&to_other).await;
        assert_eq!(other.recv().await, None, "a unicast frame crossed networks");
        assert_eq!(b.recv().await.as_deref(), Some(&to_other[..]));
        assert_eq!(c.recv().await.as_deref(), Some(&to_other[..]));
    }

    #[tokio::test]
    async fn spoofed_and_short_frames_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let sw = Switch::new();
        let a = guest(&sw, dir.path(), NET_A, mac(1));
        let b = guest(&sw, dir.path(), NET_A, mac(2));
        a.send(&frame([0xff; 6], mac(9), b"spoof")).await;
        a.send(&[0xff; 10]).await;
        assert_eq!(
            b.recv().await,
            None,
            "a spoofed or short frame was forwarded"
        );
        assert_eq!(sw.take_counters(&mac(1)), Some((0, 0)));
        assert_eq!(sw.take_counters(&mac(2)), Some((0, 0)));
    }

    #[tokio::test]
    async fn counters_are_per_interval() {
        let dir = tempfile::tempdir().unwrap();
        let sw = Switch::new();
        let a = guest(&sw, dir.path(), NET_A, mac(1));
        let b = guest(&sw, dir.path(), NET_A, mac(2));
        let f = frame(mac(2), mac(1), &[7; 100]);
        a.send(&f).await;
        assert!(b.recv().await.is_some());
        settle().await;
        let n = f.len() as u64;
        assert_eq!(sw.take_counters(&mac(1)), Some((0, n)));
        assert_eq!(sw.take_counters(&mac(2)), Some((n, 0)));
        assert_eq!(
            sw.take_counters(&mac(1)),
            Some((0, 0)),
            "not reset by the take"
        );
        assert_eq!(sw.take_counters(&mac(3)), None);
    }

    #[tokio::test]
    async fn a_full_peer_does_not_stall_the_switch() {
        let dir = tempfile::tempdir().unwrap();
        let sw = Switch::new();
        let a = guest(&sw, dir.path(), NET_A, mac(1));
        let b = guest(&sw, dir.path(), NET_A, mac(2));
        // Never reads: its socket fills up.
        let _stuck = guest(&sw, dir.path(), NET_A, mac(3));
        let f = frame([0xff; 6], mac(1), &[1; 1400]);
        let rounds = 2000u64;
        let mut got = 0;
        for _ in 0..rounds {
            a.send(&f).await;
            if b.recv().await.is_some() {
                got += 1;
            }
        }
        assert_eq!(got, rounds, "the reading peer lost frames to the stuck one");
        let (rx, _) = sw.take_counters(&mac(3)).unwrap();
        assert!(
            rx < rounds * f.len() as u64,
            "the stuck peer never filled up"
        );
    }

    #[tokio::test]
    async fn a_burst_waits_in_the_queue_instead_of_being_lost() {
        let dir = tempfile::tempdir().unwrap();
        let sw = Switch::new();
        let a = guest(&sw, dir.path(), NET_A, mac(1));
        let b = guest(&sw, dir.path(), NET_A, mac(2));
        // Far more than the kernel holds for b's socket (max_dgram_qlen), all sent before b
        // reads any.
        let burst = 200;
        for i in 0..burst {
            a.send(&frame(mac(2), mac(1), &[i as u8; 1400])).await;
        }
        for i in 0..burst {
            let f = b
                .recv()
                .await
                .unwrap_or_else(|| panic!("frame {i} of the burst was lost"));
            assert_eq!(f[HEADER], i as u8, "out of order");
        }
    }

    #[tokio::test]
    async fn replug_at_the_same_path_and_unplug() {
        let dir = tempfile::tempdir().unwrap();
        let sw = Switch::new();
        let a = guest(&sw, dir.path(), NET_A, mac(1));
        let b = guest(&sw, dir.path(), NET_A, mac(2));
        // A restarted gateway binds the same path again; the guest's socket is unchanged.
        sw.plug(owner(2), NET_A, mac(2), &b.gw, &dir.path().join("vm-2"))
            .unwrap();
        let f = frame([0xff; 6], mac(1), b"again");
        a.send(&f).await;
        assert_eq!(b.recv().await.as_deref(), Some(&f[..]));
        sw.unplug(&mac(2));
        assert!(!sw.has_port(&mac(2)));
        assert!(!b.gw.exists(), "the unplugged port left its socket file");
        a.send(&f).await;
        assert_eq!(b.recv().await, None);
    }

    #[tokio::test]
    async fn a_servers_ports_are_counted_and_unplugged_together() {
        let dir = tempfile::tempdir().unwrap();
        let sw = Switch::new();
        // Server 1 has a NIC on each network; server 2 one on net-a, server 3 one on net-b.
        let a1 = guest_of(&sw, dir.path(), 1, NET_A, mac(1));
        let b1 = guest_of(&sw, dir.path(), 1, NET_B, mac(2));
        let a2 = guest_of(&sw, dir.path(), 2, NET_A, mac(3));
        let b3 = guest_of(&sw, dir.path(), 3, NET_B, mac(4));
        let fa = frame([0xff; 6], mac(1), &[1; 60]);
        let fb = frame([0xff; 6], mac(2), &[2; 90]);
        a1.send(&fa).await;
        b1.send(&fb).await;
        assert!(a2.recv().await.is_some());
        assert!(b3.recv().await.is_some());
        settle().await;
        let (na, nb) = (fa.len() as u64, fb.len() as u64);
        assert_eq!(sw.take_server_counters(1), (0, na + nb));
        assert_eq!(sw.take_server_counters(2), (na, 0));
        assert_eq!(sw.take_server_counters(3), (nb, 0));
        assert_eq!(sw.take_server_counters(1), (0, 0), "not reset by the take");
        assert_eq!(sw.take_server_counters(9), (0, 0));
        sw.unplug_machine(owner(1));
        assert!(!sw.has_port(&mac(1)) && !sw.has_port(&mac(2)));
        assert!(sw.has_port(&mac(3)) && sw.has_port(&mac(4)));
        assert!(!a1.gw.exists() && !b1.gw.exists());
        drop((a1, b1));
    }
}
