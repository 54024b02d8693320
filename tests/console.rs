//! The console's HTTP surface on the real binary with the simulated backend: the console
//! action's refusals (the simulated backend has no screen), the console page and its
//! library, and the websocket's refusals. Consoles of real screens (QEMU-backed servers):
//! `tests/console_qemu.rs`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Gateway;
use common::compute::{Api, fast, image};
use serde_json::{Value, json};

/// A server that reached ACTIVE.
fn active_server(a: &Api, img: &str) -> i64 {
    let id = a.server(img, "vm");
    a.wait_for(id, "ACTIVE");
    id
}

#[test]
fn the_simulated_backend_says_its_servers_have_no_screen() {
    let g = Gateway::start_with(fast());
    let img = image(&g);
    let a = Api::new(&g, &g.user("alice", &[]));
    let b = Api::new(&g, &g.user("bob", &[]));
    let id = active_server(&a, &img);
    for kind in ["vnc", "vnc-ws"] {
        let r = a.action(id, json!({"console": {"type": kind}}));
        assert_eq!(r.status(), 409);
        let v: Value = r.json().unwrap();
        let msg = v["conflict"]["message"].as_str().unwrap();
        assert!(msg.contains("simulated compute backend"), "{msg}");
    }
    // In XML too.
    let r = a
        .req(
            reqwest::Method::POST,
            &format!("/compute/v2.0/servers/{id}/action?xml"),
        )
        .header("Content-Type", "application/json")
        .body(json!({"console": {"type": "vnc"}}).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().unwrap().contains("<conflict"));
    // The type is checked first, the owner before everything.
    let r = a.action(id, json!({"console": {"type": "rdp"}}));
    assert_eq!(r.status(), 400);
    let r = b.action(id, json!({"console": {"type": "vnc"}}));
    assert_eq!(r.status(), 404);
    // Not ACTIVE: 409 from the state machine.
    assert_eq!(a.action(id, json!({"shutdown": {}})).status(), 202);
    a.wait_for(id, "STOPPED");
    let r = a.action(id, json!({"console": {"type": "vnc"}}));
    assert_eq!(r.status(), 409);
    let v: Value = r.json().unwrap();
    assert!(
        !v["conflict"]["message"]
            .as_str()
            .unwrap()
            .contains("simulated"),
        "{v}"
    );
}

/// A raw HTTP/1.1 websocket upgrade request; the status line and headers of the answer.
fn upgrade(g: &Gateway, path_and_query: &str, origin: Option<&str>) -> String {
    let addr = g.url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: binary\r\n\
         {origin}Accept: application/json\r\n\r\n"
    )
    .unwrap();
    let mut buf = vec![0u8; 8192];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    // The body, for the fault's message.
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    if let Ok(n) = s.read(&mut buf) {
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn raw_get(g: &Gateway, path: &str) -> String {
    let addr = g.url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn the_websocket_refuses_bad_tokens_alike_and_other_sites() {
    let g = Gateway::start();
    let own = g.url.clone();
    for q in [
        "/console/websocket",
        "/console/websocket?token=",
        "/console/websocket?token=00ff",
    ] {
        let r = upgrade(&g, q, Some(&own));
        assert!(r.starts_with("HTTP/1.1 401"), "{q}: {r}");
        assert!(r.contains("a console link works once, within 30 s"), "{r}");
    }
    let r = upgrade(
        &g,
        "/console/websocket?token=00ff",
        Some("https://evil.example.org"),
    );
    assert!(r.starts_with("HTTP/1.1 403"), "{r}");
    assert!(r.contains("not from https://evil.example.org"), "{r}");
    // Without an upgrade: 400 in the compute fault format.
    let r = g
        .client()
        .get(g.url("/console/websocket?token=x"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().unwrap();
    assert!(
        v["badRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("websocket")
    );
}

#[test]
fn the_console_page_and_its_library_are_served_without_a_token() {
    let g = Gateway::start();
    let r = g.client().get(g.url("/console/")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = r.text().unwrap();
    for needed in ["id=\"status\"", "Ctrl-Alt-Del", "Full screen", "console.js"] {
        assert!(page.contains(needed), "the page lacks {needed}");
    }
    let r = g.client().get(g.url("/console/console.js")).send().unwrap();
    assert_eq!(r.status(), 200);
    let js = r.text().unwrap();
    assert!(js.contains("./novnc/core/rfb.js") && js.contains("scaleViewport = true"));

    // noVNC from web/node_modules (tests/clients/console_setup.sh installs it).
    let out = std::process::Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/console_setup.sh"
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = g
        .client()
        .get(g.url("/console/novnc/core/rfb.js"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(r.text().unwrap().contains("export default class RFB"));
    // Sent as raw bytes: an HTTP client library would resolve the dot segments itself.
    for missing in [
        "/console/novnc/nothing.js",
        "/console/novnc/../../Cargo.toml",
        "/console/novnc/%2e%2e/%2e%2e/Cargo.toml",
        "/console/novnc/core/..%2f..%2fpackage.json",
    ] {
        let r = raw_get(&g, missing);
        assert!(r.starts_with("HTTP/1.1 404"), "{missing}: {r}");
        assert!(r.contains("itemNotFound"), "{missing}: {r}");
    }
}
