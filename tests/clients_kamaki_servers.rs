//! The real kamaki 0.16 CLI against the real gateway: the `server` commands.
//!
//! `tests/clients/kamaki_setup.sh` installs kamaki into `.venv-kamaki/` once (the first run
//! needs PyPI); every test starts its own gateway on the simulated compute backend, writes a
//! kamaki config into a throw-away HOME and runs `kamaki server …` against it, asserting on
//! what kamaki prints and checking through the HTTP API what it changed. What kamaki sends
//! and which success codes it checks (exactly) is written down in `../shared/CLIENTS.md`.
//!
//! `server info --stats` is not implemented on the gateway yet and is not tested here;
//! `server console` needs a server with a screen, so it is tested on the QEMU backend in
//! `tests/console_qemu.rs`.

mod common;

use std::time::{Duration, Instant};

use common::{Gateway, Options};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// kamaki

use common::kamaki::{Kamaki, block, block_has};

// ---------------------------------------------------------------------------------------
// the gateway and its HTTP API

/// Fast simulated builds and actions; `op` is the duration of start, shutdown and reboot.
fn gateway(build_secs: &str, op_secs: &str) -> Gateway {
    Gateway::start_with(
        Options::default()
            .env("CYCLADES_BACKEND", "simulated")
            .env("CYCLADES_SIMULATED_BUILD_SECS", build_secs)
            .env("CYCLADES_SIMULATED_OP_SECS", op_secs),
    )
}

/// Plain HTTP with one user's token, to make images and servers and to check what kamaki
/// changed.
struct Api<'a> {
    g: &'a Gateway,
    token: String,
}

impl Api<'_> {
    fn send(&self, m: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .g
            .client()
            .request(m.clone(), self.g.url(path))
            .header("X-Auth-Token", &self.token);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let r = req.send().unwrap_or_else(|e| panic!("{m} {path}: {e}"));
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn get(&self, path: &str) -> Value {
        let (status, v) = self.send(reqwest::Method::GET, path, None);
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    fn server(&self, id: &str) -> Value {
        self.get(&format!("/compute/v2.0/servers/{id}"))["server"].clone()
    }

    fn status(&self, id: &str) -> String {
        self.server(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn wait_for(&self, id: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.server(id);
            if s["status"] == want {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "server {id} never became {want}: {s:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Creates a server over HTTP and returns its id.
    fn create_server(&self, name: &str, image: &str, metadata: Value) -> String {
        let (status, v) = self.send(
            reqwest::Method::POST,
            "/compute/v2.0/servers",
            Some(
                json!({"server": {"name": name, "imageRef": image, "flavorRef": 1,
                "metadata": metadata}}),
            ),
        );
        assert_eq!(status, 202, "POST /compute/v2.0/servers: {v}");
        v["server"]["id"].as_i64().expect("integer id").to_string()
    }

    /// An active server over HTTP.
    fn active_server(&self, name: &str, image: &str) -> String {
        let id = self.create_server(name, image, json!({}));
        self.wait_for(&id, "ACTIVE");
        id
    }
}

/// A user in its own project.
fn user<'a>(g: &'a Gateway, name: &str) -> Api<'a> {
    let project = format!("{name}-project");
    Api {
        g,
        token: g.user(name, &["--project", &project]),
    }
}

/// An active public image with `os` and `users` properties, owned by the admin.
fn image(g: &Gateway) -> String {
    let admin = Api {
        g,
        token: g.admin_token(),
    };
    let (status, v) = admin.send(
        reqwest::Method::POST,
        "/image/v2/images",
        Some(
            json!({"name": "debian", "visibility": "public", "disk_format": "raw",
            "container_format": "bare", "os": "debian", "users": "root"}),
        ),
    );
    assert_eq!(status, 201, "create image: {v}");
    let id = v["id"].as_str().expect("image id").to_owned();
    let r = g
        .client()
        .put(g.url(&format!("/image/v2/images/{id}/file")))
        .header("X-Auth-Token", &admin.token)
        .header("Content-Type", "application/octet-stream")
        .body(vec![7u8; 4096])
        .send()
        .expect("PUT file");
    assert_eq!(r.status(), 204, "upload: {}", r.text().unwrap_or_default());
    id
}

// ---------------------------------------------------------------------------------------
// server list

#[test]
fn server_list_and_list_detail() {
    let g = gateway("0.4", "0.2");
    let img = image(&g);
    let a = user(&g, "sla");
    let web = a.create_server("kamaki-web", &img, json!({"role": "web"}));
    let db = a.create_server("kamaki-db", &img, json!({"role": "db"}));
    a.wait_for(&web, "ACTIVE");
    a.wait_for(&db, "ACTIVE");
    // Another user's server is never listed.
    let b = user(&g, "slb");
    let theirs = b.create_server("kamaki-theirs", &img, json!({}));
    let k = Kamaki::new(&g, &a.token);

    // GET /servers: kamaki prints `id name` lines.
    let r = k.run(&["server", "list"]).ok();
    r.expect_line(&format!("{web} kamaki-web"));
    r.expect_line(&format!("{db} kamaki-db"));
    assert!(!r.stdout.contains("kamaki-theirs"), "{}", r.report());
    assert!(!r.stdout.contains("status:"), "{}", r.report());
    assert_eq!(r.lines().len(), 2, "{}", r.report());

    // GET /servers/detail: every attribute under each entry.
    let r = k.run(&["server", "list", "-l"]).ok();
    let header = format!("{web} kamaki-web");
    for want in [
        "status: ACTIVE",
        "progress: 100",
        "role: web",
        "os: debian",
        "users: root",
        "flavorRef: 1",
        &format!("imageRef: {img}"),
        &format!("id: nic-{web}-0"),
        "network_id: public",
        "tenant_id: sla-project",
        "suspended: False",
    ] {
        block_has(&r, &header, want);
    }
    block_has(&r, &format!("{db} kamaki-db"), "role: db");
    assert!(!r.stdout.contains("kamaki-theirs"), "{}", r.report());

    // server reassign: POST …/action {"reassign": {"project": …}} → 200.
    k.run(&["server", "reassign", &web, "--project-id", "sla-project"])
        .ok();

    // kamaki filters on its side, from /servers/detail.
    let r = k.run(&["server", "list", "--metadata", "role=db"]).ok();
    r.expect_line(&format!("{db} kamaki-db"));
    assert!(!r.stdout.contains("kamaki-web"), "{}", r.report());
    let r = k.run(&["server", "list", "--status", "ACTIVE"]).ok();
    r.expect_line(&format!("{web} kamaki-web"));
    r.expect_line(&format!("{db} kamaki-db"));
    let r = k.run(&["server", "list", "--image-id", &img]).ok();
    r.expect_line(&format!("{web} kamaki-web"));
    let r = k.run(&["server", "list", "--flavor-id", "1"]).ok();
    r.expect_line(&format!("{db} kamaki-db"));
    let r = k.run(&["server", "list", "--status", "STOPPED"]).ok();
    assert!(r.stdout.trim().is_empty(), "{}", r.report());

    // The same listing as JSON: integer ids.
    let r = k.run(&["server", "list", "--output-format", "json"]).ok();
    let mut ids: Vec<i64> = r
        .json()
        .as_array()
        .expect("a JSON list")
        .iter()
        .map(|s| s["id"].as_i64().expect("integer server id"))
        .collect();
    ids.sort_unstable();
    let mut want: Vec<i64> = [&web, &db].iter().map(|i| i.parse().unwrap()).collect();
    want.sort_unstable();
    assert_eq!(ids, want, "{}", r.report());
    assert_eq!(b.server(&theirs)["name"], "kamaki-theirs");
}

// ---------------------------------------------------------------------------------------
// server create, wait, info

#[test]
fn server_create_with_personality_and_metadata_then_wait_and_info() {
    // Builds take long enough that `server wait` really waits.
    let g = gateway("3", "0.2");
    let img = image(&g);
    let a = user(&g, "scr");
    let k = Kamaki::new(&g, &a.token);
    let local = k.file("motd", "hello from kamaki\n");
    let personality = format!("{local},/etc/motd,root,root,0600");

    // -vv shows the request kamaki sent; the command checks the answer is 202.
    let r = k
        .run(&[
            "server",
            "create",
            "--name",
            "kamaki-created",
            "--flavor-id",
            "1",
            "--image-id",
            &img,
            "-p",
            &personality,
            "-m",
            "color=blue",
            "-vv",
        ])
        .ok();
    let id = r.field("id").to_owned();
    assert!(id.parse::<i64>().is_ok_and(|i| i > 0), "{}", r.report());
    r.expect_line("name: kamaki-created");
    r.expect_line("status: BUILD");
    r.expect_line("flavorRef: 1");
    let pass = r.field("adminPass");
    assert!(
        pass.len() >= 8 && pass.chars().all(|c| c.is_ascii_alphanumeric()),
        "adminPass {pass:?}\n{}",
        r.report()
    );
    block_has(&r, "metadata:", "color: blue");
    assert!(r.stderr.contains("< 202 Accepted"), "{}", r.report());
    // The request carried the personality file (base64 of the local file, octal mode as
    // an integer) and the flavor as an integer.
    let sent: Value = r
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("> "))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("server").is_some())
        .unwrap_or_else(|| panic!("no POST /servers body in -vv output\n{}", r.report()));
    assert_eq!(
        sent["server"]["personality"],
        json!([{"path": "/etc/motd", "contents": "aGVsbG8gZnJvbSBrYW1ha2kK",
            "owner": "root", "group": "root", "mode": 384}]),
        "{}",
        r.report()
    );
    assert_eq!(sent["server"]["flavorRef"], 1);

    // The metadata arrived, with what kamaki copied from the image.
    let s = a.server(&id);
    assert_eq!(s["status"], "BUILD", "{s:#}");
    assert_eq!(s["metadata"]["color"], "blue", "{s:#}");
    assert_eq!(s["metadata"]["users"], "root", "{s:#}");
    assert_eq!(s["metadata"]["os"], "debian", "{s:#}");
    assert_eq!(s["name"], "kamaki-created");
    assert!(s.get("adminPass").is_none(), "the password is shown once");

    // server wait: polls while BUILD (progress drives its bar) and reports the new status.
    let started = Instant::now();
    let r = k.run(&["server", "wait", &id]).ok();
    r.expect_err_line(&format!("Server {id} status: ACTIVE"));
    assert!(
        started.elapsed() > Duration::from_millis(500),
        "kamaki did not wait\n{}",
        r.report()
    );
    assert_eq!(a.status(&id), "ACTIVE");
    // Once ACTIVE there is nothing to wait for.
    let r = k.run(&["server", "wait", &id]).ok();
    r.expect_err_line(&format!("Server {id} status: ACTIVE"));

    // server info: GET /servers/ID.
    let r = k.run(&["server", "info", &id]).ok();
    r.expect_line(&format!("id: {id}"));
    r.expect_line("name: kamaki-created");
    r.expect_line("status: ACTIVE");
    r.expect_line("progress: 100");
    r.expect_line(&format!("imageRef: {img}"));
    r.expect_line("tenant_id: scr-project");
    block_has(&r, "metadata:", "color: blue");
    block_has(&r, "attachments:", &format!("id: nic-{id}-0"));
    block_has(&r, "attachments:", "firewallProfile: DISABLED");
    block_has(&r, "image:", &format!("id: {img}"));
    block_has(&r, "flavor:", "id: 1");
    assert!(!block(&r, "diagnostics:").is_empty(), "{}", r.report());
    assert!(!r.stdout.contains("adminPass"), "{}", r.report());

    // server info --nics: GET /servers/ID/ips.
    let r = k.run(&["server", "info", &id, "--nics"]).ok();
    let nic = a.server(&id)["attachments"][0].clone();
    block_has(&r, "attachments:", &format!("id: nic-{id}-0"));
    block_has(&r, "attachments:", "network_id: public");
    for key in ["mac_address", "ipv4", "ipv6"] {
        let v = nic[key].as_str().expect(key);
        block_has(&r, "attachments:", &format!("{key}: {v}"));
        if key != "mac_address" {
            block_has(&r, "public:", &format!("addr: {v}"));
        }
    }
    assert!(!r.stdout.contains("status:"), "{}", r.report());

    // server info --diagnostics: GET /servers/ID/diagnostics, a top-level list.
    let r = k.run(&["server", "info", &id, "--diagnostics"]).ok();
    let api = a.get(&format!("/compute/v2.0/servers/{id}/diagnostics"));
    let api = api.as_array().expect("a list");
    assert!(!api.is_empty());
    for d in api {
        for key in ["message", "source", "level"] {
            let v = d[key].as_str().expect(key);
            assert!(
                r.stdout.lines().any(|l| l.trim() == format!("{key}: {v}")),
                "no {key}: {v}\n{}",
                r.report()
            );
        }
    }
    let r = k
        .run(&[
            "server",
            "info",
            &id,
            "--diagnostics",
            "--output-format",
            "json",
        ])
        .ok();
    assert_eq!(r.json(), Value::Array(api.clone()), "{}", r.report());

    // server info --stats: GET /servers/ID/stats; the graph URLs work without a token.
    let r = k
        .run(&["server", "info", &id, "--stats", "--output-format", "json"])
        .ok();
    let stats = r.json();
    assert_eq!(
        stats["serverRef"].as_i64().map(|v| v.to_string()),
        Some(id.clone()),
        "{}",
        r.report()
    );
    // The disk's two (a cyclades extension) come through kamaki as well.
    for graph in [
        "cpuBar",
        "cpuTimeSeries",
        "netBar",
        "netTimeSeries",
        "diskBar",
        "diskTimeSeries",
    ] {
        let url = stats[graph]
            .as_str()
            .unwrap_or_else(|| panic!("no {graph}: {}", r.report()));
        let img = reqwest::blocking::get(url).unwrap();
        assert_eq!(img.status(), 200, "{graph} {url}");
        assert_eq!(img.headers()["content-type"], "image/svg+xml", "{graph}");
    }
}

#[test]
fn server_create_wait_flag_waits_until_active() {
    let g = gateway("1.5", "0.2");
    let img = image(&g);
    let a = user(&g, "scw");
    let k = Kamaki::new(&g, &a.token);
    let r = k
        .run(&[
            "server",
            "create",
            "--name",
            "kamaki-waited",
            "--flavor-id",
            "1",
            "--image-id",
            &img,
            "-w",
        ])
        .ok();
    let id = r.field("id").to_owned();
    r.expect_line("status: BUILD");
    assert!(!r.field("adminPass").is_empty());
    r.expect_err_line(&format!("Server {id} status: ACTIVE"));
    let s = a.server(&id);
    assert_eq!(s["status"], "ACTIVE", "{s:#}");
    assert_eq!(s["progress"], 100, "{s:#}");
}

/// `-m` overrides what kamaki copies from the image (its help: "Overwrites metadata defined
/// otherwise (i.e., image)"): kamaki 0.16 (clients/cyclades/__init__.py:78-83) copies the
/// image's `metadata.os` and `metadata.users` with `setdefault`, so `-m os=ubuntu` sends
/// `{"os": "ubuntu", "users": "root"}`; the server must not contradict that with the image's
/// value under another spelling of the same key (`OS: debian`).
#[test]
fn server_create_metadata_overrides_the_image() {
    let g = gateway("0.4", "0.2");
    let img = image(&g);
    let a = user(&g, "smo");
    let k = Kamaki::new(&g, &a.token);
    let r = k
        .run(&[
            "server",
            "create",
            "--name",
            "kamaki-ubuntu",
            "--flavor-id",
            "1",
            "--image-id",
            &img,
            "-m",
            "os=ubuntu",
        ])
        .ok();
    let id = r.field("id").to_owned();
    let meta = a.server(&id)["metadata"].clone();
    assert_eq!(meta["os"], "ubuntu", "{meta:#}");
    assert_eq!(meta["users"], "root", "{meta:#}");
    for (key, value) in meta.as_object().expect("metadata object") {
        if key.eq_ignore_ascii_case("os") {
            assert_eq!(
                value, "ubuntu",
                "the server stores the image's OS next to the one kamaki sent \
                 (POST /servers had metadata {{\"os\": \"ubuntu\", \"users\": \"root\"}}): \
                 {meta:#}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// server modify

#[test]
fn server_modify_name_metadata_and_firewall() {
    let g = gateway("0.4", "0.2");
    let img = image(&g);
    let a = user(&g, "smd");
    let id = a.active_server("kamaki-before", &img);
    let k = Kamaki::new(&g, &a.token);

    // PUT /servers/ID → 204.
    k.run(&["server", "modify", &id, "--name", "kamaki-after"])
        .ok();
    assert_eq!(a.server(&id)["name"], "kamaki-after");
    let r = k.run(&["server", "list"]).ok();
    r.expect_line(&format!("{id} kamaki-after"));

    // POST /servers/ID/metadata → 201, merging.
    k.run(&[
        "server",
        "modify",
        &id,
        "--metadata-set",
        "color=blue",
        "--metadata-set",
        "size=xl",
    ])
    .ok();
    let meta = a.server(&id)["metadata"].clone();
    assert_eq!(meta["color"], "blue", "{meta:#}");
    assert_eq!(meta["size"], "xl", "{meta:#}");
    assert_eq!(meta["users"], "root", "{meta:#}");
    k.run(&["server", "modify", &id, "--metadata-set", "color=red"])
        .ok();
    let meta = a.server(&id)["metadata"].clone();
    assert_eq!(meta["color"], "red", "{meta:#}");
    assert_eq!(meta["size"], "xl", "{meta:#}");

    // DELETE /servers/ID/metadata/KEY → 204.
    k.run(&["server", "modify", &id, "--metadata-del", "color"])
        .ok();
    let meta = a.server(&id)["metadata"].clone();
    assert!(meta.get("color").is_none(), "{meta:#}");
    assert_eq!(meta["size"], "xl", "{meta:#}");
    let r = k.run(&["server", "info", &id]).ok();
    block_has(&r, "metadata:", "size: xl");
    assert!(!r.stdout.contains("color:"), "{}", r.report());
    // A key that is not there: 404, which kamaki explains.
    let r = k
        .run(&["server", "modify", &id, "--metadata-del", "color"])
        .failed();
    assert!(
        r.stderr
            .contains("No virtual server metadata with key color")
            && r.stderr.contains("404"),
        "{}",
        r.report()
    );

    // --firewall: kamaki reads the server's attachments, then POSTs firewallProfile with the
    // NIC as `nic` → 202.
    let r = k
        .run(&["server", "modify", &id, "--firewall", "PROTECTED"])
        .ok();
    r.expect_err_line(&format!("Set port nic-{id}-0 firewall to PROTECTED"));
    let s = a.server(&id);
    assert_eq!(s["attachments"][0]["firewallProfile"], "PROTECTED", "{s:#}");
    let r = k
        .run(&[
            "server",
            "modify",
            &id,
            "--firewall",
            "enabled",
            "--port-id",
            &format!("nic-{id}-0"),
        ])
        .ok();
    r.expect_err_line(&format!("Set port nic-{id}-0 firewall to ENABLED"));
    let s = a.server(&id);
    assert_eq!(s["attachments"][0]["firewallProfile"], "ENABLED", "{s:#}");
    let r = k.run(&["server", "info", &id, "--nics"]).ok();
    block_has(&r, "attachments:", "firewallProfile: ENABLED");
    // Nothing else changed, and the server kept running.
    assert_eq!(s["name"], "kamaki-after");
    assert_eq!(s["status"], "ACTIVE");
}

// ---------------------------------------------------------------------------------------
// server shutdown, start, reboot

#[test]
fn server_shutdown_start_and_reboots() {
    // Actions take long enough to be seen in progress.
    let g = gateway("0.4", "1.5");
    let img = image(&g);
    let a = user(&g, "spw");
    let id = a.active_server("kamaki-power", &img);
    let k = Kamaki::new(&g, &a.token);

    // shutdown: GET /servers/ID, POST {"shutdown": {}} → 202; then wait until STOPPED.
    k.run(&["server", "shutdown", &id]).ok();
    let s = a.server(&id);
    assert_eq!(s["SNF:task_state"], "shutdown", "{s:#}");
    let r = k.run(&["server", "wait", &id, "--until", "STOPPED"]).ok();
    assert!(
        r.stderr.contains(&format!("Server {id} status: STOPPED"))
            || r.stderr
                .contains(&format!("Server {id}: already in STOPPED")),
        "{}",
        r.report()
    );
    assert_eq!(a.status(&id), "STOPPED");
    // kamaki checks the status itself before asking again.
    let r = k.run(&["server", "shutdown", &id]).failed();
    assert!(
        r.stderr
            .contains(&format!("Server {id} is already STOPPED")),
        "{}",
        r.report()
    );
    // A stopped server cannot reboot: 409, reported.
    let r = k.run(&["server", "reboot", &id]).failed();
    assert!(
        r.stderr.contains("409") && r.stderr.contains("STOPPED"),
        "{}",
        r.report()
    );

    // start: POST {"start": {}} → 202; -w waits while STOPPED.
    let r = k.run(&["server", "start", &id, "-w"]).ok();
    r.expect_err_line(&format!("Server {id} status: ACTIVE"));
    assert_eq!(a.status(&id), "ACTIVE");
    let r = k.run(&["server", "start", &id]).failed();
    assert!(
        r.stderr.contains(&format!("Server {id} is already ACTIVE")),
        "{}",
        r.report()
    );

    // Soft reboot: POST {"reboot": {"type": "SOFT"}} → 202.
    k.run(&["server", "reboot", &id]).ok();
    let s = a.server(&id);
    assert_eq!(s["status"], "REBOOT", "{s:#}");
    assert_eq!(s["SNF:task_state"], "soft reboot", "{s:#}");
    let r = k.run(&["server", "wait", &id, "--while", "REBOOT"]).ok();
    r.expect_err_line(&format!("Server {id} status: ACTIVE"));

    // Hard reboot: POST {"reboot": {"type": "HARD"}} → 202.
    k.run(&["server", "reboot", &id, "--type", "hard"]).ok();
    let s = a.server(&id);
    assert_eq!(s["status"], "REBOOT", "{s:#}");
    assert_eq!(s["SNF:task_state"], "hard reboot", "{s:#}");
    // A second reboot while one runs: 409.
    let r = k.run(&["server", "reboot", &id, "--type", "HARD"]).failed();
    assert!(r.stderr.contains("409"), "{}", r.report());
    let r = k.run(&["server", "wait", &id, "--while", "REBOOT"]).ok();
    r.expect_err_line(&format!("Server {id} status: ACTIVE"));
    // And with -w, which waits while REBOOT.
    let r = k
        .run(&["server", "reboot", &id, "--type", "HARD", "-w"])
        .ok();
    r.expect_err_line(&format!("Server {id} status: ACTIVE"));

    // shutdown -w waits while ACTIVE.
    let r = k.run(&["server", "shutdown", &id, "-w"]).ok();
    r.expect_err_line(&format!("Server {id} status: STOPPED"));
    assert_eq!(a.status(&id), "STOPPED");
}

// ---------------------------------------------------------------------------------------
// server delete

#[test]
fn server_delete_wait_sees_deleted() {
    let g = gateway("0.4", "0.2");
    let img = image(&g);
    let a = user(&g, "sdl");
    let doomed = a.active_server("kamaki-doomed", &img);
    let kept = a.active_server("kamaki-kept", &img);
    let since = (chrono::Utc::now() - chrono::Duration::seconds(60))
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string();
    let k = Kamaki::new(&g, &a.token);

    // DELETE → 204, then kamaki polls while ACTIVE: the server answers DELETED, not 404.
    let r = k.run(&["server", "delete", &doomed, "-w"]).ok();
    r.expect_err_line(&format!("Server {doomed} status: DELETED"));
    let s = a.server(&doomed);
    assert_eq!(s["status"], "DELETED", "{s:#}");
    assert_eq!(a.status(&kept), "ACTIVE");

    let r = k.run(&["server", "list"]).ok();
    r.expect_line(&format!("{kept} kamaki-kept"));
    assert!(!r.stdout.contains("kamaki-doomed"), "{}", r.report());
    let r = k.run(&["server", "info", &doomed]).ok();
    r.expect_line("status: DELETED");
    // changes-since still lists it, as DELETED.
    let r = k.run(&["server", "list", "--since", &since, "-l"]).ok();
    block_has(&r, &format!("{doomed} kamaki-doomed"), "status: DELETED");
    block_has(&r, &format!("{kept} kamaki-kept"), "status: ACTIVE");

    // Delete without -w, then wait while ACTIVE (kamaki's --until takes no DELETED).
    k.run(&["server", "delete", &kept]).ok();
    let r = k.run(&["server", "wait", &kept, "--while", "ACTIVE"]).ok();
    r.expect_err_line(&format!("Server {kept} status: DELETED"));
    let r = k.run(&["server", "list"]).ok();
    assert!(r.stdout.trim().is_empty(), "{}", r.report());
}

// ---------------------------------------------------------------------------------------
// errors

#[test]
fn unknown_servers_flavors_and_images_are_reported() {
    let g = gateway("0.4", "0.2");
    let img = image(&g);
    let a = user(&g, "ser");
    let b = user(&g, "ser-other");
    let theirs = b.create_server("kamaki-theirs", &img, json!({}));
    let k = Kamaki::new(&g, &a.token);

    // Another user's server is a 404, like a missing one.
    for id in ["999999", theirs.as_str()] {
        for args in [
            &["server", "info", id][..],
            &["server", "shutdown", id][..],
            &["server", "delete", id][..],
            &["server", "modify", id, "--name", "x"][..],
            &["server", "wait", id][..],
        ] {
            let r = k.run(args).failed();
            assert!(
                r.stderr.contains(&format!("No servers with ID {id}")) && r.stderr.contains("404"),
                "{}",
                r.report()
            );
        }
    }
    assert_eq!(b.server(&theirs)["name"], "kamaki-theirs");

    // create with an unknown flavor: 404, then kamaki looks the flavor up and says so.
    let r = k
        .run(&[
            "server",
            "create",
            "--name",
            "x",
            "--flavor-id",
            "999999",
            "--image-id",
            &img,
        ])
        .failed();
    assert!(
        r.stderr.contains("No flavor with ID 999999") && r.stderr.contains("404"),
        "{}",
        r.report()
    );
    let r = k
        .run(&[
            "server",
            "create",
            "--name",
            "x",
            "--flavor-id",
            "1",
            "--image-id",
            "no-such-image",
        ])
        .failed();
    assert!(
        r.stderr.contains("No image with id no-such-image found") && r.stderr.contains("404"),
        "{}",
        r.report()
    );
    let r = k.run(&["server", "list"]).ok();
    assert!(r.stdout.trim().is_empty(), "{}", r.report());
}
