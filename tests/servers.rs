//! Black-box tests of the servers API over the simulated compute backend.

mod common;

use std::time::Duration;

use common::{Gateway, xml_body, xml_elements};
use serde_json::{Value, json};

use common::compute::{Api, fast, image};

fn create(api: &Api, body: Value) -> reqwest::blocking::Response {
    api.send(reqwest::Method::POST, "/compute/v2.0/servers", body)
}

#[test]
fn create_build_and_lifecycle() {
    let g = Gateway::start_with(fast());
    let img = image(&g);
    let a = Api::new(&g, &g.user("alice", &["--project", "proj-a"]));
    let r = create(
        &a,
        json!({"server": {"name": "web <1>", "imageRef": img, "flavorRef": 1, "metadata": {"role": "web"}}}),
    );
    assert_eq!(r.status(), 202);
    let v: Value = r.json().unwrap();
    let s = &v["server"];
    let id = s["id"].as_i64().expect("integer server id");
    assert_eq!(s["status"], "BUILD");
    assert_eq!(s["progress"], 0);
    assert_eq!(s["adminPass"].as_str().unwrap().len(), 12);
    assert_eq!(
        s["metadata"],
        json!({"role": "web", "os": "debian", "users": "root"})
    );
    assert_eq!(s["image"]["id"], json!(img));
    assert_eq!(s["flavor"]["id"], 1);
    assert_eq!(s["imageRef"], json!(img));
    let nic = &s["attachments"][0];
    assert_eq!(nic["id"], format!("nic-{id}-0"));
    assert_eq!(nic["network_id"], "public");
    assert!(
        nic["mac_address"]
            .as_str()
            .unwrap()
            .starts_with("aa:00:00:")
    );
    assert!(nic["ipv4"].as_str().unwrap().starts_with("10.128."));
    // EUI-64 from the MAC: aa:00:00:… gives a800:ff:fe… in the public /64.
    let ipv6 = nic["ipv6"].as_str().unwrap();
    assert!(ipv6.starts_with("2001:db8:128:0:a800:ff:fe"), "{ipv6}");
    assert_eq!(s["addresses"]["public"][0]["version"], 4);
    // The password is never shown again.
    let again = a.json(&format!("/compute/v2.0/servers/{id}"));
    assert!(again["server"].get("adminPass").is_none());
    // Actions while building: 409 buildInProgress.
    let r = a.action(id, json!({"shutdown": {}}));
    assert_eq!(r.status(), 409);
    assert!(r.json::<Value>().unwrap()["buildInProgress"]["message"].is_string());

    let v = a.wait_for(id, "ACTIVE");
    assert_eq!(v["server"]["progress"], 100);
    let diags = a.json(&format!("/compute/v2.0/servers/{id}/diagnostics"));
    assert!(diags.as_array().is_some_and(|d| !d.is_empty()), "{diags}");

    assert_eq!(a.action(id, json!({"start": {}})).status(), 409);
    assert_eq!(a.action(id, json!({"shutdown": {}})).status(), 202);
    a.wait_for(id, "STOPPED");
    assert_eq!(
        a.action(id, json!({"reboot": {"type": "SOFT"}})).status(),
        409
    );
    assert_eq!(a.action(id, json!({"start": {}})).status(), 202);
    a.wait_for(id, "ACTIVE");
    assert_eq!(
        a.action(id, json!({"reboot": {"type": "hard"}})).status(),
        202
    );
    assert_eq!(a.status(id), "REBOOT");
    a.wait_for(id, "ACTIVE");
    assert_eq!(
        a.action(id, json!({"reboot": {"type": "sideways"}}))
            .status(),
        400
    );
    assert_eq!(a.action(id, json!({"fly": {}})).status(), 400);
    assert_eq!(
        a.action(id, json!({"start": {}, "shutdown": {}})).status(),
        400
    );
    // Firewall profiles.
    let r = a.action(
        id,
        json!({"firewallProfile": {"profile": "PROTECTED", "nic": format!("nic-{id}-0")}}),
    );
    assert_eq!(r.status(), 202);
    let v = a.json(&format!("/compute/v2.0/servers/{id}"));
    assert_eq!(
        v["server"]["attachments"][0]["firewallProfile"],
        "PROTECTED"
    );
    assert_eq!(
        a.action(id, json!({"firewallProfile": {"profile": "OPEN"}}))
            .status(),
        400
    );
    assert_eq!(
        a.action(
            id,
            json!({"firewallProfile": {"profile": "ENABLED", "nic": "nic-0-9"}})
        )
        .status(),
        404
    );

    // Rename.
    let r = a.send(
        reqwest::Method::PUT,
        &format!("/compute/v2.0/servers/{id}"),
        json!({"server": {"name": "renamed"}}),
    );
    assert_eq!(r.status(), 204);
    assert_eq!(
        a.json(&format!("/compute/v2.0/servers/{id}"))["server"]["name"],
        "renamed"
    );

    // Delete: 204, then DELETED for the polling window, out of plain lists, in changes-since.
    let before = chrono::Utc::now() - chrono::Duration::seconds(2);
    let r = a.delete(&format!("/compute/v2.0/servers/{id}"));
    assert_eq!(r.status(), 204);
    let v = a.wait_for(id, "DELETED");
    assert!(
        v["server"]["attachments"].as_array().unwrap().is_empty(),
        "NICs are released"
    );
    let list = a.json("/compute/v2.0/servers");
    assert!(list["servers"].as_array().unwrap().is_empty(), "{list}");
    let since = before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let changed = a.json(&format!(
        "/compute/v2.0/servers/detail?changes-since={since}"
    ));
    assert_eq!(changed["servers"][0]["status"], "DELETED");
    assert_eq!(a.action(id, json!({"start": {}})).status(), 400);
}

#[test]
fn create_validates_everything() {
    let g = Gateway::start_with(fast().env("CYCLADES_SERVER_QUOTA", "2"));
    let img = image(&g);
    let a = Api::new(&g, &g.user("bob", &["--project", "proj-b"]));
    let ok = |extra: Value| {
        let mut s = json!({"name": "x", "imageRef": img, "flavorRef": 1});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        json!({"server": s})
    };
    let check = |body: Value, status: u16, fault: &str| {
        let r = create(&a, body.clone());
        assert_eq!(r.status(), status, "{body}");
        let v: Value = r.json().unwrap();
        assert!(v[fault]["message"].is_string(), "{v}");
        assert_eq!(v[fault]["code"], status);
    };
    check(
        json!({"server": {"imageRef": img, "flavorRef": 1}}),
        400,
        "badRequest",
    );
    check(ok(json!({"name": ""})), 400, "badRequest");
    check(
        ok(json!({"imageRef": "0c1f8a3e-0000-4000-8000-000000000000"})),
        404,
        "itemNotFound",
    );
    check(ok(json!({"flavorRef": 999})), 404, "itemNotFound");
    check(ok(json!({"flavorRef": "abc"})), 400, "badRequest");
    check(
        ok(json!({"personality": [{"path": "/etc/x", "contents": "***"}]})),
        400,
        "badRequest",
    );
    check(
        ok(json!({"personality": [{"path": "etc/x", "contents": "aGk="}]})),
        400,
        "badRequest",
    );
    check(
        ok(json!({"personality": [{"path": "/etc/x", "contents": "aGk=", "mode": "0600"}]})),
        400,
        "badRequest",
    );
    let big = base64_of(&vec![b'a'; 10241]);
    check(
        ok(json!({"personality": [{"path": "/etc/x", "contents": big}]})),
        413,
        "overLimit",
    );
    let many: Vec<Value> = (0..6)
        .map(|i| json!({"path": format!("/f{i}"), "contents": "aGk="}))
        .collect();
    check(ok(json!({"personality": many})), 413, "overLimit");
    let meta: serde_json::Map<String, Value> =
        (0..129).map(|i| (format!("k{i}"), json!("v"))).collect();
    check(ok(json!({"metadata": meta})), 413, "overLimit");
    check(ok(json!({"metadata": {"k": 5}})), 400, "badRequest");
    // A queued image can't boot.
    let admin = Api::new(&g, &g.admin_token());
    let r = admin.send(
        reqwest::Method::POST,
        "/image/v2/images",
        json!({"name": "empty", "visibility": "public"}),
    );
    let queued = r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    check(ok(json!({"imageRef": queued})), 400, "badRequest");
    // URLs are accepted for both references, and personality within limits.
    let r = create(
        &a,
        ok(json!({
            "imageRef": format!("{}/compute/v2.0/images/{img}", g.url),
            "flavorRef": format!("{}/compute/v2.0/flavors/2", g.url),
            "personality": [{"path": "/root/.ssh/authorized_keys", "contents": base64_of(b"ssh-ed25519 AAAA"), "mode": 384, "owner": "root", "group": "root"}]
        })),
    );
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().unwrap()["server"]["flavor"]["id"], 2);
    assert_eq!(create(&a, ok(json!({}))).status(), 202);
    // Quota: the third is refused.
    check(ok(json!({})), 413, "overLimit");
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn metadata_ownership_and_representations() {
    let g = Gateway::start_with(fast());
    let img = image(&g);
    let a = Api::new(&g, &g.user("carol", &["--project", "proj-c"]));
    let other = Api::new(&g, &g.user("dave", &["--project", "proj-d"]));
    let r = create(
        &a,
        json!({"server": {"name": "meta", "imageRef": img, "flavorRef": 1}}),
    );
    let id = r.json::<Value>().unwrap()["server"]["id"].as_i64().unwrap();
    let path = format!("/compute/v2.0/servers/{id}/metadata");
    let r = a.send(
        reqwest::Method::POST,
        &path,
        json!({"metadata": {"a": "1", "b": "2"}}),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().unwrap()["metadata"]["a"], "1");
    let r = a.send(
        reqwest::Method::PUT,
        &format!("{path}/c"),
        json!({"meta": {"c": "3"}}),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(a.json(&format!("{path}/c"))["meta"]["c"], "3");
    assert_eq!(
        a.send(
            reqwest::Method::PUT,
            &format!("{path}/c"),
            json!({"meta": {"d": "3"}})
        )
        .status(),
        400
    );
    let r = a.send(
        reqwest::Method::PUT,
        &path,
        json!({"metadata": {"only": "this"}}),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().unwrap()["metadata"],
        json!({"only": "this"})
    );
    assert_eq!(a.delete(&format!("{path}/only")).status(), 204);
    assert_eq!(a.delete(&format!("{path}/only")).status(), 404);
    assert_eq!(a.get(&format!("{path}/only")).status(), 404);

    // Someone else's server is a 404 everywhere, and never listed.
    for p in [
        format!("/compute/v2.0/servers/{id}"),
        path.clone(),
        format!("/compute/v2.0/servers/{id}/ips"),
    ] {
        let r = other.get(&p);
        assert_eq!(r.status(), 404, "{p}");
        assert!(r.json::<Value>().unwrap()["itemNotFound"].is_object());
    }
    assert_eq!(other.action(id, json!({"shutdown": {}})).status(), 404);
    assert_eq!(
        other
            .delete(&format!("/compute/v2.0/servers/{id}"))
            .status(),
        404
    );
    assert!(
        other.json("/compute/v2.0/servers/detail")["servers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(a.get("/compute/v2.0/servers/abc").status(), 400);

    // Addresses.
    let ips = a.json(&format!("/compute/v2.0/servers/{id}/ips"));
    assert_eq!(ips["addresses"]["public"].as_array().unwrap().len(), 2);
    let pub_ips = a.json(&format!("/compute/v2.0/servers/{id}/ips/public"));
    assert_eq!(pub_ips["public"].as_array().unwrap().len(), 2);
    assert_eq!(
        a.get(&format!("/compute/v2.0/servers/{id}/ips/nowhere"))
            .status(),
        404
    );

    // XML of every view parses and carries the same data.
    a.wait_for(id, "ACTIVE");
    for p in [
        "/compute/v2.0/servers?xml".to_owned(),
        "/compute/v2.0/servers/detail?xml".to_owned(),
        format!("/compute/v2.0/servers/{id}?xml"),
        format!("/compute/v2.0/servers/{id}/ips?xml"),
        format!("/compute/v2.0/servers/{id}/metadata?xml"),
        format!("/compute/v2.0/servers/{id}/diagnostics?xml"),
    ] {
        let body = xml_body(a.get(&p), 200);
        if p.contains("detail") || p.ends_with(&format!("{id}?xml")) {
            assert!(
                body.contains(&format!("id=\"{id}\"")) && body.contains("status=\"ACTIVE\""),
                "{body}"
            );
            assert!(body.contains(&format!("<nic id=\"nic-{id}-0\"")), "{body}");
        }
    }
    // changes-since: 304 when nothing changed, 400 with an example when malformed.
    let r = a.get("/compute/v2.0/servers?changes-since=2999-01-01T00:00:00Z");
    assert_eq!(r.status(), 304);
    let r = a.get("/compute/v2.0/servers?changes-since=yesterday");
    assert_eq!(r.status(), 400);
    assert!(
        r.json::<Value>().unwrap()["badRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("2013-04-10T13:52:17Z")
    );
    // An administrative suspension: actions and changes are 403 until it is lifted.
    common::cli_last_line(&g.data_dir, &["server", "suspend", &id.to_string()]);
    assert_eq!(
        a.json(&format!("/compute/v2.0/servers/{id}"))["server"]["suspended"],
        true
    );
    let r = a.action(id, json!({"shutdown": {}}));
    assert_eq!(r.status(), 403);
    assert!(
        r.json::<Value>().unwrap()["forbidden"]["message"]
            .as_str()
            .unwrap()
            .contains("suspended")
    );
    assert_eq!(
        a.send(
            reqwest::Method::POST,
            &path,
            json!({"metadata": {"x": "y"}})
        )
        .status(),
        403
    );
    common::cli_last_line(&g.data_dir, &["server", "unsuspend", &id.to_string()]);
    assert_eq!(
        a.send(
            reqwest::Method::POST,
            &path,
            json!({"metadata": {"x": "y"}})
        )
        .status(),
        201
    );
    // Filters.
    assert_eq!(
        a.json("/compute/v2.0/servers?status=ACTIVE")["servers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        a.json("/compute/v2.0/servers?status=STOPPED")["servers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        a.json("/compute/v2.0/servers?name=meta")["servers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        a.json("/compute/v2.0/servers?flavor=1&limit=5")["servers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        a.json(&format!("/compute/v2.0/servers?marker={id}"))["servers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn servers_survive_restarts_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let g = Gateway::start_in(dir.path(), fast()).unwrap();
    let img = image(&g);
    let token = g.user("erin", &["--project", "proj-e"]);
    let a = Api {
        g: &g,
        token: token.clone(),
    };
    let (running, stopped) = (a.server(&img, "running"), a.server(&img, "stopped"));
    a.wait_for(running, "ACTIVE");
    a.wait_for(stopped, "ACTIVE");
    assert_eq!(a.action(stopped, json!({"shutdown": {}})).status(), 202);
    a.wait_for(stopped, "STOPPED");
    drop(a);
    let (status, _) = g.stop();
    assert!(status.success());

    // A clean restart: everything as it was, and it still works.
    let g = Gateway::start_in(dir.path(), fast()).unwrap();
    let a = Api {
        g: &g,
        token: token.clone(),
    };
    assert_eq!(a.status(running), "ACTIVE");
    assert_eq!(a.status(stopped), "STOPPED");
    assert_eq!(a.action(stopped, json!({"start": {}})).status(), 202);
    a.wait_for(stopped, "ACTIVE");
    // kill -9 in the middle of a build and of a reboot.
    let building = a.server(&img, "building");
    assert_eq!(
        a.action(running, json!({"reboot": {"type": "SOFT"}}))
            .status(),
        202
    );
    std::process::Command::new("kill")
        .args(["-KILL", &g.pid().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(a);
    drop(g);
    let g = Gateway::start_in(dir.path(), fast()).unwrap();
    let a = Api { g: &g, token };
    // The reboot is carried out; the interrupted build ends in ERROR, never ACTIVE.
    a.wait_for(running, "ACTIVE");
    let v = a.wait_for(building, "ERROR");
    assert!(
        v["server"]["diagnostics"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "{v}"
    );
    assert_eq!(a.status(stopped), "ACTIVE");
    // A failed build can only be deleted.
    assert_eq!(a.action(building, json!({"start": {}})).status(), 409);
    assert_eq!(
        a.delete(&format!("/compute/v2.0/servers/{building}"))
            .status(),
        204
    );
    a.wait_for(building, "DELETED");
}

/// Text of every `<meta key="…">` in `xml`.
fn xml_meta(xml: &str) -> std::collections::BTreeMap<String, String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let mut out = std::collections::BTreeMap::new();
    let mut key: Option<String> = None;
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) if e.name().as_ref() == b"meta" => {
                key = e
                    .try_get_attribute("key")
                    .unwrap()
                    .map(|a| a.unescape_value().unwrap().into_owned());
            }
            Event::Text(t) => {
                if let Some(k) = key.take() {
                    out.insert(k, t.unescape().unwrap().into_owned());
                }
            }
            Event::End(_) => key = None,
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

#[test]
fn xml_carries_the_same_data_as_json() {
    let g = Gateway::start_with(fast());
    let img = image(&g);
    let a = Api::new(&g, &g.user("xena", &["--project", "proj-x"]));
    let r = create(
        &a,
        json!({"server": {"name": "x <&> ü", "imageRef": img, "flavorRef": 2, "metadata": {"k<1>": "v&\"2\""}}}),
    );
    let id = r.json::<Value>().unwrap()["server"]["id"].as_i64().unwrap();
    a.wait_for(id, "ACTIVE");
    let json_one = a.json(&format!("/compute/v2.0/servers/{id}"))["server"].clone();
    let xml_one = a
        .get(&format!("/compute/v2.0/servers/{id}?xml"))
        .text()
        .unwrap();
    let list_json = a.json("/compute/v2.0/servers/detail");
    let list_xml = a.get("/compute/v2.0/servers/detail?xml").text().unwrap();
    for (j, x) in [
        (&json_one, xml_one.as_str()),
        (&list_json["servers"][0], list_xml.as_str()),
    ] {
        let s = &xml_elements(x, "server")[0];
        let str_of = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        for (xk, jk) in [
            ("id", "id"),
            ("name", "name"),
            ("status", "status"),
            ("progress", "progress"),
            ("created", "created"),
            ("updated", "updated"),
            ("userId", "user_id"),
            ("tenantId", "tenant_id"),
            ("imageRef", "imageRef"),
            ("flavorRef", "flavorRef"),
            ("suspended", "suspended"),
        ] {
            assert_eq!(s.get(xk), Some(&str_of(&j[jk])), "{xk} differs: {x}");
        }
        let meta: std::collections::BTreeMap<String, String> =
            serde_json::from_value(j["metadata"].clone()).unwrap();
        assert_eq!(xml_meta(x), meta);
        let nics = xml_elements(x, "nic");
        let att = j["attachments"].as_array().unwrap();
        assert_eq!(nics.len(), att.len());
        for (n, a) in nics.iter().zip(att) {
            for k in [
                "id",
                "network_id",
                "mac_address",
                "ipv4",
                "ipv6",
                "firewallProfile",
            ] {
                assert_eq!(n.get(k), Some(&str_of(&a[k])), "nic {k}");
            }
        }
        let ips: Vec<String> = xml_elements(x, "ip")
            .into_iter()
            .map(|m| m["addr"].clone())
            .collect();
        let json_ips: Vec<String> = j["addresses"]["public"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["addr"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ips, json_ips);
    }
    // Metadata and diagnostics views.
    let mx = a
        .get(&format!("/compute/v2.0/servers/{id}/metadata?xml"))
        .text()
        .unwrap();
    let mj: std::collections::BTreeMap<String, String> = serde_json::from_value(
        a.json(&format!("/compute/v2.0/servers/{id}/metadata"))["metadata"].clone(),
    )
    .unwrap();
    assert_eq!(xml_meta(&mx), mj);
    let dx = a
        .get(&format!("/compute/v2.0/servers/{id}/diagnostics?xml"))
        .text()
        .unwrap();
    let dj = a.json(&format!("/compute/v2.0/servers/{id}/diagnostics"));
    let dxs = xml_elements(&dx, "diagnostic");
    assert_eq!(dxs.len(), dj.as_array().unwrap().len());
    for (x, j) in dxs.iter().zip(dj.as_array().unwrap()) {
        for k in ["level", "created", "source", "source_date"] {
            assert_eq!(
                x.get(k).map(String::as_str),
                j[k].as_str(),
                "diagnostic {k}"
            );
        }
    }
}

#[test]
fn reassign_and_demo_failures() {
    // The operator arms one failed build for a demo.
    let g = Gateway::start_with(fast().env("CYCLADES_SIMULATED_FAIL", "[\"build\"]"));
    let img = image(&g);
    let a = Api::new(&g, &g.user("fred", &["--project", "proj-f"]));
    let admin = Api::new(&g, &g.admin_token());
    let failed = a.server(&img, "fails");
    let v = a.wait_for(failed, "ERROR");
    let diags = v["server"]["diagnostics"].as_array().unwrap();
    assert!(diags.iter().any(|d| d["level"] == "ERROR"), "{v}");
    let ok = a.server(&img, "works");
    a.wait_for(ok, "ACTIVE");

    // reassign: a user only to its own project; an administrator to any existing one.
    let r = a.action(ok, json!({"reassign": {"project": "proj-f"}}));
    assert_eq!(r.status(), 200);
    assert_eq!(
        a.action(ok, json!({"reassign": {"project": "admin"}}))
            .status(),
        403
    );
    assert_eq!(a.action(ok, json!({"reassign": {}})).status(), 400);
    common::cli_last_line(
        &g.data_dir,
        &["user", "create", "gina", "--project", "proj-g"],
    );
    // The admin can't see fred's server (servers belong to users), so fred asks; an admin's
    // own server moves to another existing project.
    let mine = admin.server(&img, "admin-box");
    assert_eq!(
        admin
            .action(mine, json!({"reassign": {"project": "proj-g"}}))
            .status(),
        200
    );
    assert_eq!(
        admin.json(&format!("/compute/v2.0/servers/{mine}"))["server"]["tenant_id"],
        "proj-g"
    );
    assert_eq!(
        admin
            .action(mine, json!({"reassign": {"project": "no-such"}}))
            .status(),
        404
    );
}
