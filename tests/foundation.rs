//! Black-box tests of the foundation: identity, faults, negotiation, version documents,
//! flavors, persistence across restarts, the data-dir lock, idle connections, shutdown.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Gateway, Options, assert_well_formed, cli, cli_last_line, normalize, xml_body};
use serde_json::{Value, json};

fn json_of(r: reqwest::blocking::Response) -> Value {
    r.json().expect("JSON body")
}

fn assert_fault(body: &Value, name: &str, code: u16) {
    let fault = &body[name];
    assert!(fault.is_object(), "expected a {name} fault, got {body}");
    assert_eq!(
        fault["code"],
        json!(code),
        "code must be a JSON integer: {body}"
    );
    assert!(
        fault["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(fault["details"].is_string(), "{body}");
}

#[test]
fn token_is_required_and_checked() {
    let g = Gateway::start();
    let c = g.client();
    // missing
    let r = c.get(g.url("/compute/v2.0/flavors")).send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_fault(&json_of(r), "unauthorized", 401);
    // unknown
    let r = g.get("/compute/v2.0/flavors/detail", "not-a-token");
    assert_eq!(r.status(), 401);
    assert_fault(&json_of(r), "unauthorized", 401);
    // XML fault
    let body = xml_body(g.get("/compute/v2.0/flavors?xml", "nope"), 401);
    assert!(
        body.contains("<unauthorized xmlns=\"http://docs.openstack.org/compute/api/v1.1\""),
        "{body}"
    );
    assert!(body.contains("code=\"401\""), "{body}");
    // expired
    cli_last_line(&g.data_dir, &["user", "create", "shortlived"]);
    let t = cli_last_line(&g.data_dir, &["token", "issue", "shortlived", "--ttl", "1"]);
    assert_eq!(g.get("/compute/v2.0/flavors", &t).status(), 200);
    std::thread::sleep(Duration::from_millis(2100));
    let r = g.get("/compute/v2.0/flavors", &t);
    assert_eq!(r.status(), 401);
    assert_fault(&json_of(r), "unauthorized", 401);
    // revoked
    let t = cli_last_line(&g.data_dir, &["token", "issue", "shortlived"]);
    assert_eq!(g.get("/compute/v2.0/flavors", &t).status(), 200);
    cli_last_line(&g.data_dir, &["token", "revoke", &t]);
    assert_eq!(g.get("/compute/v2.0/flavors", &t).status(), 401);
}

#[test]
fn unknown_urls_and_wrong_methods_are_bad_requests() {
    let g = Gateway::start();
    let t = g.admin_token();
    let r = g.get("/compute/v2.0/no-such-thing", &t);
    assert_eq!(r.status(), 400);
    assert_fault(&json_of(r), "badRequest", 400);
    let r = g.get("/compute/v2.0/no-such-thing?xml", &t);
    assert_eq!(r.status(), 400);
    let body = r.text().unwrap();
    assert_well_formed(&body);
    assert!(
        body.contains("<badRequest") && body.contains("code=\"400\""),
        "{body}"
    );

    let r = g
        .client()
        .delete(g.url("/compute/v2.0/flavors"))
        .header("X-Auth-Token", &t)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let body = json_of(r);
    assert_fault(&body, "badRequest", 400);
    assert!(
        body["badRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("allowed: GET"),
        "{body}"
    );
    let r = g
        .client()
        .post(g.url("/compute/v2.0/flavors/1"))
        .header("X-Auth-Token", &t)
        .header("Accept", "application/xml")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let body = r.text().unwrap();
    assert_well_formed(&body);
    assert!(body.contains("<badRequest"), "{body}");
    // Asking for both representations at once.
    let r = g.get("/compute/v2.0/flavors?json&xml", &t);
    assert_eq!(r.status(), 400);
    assert_fault(&json_of(r), "badRequest", 400);
}

#[test]
fn request_bodies_are_checked() {
    let g = Gateway::start_with(Options::default().env("CYCLADES_MAX_JSON_BODY", "2048"));
    let c = g.client();
    let url = g.url("/identity/v2.0/tokens");
    // malformed JSON: the message names line and column
    let r = c
        .post(&url)
        .header("Content-Type", "application/json")
        .body("{\"auth\": {\n  \"token\": {\"id\": 12,}\n}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let body = json_of(r);
    assert_fault(&body, "badRequest", 400);
    let msg = body["badRequest"]["message"].as_str().unwrap();
    assert!(msg.contains("line 2 column"), "{msg}");
    // wrong Content-Type
    let r = c
        .post(&url)
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_fault(&json_of(r), "badMediaType", 415);
    // too large
    let big = format!(
        "{{\"auth\": {{\"token\": {{\"id\": \"{}\"}}}}}}",
        "x".repeat(4096)
    );
    let r = c
        .post(&url)
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_fault(&json_of(r), "overLimit", 413);
    // well-formed but wrong shape
    let r = c
        .post(&url)
        .header("Content-Type", "application/json")
        .body("{\"auth\": 3}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_fault(&json_of(r), "badRequest", 400);
}

#[test]
fn every_response_carries_a_request_id() {
    let g = Gateway::start();
    let t = g.admin_token();
    for r in [
        g.get("/compute/v2.0/flavors", &t),
        g.get("/compute/v2.0/flavors", "bad"),
        g.get("/nowhere", &t),
        g.client().get(g.url("/")).send().unwrap(),
    ] {
        let id = r.headers()["x-openstack-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(id.starts_with("req-") && id.len() > 30, "{id}");
    }
}

#[test]
fn flavors_in_json_and_xml() {
    let g = Gateway::start();
    let t = g.admin_token();
    let id = cli_last_line(
        &g.data_dir,
        &[
            "flavor",
            "create",
            "--name",
            "<&\"'> ünï",
            "--vcpus",
            "8",
            "--ram",
            "8192",
            "--disk",
            "80",
            "--disk-template",
            "drbd",
        ],
    );
    assert_eq!(id, "5");
    for (path, name) in [
        ("/compute/v2.0/flavors", "flavors_list"),
        ("/compute/v2.0/flavors/detail", "flavors_detail"),
        ("/compute/v2.0/flavors/5", "flavor_show"),
    ] {
        let r = g.get(path, &t);
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"],
            "application/json; charset=UTF-8"
        );
        let body: Value = serde_json::from_str(&normalize(&g, &r.text().unwrap())).unwrap();
        insta::assert_json_snapshot!(format!("{name}_json"), body);

        for xml_path in [format!("{path}?xml")] {
            let r = g.get(&xml_path, &t);
            assert_eq!(r.status(), 200);
            assert_eq!(
                r.headers()["content-type"],
                "application/xml; charset=UTF-8"
            );
            let body = normalize(&g, &r.text().unwrap());
            assert_well_formed(&body);
            insta::assert_snapshot!(format!("{name}_xml"), body);
        }
        // Accept header works like ?xml.
        let r = g
            .client()
            .get(g.url(path))
            .header("X-Auth-Token", &t)
            .header("Accept", "application/xml")
            .send()
            .unwrap();
        assert_eq!(
            r.headers()["content-type"],
            "application/xml; charset=UTF-8"
        );
    }
    // Malformed and unknown ids.
    let r = g.get("/compute/v2.0/flavors/abc", &t);
    assert_eq!(r.status(), 400);
    assert_fault(&json_of(r), "badRequest", 400);
    let r = g.get("/compute/v2.0/flavors/999", &t);
    assert_eq!(r.status(), 404);
    assert_fault(&json_of(r), "itemNotFound", 404);
    // Bookmark links lead to the versioned resource.
    let r = g.get("/compute/flavors/5", &t);
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/compute/v2.0/flavors/5");
    // Deleted flavors disappear.
    cli_last_line(&g.data_dir, &["flavor", "delete", "5"]);
    assert_eq!(g.get("/compute/v2.0/flavors/5", &t).status(), 404);
}

#[test]
fn version_documents() {
    let g = Gateway::start();
    let c = g.client();
    let get = |p: &str| c.get(g.url(p)).send().unwrap();

    let r = get("/");
    assert_eq!(r.status(), 200);
    let body = json_of(r);
    let types: Vec<&str> = body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    for t in ["identity", "account", "compute", "network", "image"] {
        assert!(types.contains(&t), "{body}");
    }

    let r = get("/compute");
    assert_eq!(r.status(), 200);
    let body = json_of(r);
    let v = &body["versions"][0];
    assert_eq!(v["id"], "v2.0");
    assert_eq!(v["links"][0]["rel"], "self");
    assert_eq!(v["links"][0]["href"], format!("{}/compute/v2.0/", g.url));
    assert_eq!(v["links"][1]["rel"], "describedby");
    let r = get("/compute?xml");
    let body = r.text().unwrap();
    assert_well_formed(&body);
    assert!(body.contains("<version id=\"v2.0\""), "{body}");
    let r = get("/compute/v2.0");
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r)["version"]["id"], "v2.0");

    let r = get("/identity");
    assert_eq!(r.status(), 300);
    let body = json_of(r);
    assert_eq!(body["versions"]["values"][0]["id"], "v2.0");
    assert_eq!(body["versions"]["values"][0]["status"], "stable");
    let r = get("/identity/v2.0");
    assert_eq!(r.status(), 200);
    assert_eq!(
        json_of(r)["version"]["links"][0]["href"],
        format!("{}/identity/v2.0/", g.url)
    );

    for (p, status) in [("/image", 300), ("/image/", 300), ("/image/versions", 200)] {
        let r = get(p);
        assert_eq!(r.status(), status, "{p}");
        let body = json_of(r);
        let versions = body["versions"].as_array().unwrap();
        assert!(versions.iter().any(|v| v["id"] == "v2.0"));
        assert!(versions.iter().all(|v| v["links"][0]["rel"] == "self"));
    }
    // The OpenAPI document is served.
    let r = get("/api-docs/openapi.json");
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r)["openapi"], "3.1.0");
}

#[test]
fn identity_tokens_and_catalog() {
    let g = Gateway::start();
    let c = g.client();
    let t = g.user("kim", &["--password", "pa55word", "--project", "proj-kim"]);
    let post = |body: Value| {
        c.post(g.url("/identity/v2.0/tokens"))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap()
    };
    // Token credentials: the same token comes back (kamaki relies on it).
    let r = post(json!({"auth": {"token": {"id": t}}}));
    assert_eq!(r.status(), 200);
    let a = json_of(r);
    let access = &a["access"];
    assert_eq!(access["token"]["id"], json!(t));
    assert!(access["token"]["expires"].as_str().unwrap().ends_with('Z'));
    assert_eq!(access["token"]["tenant"]["id"], "proj-kim");
    assert_eq!(access["user"]["name"], "kim");
    assert!(access["user"]["id"].as_str().unwrap().len() >= 32);
    let catalog = access["serviceCatalog"].as_array().unwrap();
    let account = catalog
        .iter()
        .find(|s| s["name"] == "astakos_account")
        .unwrap();
    assert_eq!(account["type"], "account");
    assert_eq!(account["endpoints"][0]["versionId"], "v1.0");
    assert!(account["endpoints"][0]["SNF:uiURL"].is_string());
    for (kind, path) in [
        ("compute", "/compute"),
        ("network", "/network"),
        ("image", "/image"),
        ("identity", "/identity/v2.0"),
    ] {
        let svc: Vec<&Value> = catalog.iter().filter(|s| s["type"] == kind).collect();
        assert_eq!(svc.len(), 1, "one endpoint per type: {kind}");
        let ep = &svc[0]["endpoints"][0];
        assert_eq!(ep["publicURL"], format!("{}{path}", g.url));
        for k in ["region", "internalURL", "adminURL"] {
            assert!(ep[k].is_string(), "{kind} endpoint lacks {k}");
        }
    }
    // Password credentials give a new, working token.
    let r = post(
        json!({"auth": {"passwordCredentials": {"username": "kim", "password": "pa55word"}, "tenantName": "proj-kim"}}),
    );
    assert_eq!(r.status(), 200);
    let new = json_of(r)["access"]["token"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new, t);
    assert_eq!(g.get("/compute/v2.0/flavors", &new).status(), 200);
    // Wrong password, unknown user, wrong project.
    for body in [
        json!({"auth": {"passwordCredentials": {"username": "kim", "password": "nope"}}}),
        json!({"auth": {"passwordCredentials": {"username": "who", "password": "nope"}}}),
        json!({"auth": {"passwordCredentials": {"username": "kim", "password": "pa55word"}, "tenantId": "other"}}),
        json!({"auth": {"token": {"id": "forged"}}}),
    ] {
        let r = post(body);
        assert_eq!(r.status(), 401);
        assert_fault(&json_of(r), "unauthorized", 401);
    }
    // Neither credential.
    let r = post(json!({"auth": {}}));
    assert_eq!(r.status(), 400);

    // user_catalogs: ids ↔ names.
    let uid = access["user"]["id"].as_str().unwrap().to_owned();
    let r = c
        .post(g.url("/account/v1.0/user_catalogs"))
        .header("X-Auth-Token", &t)
        .header("Content-Type", "application/json")
        .body(json!({"uuids": [uid, "unknown", "proj-kim"]}).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = json_of(r);
    assert_eq!(body["uuid_catalog"][&uid], "kim");
    assert!(body["uuid_catalog"].get("unknown").is_none());
    // Project (tenant) ids resolve too: image owners and members are project ids.
    assert_eq!(body["uuid_catalog"]["proj-kim"], "proj-kim");
    let r = c
        .post(g.url("/account/v1.0/user_catalogs"))
        .header("X-Auth-Token", &t)
        .header("Content-Type", "application/json")
        .body(json!({"displaynames": ["kim"]}).to_string())
        .send()
        .unwrap();
    assert_eq!(json_of(r)["displayname_catalog"]["kim"], json!(uid));
    // and it needs a token
    let r = c
        .post(g.url("/account/v1.0/user_catalogs"))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[test]
fn restart_keeps_users_tokens_and_flavors() {
    let dir = tempfile::tempdir().unwrap();
    let g = Gateway::start_in(dir.path(), Options::default()).unwrap();
    let admin = g.admin_token();
    let t = g.user("persist", &[]);
    let id = cli_last_line(
        dir.path(),
        &[
            "flavor", "create", "--name", "big", "--vcpus", "2", "--ram", "512", "--disk", "3",
        ],
    );
    let (status, rest) = g.stop();
    assert!(status.success(), "{status:?}");
    assert!(rest.iter().any(|l| l == "stopped"), "{rest:?}");

    let g = Gateway::start_in(dir.path(), Options::default()).unwrap();
    assert!(
        g.banner.iter().all(|l| !l.contains("admin token")),
        "admin token printed once only"
    );
    assert_eq!(g.get("/compute/v2.0/flavors", &admin).status(), 200);
    let r = g.get(&format!("/compute/v2.0/flavors/{id}"), &t);
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r)["flavor"]["name"], "big");
    let users = cli(dir.path(), &["user", "list"]);
    let listing = String::from_utf8_lossy(&users.stdout);
    assert!(
        listing.contains("persist") && listing.contains("admin"),
        "{listing}"
    );
}

#[test]
fn two_servers_cannot_share_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let g = Gateway::start_in(dir.path(), Options::default()).unwrap();
    let t = g.admin_token();
    let err = match Gateway::start_in(dir.path(), Options::default()) {
        Ok(_) => panic!("a second server started on the same data dir"),
        Err(e) => e,
    };
    assert!(err.contains("in use by another cyclades server"), "{err}");
    // The first one is unharmed.
    assert_eq!(g.get("/compute/v2.0/flavors/detail", &t).status(), 200);
    let out = cli(dir.path(), &["db", "migrate"]);
    assert!(out.status.success());
}

#[test]
fn idle_connections_are_closed() {
    let g = Gateway::start_with(Options::default().env("CYCLADES_IDLE_TIMEOUT_SECS", "1"));
    let addr = g.url.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Now idle: the gateway must close the connection by itself (read returns 0).
    let started = std::time::Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(8) {
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(
        closed,
        "idle connection still open after {:?}",
        started.elapsed()
    );
}

#[test]
fn cli_reports_mistakes_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        dir.path(),
        &[
            "flavor", "create", "--name", "x", "--vcpus", "0", "--ram", "512", "--disk", "1",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("vcpus"));
    let out = cli(dir.path(), &["token", "issue", "ghost"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user named 'ghost'"));
    cli_last_line(dir.path(), &["user", "create", "dup"]);
    let out = cli(dir.path(), &["user", "create", "dup"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "listen = 12").unwrap();
    let out = cli(
        dir.path(),
        &["--config", cfg.to_str().unwrap(), "user", "list"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid configuration"));
}

#[test]
fn version_and_identity_documents_snapshots() {
    let g = Gateway::start();
    let c = g.client();
    for (path, name) in [
        ("/", "root"),
        ("/compute", "compute_versions"),
        ("/compute/v2.0", "compute_version"),
        ("/identity", "identity_versions"),
        ("/identity/v2.0", "identity_version"),
        ("/image/", "image_versions"),
        ("/network", "network_versions"),
    ] {
        let body = c.get(g.url(path)).send().unwrap().text().unwrap();
        let v: Value = serde_json::from_str(&common::stable(&g, &body)).unwrap();
        insta::assert_json_snapshot!(format!("{name}_json"), v);
    }
    for (path, name) in [
        ("/compute?xml", "compute_versions"),
        ("/compute/v2.0?xml", "compute_version"),
    ] {
        let body = c.get(g.url(path)).send().unwrap().text().unwrap();
        assert_well_formed(&body);
        insta::assert_snapshot!(format!("{name}_xml"), common::stable(&g, &body));
    }
    let t = g.user("snap", &["--project", "proj-snap"]);
    let body = c
        .post(g.url("/identity/v2.0/tokens"))
        .header("Content-Type", "application/json")
        .body(json!({"auth": {"token": {"id": t}}}).to_string())
        .send()
        .unwrap()
        .text()
        .unwrap();
    let body = common::stable(&g, &body.replace(&t, "TOKEN"));
    insta::assert_json_snapshot!(
        "token_access_json",
        serde_json::from_str::<Value>(&body).unwrap()
    );
}

#[test]
fn shutdown_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let g = Gateway::start_in(dir.path(), Options::default()).unwrap();
    let t = g.admin_token();
    let r = g
        .client()
        .post(g.url("/image/v2/images"))
        .header("X-Auth-Token", &t)
        .header("Content-Type", "application/json")
        .body(r#"{"name": "slow"}"#)
        .send()
        .unwrap();
    let id = json_of(r)["id"].as_str().unwrap().to_owned();
    // A slow upload is under way when SIGTERM arrives; it still completes.
    let addr = g.url.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "PUT /image/v2/images/{id}/file HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: {t}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 4000\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    s.write_all(&[7u8; 2000]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = g.pid();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(&[7u8; 2000]).unwrap();
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 204"), "{response}");
    let (status, rest) = g.stop();
    assert!(status.success(), "{status:?}");
    assert!(rest.iter().any(|l| l == "stopped"), "{rest:?}");
    // The upload is committed: after a restart the image is active.
    let g = Gateway::start_in(dir.path(), Options::default()).unwrap();
    let r = g.get(&format!("/image/v2/images/{id}"), &t);
    assert_eq!(json_of(r)["status"], "active");
}
