//! The console proxy against a real QEMU VNC screen, driven by real viewers: vncdotool over
//! TCP with the one-time password, headless Chromium with the console page over the
//! websocket, and 20 raw RFB viewers at once.
//!
//! The gateway runs in-process (the real router, store, tickets and proxy) on a compute
//! backend whose lifecycle is the simulated driver's and whose screens are real QEMU VMs the
//! test starts (`-vnc unix:PATH`, no password, as the QEMU driver starts them): the proxy
//! reaches them only through `ComputeBackend::vnc_socket`. The end-to-end tests with
//! QEMU-backed servers of the real binary are in `tests/console_qemu.rs`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cyclades::backend::{
    BackendError, ComputeBackend, ObservedState, Sample, ServerSpec, SimulatedBackend,
    SimulatedConfig,
};
use cyclades::config::Config;
use cyclades::domain::identity::{NewUser, Role};
use cyclades::domain::server::{RebootKind, Task};
use cyclades::http::AppState;
use cyclades::store::Store;
use cyclades::store::sqlite::SqliteStore;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---------------------------------------------------------------------------------------
// tools

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Installs QEMU, vncdotool, chromium and web/node_modules, or fails loudly.
fn setup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let out = Command::new("bash")
            .arg(root().join("tests/clients/console_setup.sh"))
            .output()
            .expect("run tests/clients/console_setup.sh");
        assert!(
            out.status.success(),
            "tests/clients/console_setup.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

fn venv_bin(name: &str) -> PathBuf {
    root().join(".venv-console/bin").join(name)
}

/// A QEMU VM with no disk and no NIC: SeaBIOS's boot messages on its VGA screen.
struct Vm {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Vm {
    fn start() -> Vm {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("vnc.sock");
        let child = Command::new("qemu-system-x86_64")
            .args([
                "-accel", "tcg", "-m", "64", "-nic", "none", "-display", "none",
            ])
            .args(["-monitor", "none", "-serial", "none", "-parallel", "none"])
            .arg("-vnc")
            .arg(format!("unix:{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start qemu-system-x86_64");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "QEMU's VNC socket did not appear"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Vm {
            child,
            socket,
            _dir: dir,
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The simulated driver's lifecycle, with a real screen for the servers given one.
struct Screened {
    inner: SimulatedBackend,
    screens: Mutex<HashMap<i64, PathBuf>>,
}

#[async_trait]
impl ComputeBackend for Screened {
    async fn create(&self, spec: ServerSpec) -> Result<(), BackendError> {
        self.inner.create(spec).await
    }
    async fn start(&self, id: i64) -> Result<(), BackendError> {
        self.inner.start(id).await
    }
    async fn shutdown(&self, id: i64) -> Result<(), BackendError> {
        self.inner.shutdown(id).await
    }
    async fn reboot(&self, id: i64, kind: RebootKind) -> Result<(), BackendError> {
        self.inner.reboot(id, kind).await
    }
    async fn destroy(&self, id: i64) -> Result<(), BackendError> {
        self.inner.destroy(id).await
    }
    async fn known(&self) -> Vec<(i64, ObservedState)> {
        self.inner.known().await
    }
    async fn samples(&self, id: i64) -> Vec<Sample> {
        self.inner.samples(id).await
    }
    fn sample_interval(&self) -> Duration {
        self.inner.sample_interval()
    }
    async fn issue(&self, id: i64, task: Task) -> Result<(), BackendError> {
        self.inner.issue(id, task).await
    }
    fn vnc_socket(&self, id: i64) -> Option<PathBuf> {
        self.screens.lock().unwrap().get(&id).cloned()
    }
}

/// The gateway in-process on 127.0.0.1:0.
struct Gw {
    url: String,
    token: String,
    other_token: String,
    backend: Arc<Screened>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn gateway(tweak: impl FnOnce(&mut Config)) -> Gw {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    tweak(&mut cfg);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&cfg.db_path(), 2).await.unwrap());
    store
        .ensure_public_network(cfg.public_cidr.clone(), None)
        .await
        .unwrap();
    let (tx, rx) = cyclades::backend::event_channel();
    let backend = Arc::new(Screened {
        inner: SimulatedBackend::new(
            SimulatedConfig {
                build_secs: 0.2,
                op_secs: 0.2,
                sample_interval_secs: 10.0,
            },
            tx,
        ),
        screens: Mutex::default(),
    });
    let _reconciler =
        cyclades::backend::reconciler::spawn(store.clone(), rx, Duration::from_secs(3600));
    let mut tokens = Vec::new();
    for name in ["alice", "bob"] {
        let user = store
            .create_user(NewUser {
                name: name.into(),
                project: None,
                roles: vec![Role::Member],
                password_hash: None,
            })
            .await
            .unwrap();
        let (token, _) = cyclades::api::identity::issue_for(&store, 3600, &user)
            .await
            .unwrap();
        tokens.push(token);
    }
    let state = AppState::new(cfg, store, backend.clone()).unwrap();
    let app = cyclades::api::app(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let other_token = tokens.pop().unwrap();
    Gw {
        url: format!("http://{addr}"),
        token: tokens.pop().unwrap(),
        other_token,
        backend,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Gw {
    async fn call(&self, m: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&self.token, m, path, body).await
    }
    async fn call_as(
        &self,
        token: &str,
        m: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(m, format!("{}{path}", self.url))
            .header("X-Auth-Token", token);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// An ACTIVE server of alice's, with `screen` as its VNC screen.
    async fn server(&self, screen: &Path) -> i64 {
        let (s, img) = self
            .call(
                reqwest::Method::POST,
                "/image/v2/images",
                Some(json!({"name": "base", "disk_format": "raw", "container_format": "bare"})),
            )
            .await;
        assert_eq!(s, 201, "{img}");
        let image = img["id"].as_str().unwrap().to_owned();
        let put = self
            .http
            .put(format!("{}/image/v2/images/{image}/file", self.url))
            .header("X-Auth-Token", &self.token)
            .header("Content-Type", "application/octet-stream")
            .body(vec![0u8; 512])
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 204);
        let (s, created) = self
            .call(
                reqwest::Method::POST,
                "/compute/v2.0/servers",
                Some(json!({"server": {"name": "vm", "imageRef": image, "flavorRef": 1}})),
            )
            .await;
        assert_eq!(s, 202, "{created}");
        let id = created["server"]["id"].as_i64().unwrap();
        self.backend
            .screens
            .lock()
            .unwrap()
            .insert(id, screen.to_path_buf());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (_, v) = self
                .call(
                    reqwest::Method::GET,
                    &format!("/compute/v2.0/servers/{id}"),
                    None,
                )
                .await;
            if v["server"]["status"] == "ACTIVE" {
                return id;
            }
            assert!(
                Instant::now() < deadline,
                "server {id} never became ACTIVE: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn console(&self, id: i64, kind: &str) -> Value {
        let (s, v) = self
            .call(
                reqwest::Method::POST,
                &format!("/compute/v2.0/servers/{id}/action"),
                Some(json!({"console": {"type": kind}})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["console"].clone()
    }
}

/// `vncdo capture`: Ok once the PNG is written, Err with what vncdo said. vncdotool 1.2
/// quirk: a refused password makes it exit 0 without writing the file, so the file is the
/// verdict.
async fn vncdo_capture(port: u16, password: &str, out: &Path) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new(venv_bin("vncdo"));
    let _ = std::fs::remove_file(out);
    cmd.arg("-s")
        .arg(format!("127.0.0.1::{port}"))
        .arg("-p")
        .arg(password)
        .arg("capture")
        .arg(out)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(Duration::from_secs(30), cmd.output()).await {
        Err(_) => Err("vncdo hung for 30 s".into()),
        Ok(Err(e)) => panic!("run vncdo: {e}"),
        Ok(Ok(o)) if o.status.success() && out.is_file() => Ok(()),
        Ok(Ok(o)) => Err(format!(
            "vncdo exited {}: {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )),
    }
}

/// How many distinct colours the PNG has, and its size (Pillow, which vncdotool brings).
fn png_colours(path: &Path) -> (usize, u32, u32) {
    let out = Command::new(venv_bin("python"))
        .arg("-c")
        .arg(
            "import sys\nfrom PIL import Image\nim = Image.open(sys.argv[1]).convert('RGB')\n\
             print(len(im.getcolors(1 << 24)), im.size[0], im.size[1])",
        )
        .arg(path)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<u64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    (v[0] as usize, v[1] as u32, v[2] as u32)
}

// ---------------------------------------------------------------------------------------
// a raw RFB viewer

struct Frame {
    width: u16,
    height: u16,
    bpp: u8,
    bytes: usize,
}

async fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).await.unwrap();
    b
}

/// Handshake with VNC authentication, ClientInit (shared), ServerInit; then the stream.
async fn rfb_login(port: u16, password: &str) -> Result<(TcpStream, u16, u16, u8), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let banner = read_n(&mut s, 12).await;
    assert_eq!(&banner, b"RFB 003.008\n");
    s.write_all(b"RFB 003.008\n").await.unwrap();
    let n = read_n(&mut s, 1).await[0];
    let types = read_n(&mut s, n as usize).await;
    assert_eq!(types, vec![2], "the proxy offers VNC authentication only");
    s.write_all(&[2]).await.unwrap();
    let challenge: [u8; 16] = read_n(&mut s, 16).await.try_into().unwrap();
    s.write_all(&cyclades::console::rfb::vnc_response(password, &challenge))
        .await
        .unwrap();
    let result = read_n(&mut s, 4).await;
    if result != [0, 0, 0, 0] {
        let len = u32::from_be_bytes(read_n(&mut s, 4).await.try_into().unwrap());
        let reason = read_n(&mut s, len as usize).await;
        return Err(String::from_utf8_lossy(&reason).into_owned());
    }
    s.write_all(&[1]).await.unwrap();
    let init = read_n(&mut s, 24).await;
    let width = u16::from_be_bytes([init[0], init[1]]);
    let height = u16::from_be_bytes([init[2], init[3]]);
    let bpp = init[4];
    let name_len = u32::from_be_bytes(init[20..24].try_into().unwrap());
    read_n(&mut s, name_len as usize).await;
    // SetEncodings: raw only.
    s.write_all(&[2, 0, 0, 1, 0, 0, 0, 0]).await.unwrap();
    Ok((s, width, height, bpp))
}

async fn request_frame(s: &mut TcpStream, w: u16, h: u16) {
    let mut req = vec![3, 0, 0, 0, 0, 0];
    req.extend_from_slice(&w.to_be_bytes());
    req.extend_from_slice(&h.to_be_bytes());
    s.write_all(&req).await.unwrap();
}

/// Reads one FramebufferUpdate (raw rectangles) and returns its pixel bytes.
async fn read_frame(s: &mut TcpStream, bpp: u8) -> usize {
    loop {
        let ty = read_n(s, 1).await[0];
        match ty {
            0 => break,
            2 => continue, // Bell
            other => panic!("unexpected server message {other}"),
        }
    }
    let head = read_n(s, 3).await;
    let rects = u16::from_be_bytes([head[1], head[2]]);
    let mut bytes = 0;
    for _ in 0..rects {
        let r = read_n(s, 12).await;
        let w = u16::from_be_bytes([r[4], r[5]]) as usize;
        let h = u16::from_be_bytes([r[6], r[7]]) as usize;
        let enc = i32::from_be_bytes(r[8..12].try_into().unwrap());
        assert_eq!(enc, 0, "only raw was asked for");
        let n = w * h * usize::from(bpp / 8);
        read_n(s, n).await;
        bytes += n;
    }
    bytes
}

async fn view(port: u16, password: String, frames: usize) -> Frame {
    let (mut s, width, height, bpp) = rfb_login(port, &password).await.unwrap();
    let mut bytes = 0;
    for _ in 0..frames {
        request_frame(&mut s, width, height).await;
        bytes += read_frame(&mut s, bpp).await;
    }
    Frame {
        width,
        height,
        bpp,
        bytes,
    }
}

fn port_of(c: &Value) -> u16 {
    c["port"].as_u64().unwrap() as u16
}

// ---------------------------------------------------------------------------------------
// tests

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vncdotool_sees_the_screen_once_with_the_password_and_never_otherwise() {
    setup();
    let vm = Vm::start();
    let gw = gateway(|_| {}).await;
    let id = gw.server(&vm.socket).await;
    let shots = tempfile::tempdir().unwrap();

    // QEMU's screen needs a moment to show SeaBIOS; capture until it is not blank.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (c, colours) = loop {
        let c = gw.console(id, "vnc").await;
        assert_eq!(c["type"], "vnc");
        assert_eq!(c["host"], "127.0.0.1");
        assert_eq!(c["password"].as_str().unwrap().len(), 8);
        assert!(
            c["url"].as_str().unwrap().contains("/console/#token="),
            "{c}"
        );
        let png = shots.path().join("screen.png");
        vncdo_capture(port_of(&c), c["password"].as_str().unwrap(), &png)
            .await
            .expect("vncdo with the one-time password");
        let (colours, w, h) = png_colours(&png);
        assert!(w >= 320 && h >= 200, "a {w}x{h} screen");
        if colours > 1 || Instant::now() > deadline {
            break (c, colours);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(colours > 1, "the captured screen is blank");

    // The same password, a second time: the ticket is used.
    let again = vncdo_capture(
        port_of(&c),
        c["password"].as_str().unwrap(),
        &shots.path().join("2.png"),
    )
    .await;
    assert!(again.is_err(), "a used password let vncdo in");

    // A wrong password, on a fresh ticket's port; and the right one is then used up too.
    let c = gw.console(id, "vnc").await;
    let err = rfb_login(port_of(&c), "wrongpw1").await.err();
    assert_eq!(err.as_deref(), Some("authentication failed"));
    assert!(
        vncdo_capture(port_of(&c), "wrongpw1", &shots.path().join("3.png"))
            .await
            .is_err()
    );

    // An expired ticket: refused (a gateway whose tickets last 1 s).
    let short = gateway(|c| c.console_ticket_secs = 1).await;
    let short_id = short.server(&vm.socket).await;
    let c = short.console(short_id, "vnc").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let expired = vncdo_capture(
        port_of(&c),
        c["password"].as_str().unwrap(),
        &shots.path().join("4.png"),
    )
    .await;
    assert!(expired.is_err(), "an expired password let vncdo in");

    // A fresh ticket still lets a viewer in: refusals used only their own tickets.
    let c = gw.console(id, "vnc").await;
    let pw = c["password"].as_str().unwrap().to_owned();
    let frame = view(port_of(&c), pw, 1).await;
    assert!(frame.bytes > 0 && frame.width > 0 && frame.height > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_action_answers_in_json_and_xml_for_every_type_and_refuses_others() {
    setup();
    let vm = Vm::start();
    let gw = gateway(|_| {}).await;
    let id = gw.server(&vm.socket).await;
    let path = format!("/compute/v2.0/servers/{id}/action");

    let ws = gw.console(id, "vnc-ws").await;
    assert_eq!(ws["type"], "vnc-ws");
    assert_eq!(ws["host"], "127.0.0.1");
    assert_eq!(
        ws["port"].as_u64(),
        gw.url.rsplit(':').next().unwrap().parse().ok()
    );
    let token = ws["password"].as_str().unwrap();
    assert!(
        ws["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/console/#token={token}"))
    );

    // vnc-wss needs TLS in front.
    let (s, v) = gw
        .call(
            reqwest::Method::POST,
            &path,
            Some(json!({"console": {"type": "vnc-wss"}})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let resp = gw
        .http
        .post(format!("{}{path}", gw.url))
        .header("X-Auth-Token", &gw.token)
        .header("X-Forwarded-Proto", "https")
        .header("Accept", "application/xml")
        .header("Content-Type", "application/json")
        .body(json!({"console": {"type": "vnc-wss"}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let xml = resp.text().await.unwrap();
    assert!(
        xml.contains(
            "<console xmlns=\"http://docs.openstack.org/compute/api/v1.1\" type=\"vnc-wss\""
        ),
        "{xml}"
    );
    assert!(
        xml.contains("port=\"443\"")
            || xml.contains(&format!("port=\"{}\"", gw.url.rsplit(':').next().unwrap())),
        "{xml}"
    );
    assert!(xml.contains("url=\"https://"), "{xml}");

    for bad in [json!({"type": "spice"}), json!({}), json!({"type": 5})] {
        let (s, v) = gw
            .call(
                reqwest::Method::POST,
                &path,
                Some(json!({ "console": bad })),
            )
            .await;
        assert_eq!(s, 400, "{v}");
        assert!(
            v["badRequest"]["message"]
                .as_str()
                .unwrap()
                .contains("vnc, vnc-ws or vnc-wss")
        );
    }
    // Another user's server: 404, as if it did not exist.
    let (s, v) = gw
        .call_as(
            &gw.other_token,
            reqwest::Method::POST,
            &path,
            Some(json!({"console": {"type": "vnc"}})),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    // Not ACTIVE: 409.
    let (s, _) = gw
        .call(reqwest::Method::POST, &path, Some(json!({"shutdown": {}})))
        .await;
    assert_eq!(s, 202);
    let (s, v) = gw
        .call(
            reqwest::Method::POST,
            &path,
            Some(json!({"console": {"type": "vnc"}})),
        )
        .await;
    assert_eq!(s, 409, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_consoles_stream_at_once_and_a_stalled_viewer_blocks_none() {
    setup();
    let vm = Vm::start();
    let gw = gateway(|_| {}).await;
    let id = gw.server(&vm.socket).await;

    // A viewer that asks for frames and never reads them.
    let c = gw.console(id, "vnc").await;
    let (mut stalled, w, h, _) = rfb_login(port_of(&c), c["password"].as_str().unwrap())
        .await
        .unwrap();
    for _ in 0..50 {
        request_frame(&mut stalled, w, h).await;
    }

    let mut offers = Vec::new();
    for _ in 0..20 {
        let c = gw.console(id, "vnc").await;
        offers.push((port_of(&c), c["password"].as_str().unwrap().to_owned()));
    }
    let started = Instant::now();
    let viewers: Vec<_> = offers
        .into_iter()
        .map(|(port, pw)| {
            tokio::spawn(async move {
                let t = Instant::now();
                let f = view(port, pw, 3).await;
                (f, t.elapsed())
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for v in viewers {
        let (frame, took) = tokio::time::timeout(Duration::from_secs(60), v)
            .await
            .expect("a viewer was blocked")
            .unwrap();
        let full =
            usize::from(frame.width) * usize::from(frame.height) * usize::from(frame.bpp / 8) * 3;
        assert_eq!(frame.bytes, full, "three full frames");
        slowest = slowest.max(took);
    }
    eprintln!(
        "20 consoles x 3 full frames: {:?} in all, slowest viewer {:?}",
        started.elapsed(),
        slowest
    );
    drop(stalled);
}

/// The full path of a program on PATH (playwright wants one).
fn on_path(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|f| f.is_file())
        })
        .unwrap_or_else(|| panic!("{name} is not on PATH"))
}

/// Runs `tests/clients/console_browser.mjs` on `url`; its JSON report.
async fn browse(url: &str, shot: &Path, text: Option<&str>) -> Value {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(root().join("tests/clients/console_browser.mjs"))
        .arg(url)
        .arg(shot)
        .args(text)
        .env("WEB_DIR", root().join("web"))
        .env("CHROMIUM", on_path("chromium"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("chromium finished within 120 s")
        .expect("run node");
    assert!(
        out.status.success(),
        "console_browser.mjs failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("console_browser.mjs printed {line:?}: {e}"))
}

/// Where a test keeps a screenshot for a person to look at: target/console-shots/.
fn shot_path(name: &str) -> PathBuf {
    let dir = root().join("target/console-shots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chromium_shows_the_screen_through_the_console_page_once() {
    setup();
    let vm = Vm::start();
    let gw = gateway(|_| {}).await;
    let id = gw.server(&vm.socket).await;
    // SeaBIOS needs a moment before its screen shows text.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c = gw.console(id, "vnc-ws").await;
    let url = c["url"].as_str().unwrap().to_owned();
    let shot = shot_path("console-page.png");
    let seen = browse(&url, &shot, None).await;
    assert_eq!(seen["state"], "connected", "{seen}");
    assert!(
        seen["colours"].as_u64().unwrap() > 1,
        "noVNC drew a blank screen: {seen}"
    );
    let (colours, w, h) = png_colours(&shot);
    assert!(
        colours > 2 && w == 1024 && h == 700,
        "{colours} colours, {w}x{h}"
    );
    eprintln!("screenshot: {}", shot.display());

    // The link worked once.
    let again = browse(&url, &shot_path("console-page-again.png"), None).await;
    assert_ne!(again["state"], "connected", "{again}");
    assert!(
        again["status"].as_str().unwrap().contains("disconnected"),
        "{again}"
    );
}
