//! Acceptance of consoles end to end: the real binary on the QEMU backend, a server booted
//! from the tiny guest (`guest/build.sh`), and real viewers — vncdotool over TCP with the
//! one-time password, headless Debian chromium (playwright-core) on the console page,
//! typing into the guest — plus 20 consoles at once.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::compute::Api;
use common::{Gateway, Options};
use serde_json::{Value, json};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run_script(args: &[&str]) -> String {
    let out = Command::new("bash")
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn setup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        run_script(&["tests/clients/console_setup.sh"]);
    });
}

fn venv_bin(name: &str) -> PathBuf {
    root().join(".venv-console/bin").join(name)
}

/// A gateway on the QEMU backend with the tiny guest registered and one ACTIVE server of
/// the admin's; the guest has printed its banner.
struct Qemu {
    g: Gateway,
    token: String,
    id: i64,
}

impl Qemu {
    fn start() -> Qemu {
        Qemu::start_with(Options::default())
    }

    fn start_with(opts: Options) -> Qemu {
        setup();
        let g = Gateway::start_with(opts.env("CYCLADES_BACKEND", "qemu"));
        let token = g.admin_token();
        let flavor = common::cli_last_line(
            &g.data_dir,
            &[
                "flavor", "create", "--name", "tiny", "--vcpus", "1", "--ram", "128", "--disk", "1",
            ],
        );
        let out = run_script(&["guest/build.sh", "register", &g.url, &token]);
        let image = out
            .lines()
            .find_map(|l| l.strip_prefix("image "))
            .unwrap_or_else(|| panic!("no image id in {out}"))
            .trim()
            .to_owned();
        let id = {
            let api = Api {
                g: &g,
                token: token.clone(),
            };
            let r = api.send(
                reqwest::Method::POST,
                "/compute/v2.0/servers",
                json!({"server": {"name": "vm", "imageRef": image, "flavorRef": flavor}}),
            );
            assert_eq!(r.status(), 202);
            let id = r.json::<Value>().unwrap()["server"]["id"].as_i64().unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            while api.status(id) != "ACTIVE" {
                assert!(Instant::now() < deadline, "server {id} never became ACTIVE");
                std::thread::sleep(Duration::from_millis(200));
            }
            id
        };
        let q = Qemu { g, token, id };
        // The guest's banner: its screen shows more than SeaBIOS from here on.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !q.serial().contains("cyclades tiny guest") {
            assert!(
                Instant::now() < deadline,
                "the guest never booted:\n{}",
                q.serial()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        q
    }

    fn serial(&self) -> String {
        let log = self
            .g
            .data_dir
            .join("qemu")
            .join(self.id.to_string())
            .join("serial.log");
        std::fs::read_to_string(log).unwrap_or_default()
    }

    fn api(&self) -> Api<'_> {
        Api {
            g: &self.g,
            token: self.token.clone(),
        }
    }

    fn console(&self, kind: &str) -> Value {
        let r = self
            .api()
            .action(self.id, json!({"console": {"type": kind}}));
        assert_eq!(r.status(), 200);
        r.json::<Value>().unwrap()["console"].clone()
    }
}

fn port_of(c: &Value) -> u16 {
    c["port"].as_u64().unwrap() as u16
}

/// `vncdo -p PASSWORD capture PNG`: Ok once the PNG is written. vncdotool 1.2 quirk: a
/// refused password makes it exit 0 without writing the file, so the file is the verdict.
fn vncdo_capture(port: u16, password: &str, png: &Path) -> Result<(), String> {
    let _ = std::fs::remove_file(png);
    let mut child = Command::new(venv_bin("vncdo"))
        .arg("-s")
        .arg(format!("127.0.0.1::{port}"))
        .arg("-p")
        .arg(password)
        .arg("capture")
        .arg(png)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vncdo");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return if status.success() && png.is_file() {
                Ok(())
            } else {
                Err(format!(
                    "vncdo exited {status} with{} a PNG: {}{}",
                    if png.is_file() { "" } else { "out" },
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ))
            };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("vncdo hung for 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Distinct colours and size of a PNG (Pillow, which vncdotool brings).
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
    let v: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    (v[0] as usize, v[1] as u32, v[2] as u32)
}

fn shot_path(name: &str) -> PathBuf {
    let dir = root().join("target/console-shots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn vncdotool_sees_a_qemu_server_once_with_its_one_time_password() {
    let q = Qemu::start();
    let c = q.console("vnc");
    assert_eq!(c["type"], "vnc");
    assert_eq!(c["host"], "127.0.0.1");
    let pw = c["password"].as_str().unwrap().to_owned();
    let png = shot_path("vncdo-qemu.png");
    vncdo_capture(port_of(&c), &pw, &png).expect("vncdo with the one-time password");
    let (colours, w, h) = png_colours(&png);
    assert!(colours > 1, "the captured screen is blank ({w}x{h})");
    assert!(w >= 640 && h >= 400, "{w}x{h}");

    // The same password again: refused.
    let again = vncdo_capture(port_of(&c), &pw, &shot_path("vncdo-again.png"));
    assert!(again.is_err(), "a used password let vncdo in");
    // A wrong password: refused.
    let c = q.console("vnc");
    let wrong = vncdo_capture(port_of(&c), "wrongpw1", &shot_path("vncdo-wrong.png"));
    assert!(wrong.is_err(), "a wrong password let vncdo in");
}

#[test]
fn expired_consoles_are_refused_and_give_their_slots_back() {
    // The window must outlast a vncdo start on a loaded CI machine (a 1 s window made the
    // last capture below fail there) and still expire within the test.
    let q = Qemu::start_with(
        Options::default()
            .env("CYCLADES_CONSOLE_TICKET_SECS", "5")
            .env("CYCLADES_CONSOLE_MAX_OPEN", "2"),
    );
    let c = q.console("vnc");
    let _ws = q.console("vnc-ws");
    // Two consoles wait for their viewers: the limit.
    let r = q.api().action(q.id, json!({"console": {"type": "vnc-ws"}}));
    assert_eq!(r.status(), 503);
    let v: Value = r.json().unwrap();
    assert!(
        v["serviceUnavailable"]["message"]
            .as_str()
            .unwrap()
            .contains("2 consoles open or pending"),
        "{v}"
    );
    std::thread::sleep(Duration::from_millis(5500));
    let expired = vncdo_capture(
        port_of(&c),
        c["password"].as_str().unwrap(),
        &shot_path("vncdo-expired.png"),
    );
    assert!(expired.is_err(), "an expired password let vncdo in");
    // Expired, they no longer count.
    let c = q.console("vnc");
    q.console("vnc-ws");
    vncdo_capture(
        port_of(&c),
        c["password"].as_str().unwrap(),
        &shot_path("vncdo-after-expiry.png"),
    )
    .expect("a console after the expired ones");
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

/// Runs `tests/clients/console_browser.mjs`; its JSON report.
fn browse(url: &str, shot: &Path, text: Option<&str>) -> Value {
    let out = Command::new("node")
        .arg(root().join("tests/clients/console_browser.mjs"))
        .arg(url)
        .arg(shot)
        .args(text)
        .env("WEB_DIR", root().join("web"))
        .env("CHROMIUM", on_path("chromium"))
        .stdin(Stdio::null())
        .output()
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

#[test]
fn chromium_shows_a_qemu_server_and_typing_reaches_the_guest() {
    let q = Qemu::start();
    let c = q.console("vnc-ws");
    let url = c["url"].as_str().unwrap().to_owned();
    let shot = shot_path("console-qemu.png");
    // Typed through noVNC into the guest's shell on its screen; the guest writes it to its
    // serial console, which the test reads.
    let seen = browse(
        &url,
        &shot,
        Some("echo typed-in-chromium-$((6*7)) >/dev/ttyS0"),
    );
    assert_eq!(seen["state"], "connected", "{seen}");
    assert!(seen["colours"].as_u64().unwrap() > 1, "{seen}");
    let (colours, w, h) = png_colours(&shot);
    assert!(
        colours > 2 && w == 1024 && h == 700,
        "{colours} colours, {w}x{h}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !q.serial().contains("typed-in-chromium-42") {
        assert!(
            Instant::now() < deadline,
            "what chromium typed never reached the guest; serial console:\n{}",
            q.serial()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("screenshot: {}", shot.display());
    // The link worked once.
    let again = browse(&url, &shot_path("console-qemu-again.png"), None);
    assert_ne!(again["state"], "connected", "{again}");
}

/// A raw RFB viewer over TCP with VNC authentication: logs in, then reads `frames` full
/// raw frames. Returns the bytes of pixels received.
fn rfb_view(port: u16, password: &str, frames: usize, stall: bool) -> usize {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let n = |s: &mut std::net::TcpStream, len: usize| {
        let mut b = vec![0u8; len];
        s.read_exact(&mut b).unwrap();
        b
    };
    n(&mut s, 12);
    s.write_all(b"RFB 003.008\n").unwrap();
    let k = n(&mut s, 1)[0] as usize;
    assert_eq!(n(&mut s, k), vec![2]);
    s.write_all(&[2]).unwrap();
    let ch: [u8; 16] = n(&mut s, 16).try_into().unwrap();
    s.write_all(&cyclades::console::rfb::vnc_response(password, &ch))
        .unwrap();
    assert_eq!(n(&mut s, 4), vec![0, 0, 0, 0], "authentication failed");
    s.write_all(&[1]).unwrap();
    let init = n(&mut s, 24);
    let (w, h, bpp) = (
        u16::from_be_bytes([init[0], init[1]]),
        u16::from_be_bytes([init[2], init[3]]),
        init[4],
    );
    let name = u32::from_be_bytes(init[20..24].try_into().unwrap()) as usize;
    n(&mut s, name);
    s.write_all(&[2, 0, 0, 1, 0, 0, 0, 0]).unwrap();
    let mut req = vec![3, 0, 0, 0, 0, 0];
    req.extend_from_slice(&w.to_be_bytes());
    req.extend_from_slice(&h.to_be_bytes());
    if stall {
        // Asks for many frames and reads none: its console stalls, no other may.
        for _ in 0..100 {
            s.write_all(&req).unwrap();
        }
        std::thread::sleep(Duration::from_secs(20));
        return 0;
    }
    let mut bytes = 0;
    for _ in 0..frames {
        s.write_all(&req).unwrap();
        loop {
            if n(&mut s, 1)[0] == 0 {
                break;
            }
        }
        let head = n(&mut s, 3);
        for _ in 0..u16::from_be_bytes([head[1], head[2]]) {
            let r = n(&mut s, 12);
            let (rw, rh) = (
                u16::from_be_bytes([r[4], r[5]]) as usize,
                u16::from_be_bytes([r[6], r[7]]) as usize,
            );
            assert_eq!(r[8..12], [0, 0, 0, 0], "raw only");
            n(&mut s, rw * rh * usize::from(bpp / 8));
            bytes += rw * rh * usize::from(bpp / 8);
        }
    }
    assert_eq!(
        bytes,
        usize::from(w) * usize::from(h) * usize::from(bpp / 8) * frames
    );
    bytes
}

#[test]
fn twenty_consoles_of_a_qemu_server_stream_at_once() {
    let q = Qemu::start();
    let stalled = q.console("vnc");
    let (sport, spw) = (
        port_of(&stalled),
        stalled["password"].as_str().unwrap().to_owned(),
    );
    let staller = std::thread::spawn(move || rfb_view(sport, &spw, 0, true));
    std::thread::sleep(Duration::from_millis(500));
    // One viewer alone first: how long 3 frames take here (QEMU paces its updates).
    let solo = q.console("vnc");
    let t = Instant::now();
    rfb_view(port_of(&solo), solo["password"].as_str().unwrap(), 3, false);
    let alone = t.elapsed();
    let offers: Vec<(u16, String)> = (0..20)
        .map(|_| {
            let c = q.console("vnc");
            (port_of(&c), c["password"].as_str().unwrap().to_owned())
        })
        .collect();
    let started = Instant::now();
    let viewers: Vec<_> = offers
        .into_iter()
        .map(|(port, pw)| std::thread::spawn(move || rfb_view(port, &pw, 3, false)))
        .collect();
    let total: usize = viewers
        .into_iter()
        .map(|v| v.join().expect("a viewer failed"))
        .sum();
    let took = started.elapsed();
    eprintln!(
        "20 QEMU consoles x 3 full frames at once: {total} bytes in {took:?}; one alone: {alone:?}"
    );
    // One after the other they would take 20 times one alone; at once, with the stalled
    // viewer beside them, well under half of that.
    assert!(
        took < alone * 10 + Duration::from_secs(1),
        "20 consoles took {took:?}, one alone {alone:?}: they did not stream at once"
    );
    staller.join().unwrap();
}

#[test]
fn the_console_action_answers_json_and_xml_for_every_type_and_refuses_the_rest() {
    let q = Qemu::start();
    let api = q.api();
    let port = q.g.url.rsplit(':').next().unwrap().parse::<u64>().unwrap();

    let ws = q.console("vnc-ws");
    assert_eq!(ws["type"], "vnc-ws");
    assert_eq!(ws["host"], "127.0.0.1");
    assert_eq!(ws["port"].as_u64(), Some(port));
    let token = ws["password"].as_str().unwrap();
    assert!(
        ws["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/console/#token={token}")),
        "{ws}"
    );

    // vnc-wss needs TLS in front: 400 on plain HTTP, 200 behind a TLS proxy.
    let r = api.action(q.id, json!({"console": {"type": "vnc-wss"}}));
    assert_eq!(r.status(), 400);
    let r = api
        .req(
            reqwest::Method::POST,
            &format!("/compute/v2.0/servers/{}/action", q.id),
        )
        .header("X-Forwarded-Proto", "https")
        .header("Accept", "application/xml")
        .header("Content-Type", "application/json")
        .body(json!({"console": {"type": "vnc-wss"}}).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let xml = r.text().unwrap();
    common::assert_well_formed(&xml);
    assert!(
        xml.contains(
            "<console xmlns=\"http://docs.openstack.org/compute/api/v1.1\" type=\"vnc-wss\""
        ),
        "{xml}"
    );
    assert!(xml.contains(&format!("port=\"{port}\"")), "{xml}");
    assert!(xml.contains("url=\"https://127.0.0.1:"), "{xml}");

    // A vnc console in XML carries the same data as in JSON.
    let r = api
        .req(
            reqwest::Method::POST,
            &format!("/compute/v2.0/servers/{}/action?xml", q.id),
        )
        .header("Content-Type", "application/json")
        .body(json!({"console": {"type": "vnc"}}).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let xml = r.text().unwrap();
    for attr in [
        "type=\"vnc\"",
        "host=\"127.0.0.1\"",
        "password=\"",
        "url=\"http://",
    ] {
        assert!(xml.contains(attr), "{attr} in {xml}");
    }

    for bad in [json!({"type": "spice"}), json!({}), json!({"type": 5})] {
        let r = api.action(q.id, json!({ "console": bad }));
        assert_eq!(r.status(), 400);
        let v: Value = r.json().unwrap();
        assert!(
            v["badRequest"]["message"]
                .as_str()
                .unwrap()
                .contains("vnc, vnc-ws or vnc-wss")
        );
    }
    // Another user's server: 404, as if it did not exist.
    let bob = Api {
        g: &q.g,
        token: q.g.user("bob", &[]),
    };
    assert_eq!(
        bob.action(q.id, json!({"console": {"type": "vnc"}}))
            .status(),
        404
    );
    // A console made before the server stops closes with it; a new one is a 409.
    let c = q.console("vnc");
    assert_eq!(api.action(q.id, json!({"shutdown": {}})).status(), 202);
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.status(q.id) != "STOPPED" {
        assert!(Instant::now() < deadline, "the server never stopped");
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = api.action(q.id, json!({"console": {"type": "vnc"}}));
    assert_eq!(r.status(), 409);
    let late = vncdo_capture(
        port_of(&c),
        c["password"].as_str().unwrap(),
        &shot_path("vncdo-stopped.png"),
    );
    assert!(late.is_err(), "a console of a STOPPED server opened");
}

#[test]
fn kamaki_server_console_gives_a_password_vncdotool_logs_in_with() {
    let q = Qemu::start();
    let kamaki = common::kamaki::Kamaki::new(&q.g, &q.token);
    let id = q.id.to_string();
    let r = kamaki.run(&["server", "console", &id]).ok();
    assert_eq!(r.field("type"), "vnc");
    assert_eq!(r.field("host"), "127.0.0.1");
    assert!(
        r.field("url").contains("/console/#token="),
        "{}",
        r.report()
    );
    let port: u16 = r.field("port").parse().expect("a port number");
    let png = shot_path("kamaki-vncdo.png");
    vncdo_capture(port, r.field("password"), &png).expect("vncdo with kamaki's password");
    assert!(png_colours(&png).0 > 1, "blank screen");

    // kamaki's websocket type: the gateway's own port, and a page URL.
    let r = kamaki
        .run(&["server", "console", &id, "--type", "vnc-ws"])
        .ok();
    assert_eq!(r.field("type"), "vnc-ws");
    let gw_port = q.g.url.rsplit(':').next().unwrap();
    assert_eq!(r.field("port"), gw_port);
}

/// A websocket upgrade of `/console/websocket?token=T` without an Origin (a non-browser
/// viewer); the answer's head, and the stream when it switched protocols.
fn open_websocket(g: &Gateway, token: &str) -> (String, std::net::TcpStream) {
    use std::io::{Read, Write};
    let addr = g.url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /console/websocket?token={token} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: binary\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    (String::from_utf8_lossy(&head).into_owned(), s)
}

#[test]
fn the_first_credential_used_consumes_the_console() {
    use std::io::Read;
    let q = Qemu::start();
    // A vnc console's url, used first: its TCP port closes.
    let c = q.console("vnc");
    let token = c["url"]
        .as_str()
        .unwrap()
        .rsplit("#token=")
        .next()
        .unwrap()
        .to_owned();
    let (head, mut ws) = open_websocket(&q.g, &token);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-protocol: binary"),
        "{head}"
    );
    // The first binary frame carries the proxy's RFB banner (an unmasked server frame:
    // 0x82, length 12).
    let mut frame = [0u8; 14];
    ws.read_exact(&mut frame).unwrap();
    assert_eq!(&frame[..2], &[0x82, 12]);
    assert_eq!(&frame[2..], b"RFB 003.008\n");
    let tcp = vncdo_capture(
        port_of(&c),
        c["password"].as_str().unwrap(),
        &shot_path("vncdo-after-ws.png"),
    );
    assert!(
        tcp.is_err(),
        "the password still worked after the link was used"
    );
    // The same token again: 401.
    let (head, _) = open_websocket(&q.g, &token);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");

    // A password used first: the link is refused.
    let c = q.console("vnc");
    vncdo_capture(
        port_of(&c),
        c["password"].as_str().unwrap(),
        &shot_path("vncdo-before-ws.png"),
    )
    .expect("vncdo with the password");
    let token = c["url"]
        .as_str()
        .unwrap()
        .rsplit("#token=")
        .next()
        .unwrap()
        .to_owned();
    let (head, _) = open_websocket(&q.g, &token);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
}
