//! Black-box tests of the Cyclades compute `/networks` API and the NICs it makes, over the
//! simulated compute backend.

mod common;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::compute::{Api, fast, fault, image};
use common::{Gateway, xml_body, xml_elements};
use reqwest::Method;
use serde_json::{Value, json};

const NETS: &str = "/compute/v2.0/networks";

fn create_net(api: &Api, body: Value) -> reqwest::blocking::Response {
    api.post(NETS, body)
}

fn net_action(api: &Api, net: &str, body: Value) -> reqwest::blocking::Response {
    api.post(&format!("{NETS}/{net}/action"), body)
}

/// Connects server `s` to `net` (a NIC of its own), which must be accepted.
fn connect(api: &Api, net: &str, s: i64) {
    assert_eq!(
        net_action(api, net, json!({"add": {"serverRef": s}})).status(),
        202
    );
}

/// A network that reached ACTIVE; returns its id.
fn active_net(api: &Api, body: Value) -> String {
    let r = create_net(api, body);
    assert_eq!(r.status(), 202);
    let v: Value = r.json().unwrap();
    let id = v["network"]["id"].as_str().unwrap().to_owned();
    wait_net(api, &id, "ACTIVE");
    id
}

fn wait_net(api: &Api, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = api.json(&format!("{NETS}/{id}"));
        if v["network"]["status"] == want {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "network {id} never became {want}: {v}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn attachments(api: &Api, id: i64) -> Vec<Value> {
    api.json(&format!("/compute/v2.0/servers/{id}"))["server"]["attachments"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn create_list_show_rename_delete() {
    let g = Gateway::start_with(fast());
    let a = Api::new(&g, &g.user("alice", &["--project", "proj-a"]));
    let r = create_net(
        &a,
        json!({"network": {"name": "private <1>", "type": "MAC_FILTERED"}}),
    );
    assert_eq!(r.status(), 202);
    let v: Value = r.json().unwrap();
    let n = &v["network"];
    assert_eq!(n["status"], "PENDING");
    assert_eq!(n["name"], "private <1>");
    assert_eq!(n["type"], "MAC_FILTERED");
    assert_eq!(n["cidr"], "192.168.1.0/24");
    assert_eq!(n["cidr6"], Value::Null);
    assert_eq!(n["gateway"], Value::Null);
    assert_eq!(n["dhcp"], true);
    assert_eq!(n["public"], false);
    assert_eq!(n["attachments"], json!([]));
    let id = n["id"].as_str().unwrap().to_owned();
    assert!(id.parse::<u64>().is_ok(), "numeric ids as the seed's: {id}");
    // The backend makes it; the reconciliation records it ACTIVE.
    let v = wait_net(&a, &id, "ACTIVE");
    assert_eq!(v["network"]["user_id"], n["user_id"]);

    let list = a.json(NETS);
    assert_eq!(
        list["networks"],
        json!([{"id": "public", "name": "public"}, {"id": id, "name": "private <1>"}])
    );
    let detail = a.json(&format!("{NETS}/detail"));
    let nets = detail["networks"].as_array().unwrap();
    assert_eq!(nets.len(), 2);
    assert_eq!(nets[0]["public"], true);
    assert_eq!(nets[0]["status"], "ACTIVE");
    assert_eq!(nets[1]["cidr"], "192.168.1.0/24");

    let r = a.put(
        &format!("{NETS}/{id}"),
        json!({"network": {"name": "renamed"}}),
    );
    assert_eq!(r.status(), 204);
    assert_eq!(
        a.json(&format!("{NETS}/{id}"))["network"]["name"],
        "renamed"
    );
    let r = a.put(&format!("{NETS}/{id}"), json!({"network": {"name": ""}}));
    fault(r, 400, "badRequest");

    let r = a.delete(&format!("{NETS}/{id}"));
    assert_eq!(r.status(), 204);
    fault(a.get(&format!("{NETS}/{id}")), 404, "itemNotFound");
    assert_eq!(a.json(NETS)["networks"].as_array().unwrap().len(), 1);
    let r = a.delete(&format!("{NETS}/{id}"));
    fault(r, 404, "itemNotFound");
    // A new network never takes a deleted one's id.
    let again = active_net(&a, json!({"network": {"name": "n2", "type": "CUSTOM"}}));
    assert_ne!(again, id);
}

#[test]
fn create_validation_public_and_quota() {
    let g = Gateway::start_with(fast().env("CYCLADES_NETWORK_QUOTA", "2"));
    let a = Api::new(&g, &g.user("alice", &[]));
    let bad = |body: Value, status: u16, name: &str| {
        let msg = fault(create_net(&a, body.clone()), status, name);
        assert!(!msg.is_empty(), "{body}");
        msg
    };
    bad(
        json!({"network": {"type": "MAC_FILTERED"}}),
        400,
        "badRequest",
    );
    bad(json!({"network": {"name": "n"}}), 400, "badRequest");
    bad(
        json!({"network": {"name": "n", "type": "FANCY"}}),
        415,
        "badMediaType",
    );
    bad(
        json!({"network": {"name": "n", "type": "CUSTOM", "public": true}}),
        403,
        "forbidden",
    );
    bad(json!({"net": {}}), 400, "badRequest");
    bad(
        json!({"network": {"name": "n", "type": "CUSTOM", "dhcp": "maybe"}}),
        400,
        "badRequest",
    );
    for cidr in [
        "10.0.0.0/31",
        "10.0.0.0/32",
        "10.0.0.7/24",
        "300.0.0.0/24",
        "10.0.0.0",
    ] {
        let m = bad(
            json!({"network": {"name": "n", "type": "CUSTOM", "cidr": cidr}}),
            400,
            "badRequest",
        );
        assert!(m.contains("cidr"), "{m}");
    }
    for gw in ["10.0.0.0", "10.0.0.255", "10.0.1.1", "nope"] {
        bad(
            json!({"network": {"name": "n", "type": "CUSTOM", "cidr": "10.0.0.0/24", "gateway": gw}}),
            400,
            "badRequest",
        );
    }
    bad(
        json!({"network": {"name": "n", "type": "CUSTOM", "cidr6": "2001:db8::/80"}}),
        400,
        "badRequest",
    );
    bad(
        json!({"network": {"name": "n", "type": "CUSTOM", "gateway6": "2001:db8::1"}}),
        400,
        "badRequest",
    );
    let r = create_net(
        &a,
        json!({"network": {"name": "v6", "type": "physical_vlan", "cidr": "10.0.0.0/24",
            "gateway": "10.0.0.1", "cidr6": "2001:db8:5::/64", "gateway6": "2001:db8:5::1",
            "dhcp": false}}),
    );
    assert_eq!(r.status(), 202);
    let v: Value = r.json().unwrap();
    assert_eq!(v["network"]["type"], "PHYSICAL_VLAN");
    assert_eq!(v["network"]["gateway"], "10.0.0.1");
    assert_eq!(v["network"]["cidr6"], "2001:db8:5::/64");
    assert_eq!(v["network"]["gateway6"], "2001:db8:5::1");
    assert_eq!(v["network"]["dhcp"], false);
    assert_eq!(
        create_net(&a, json!({"network": {"name": "2", "type": "CUSTOM"}})).status(),
        202
    );
    let m = bad(
        json!({"network": {"name": "3", "type": "CUSTOM"}}),
        413,
        "overLimit",
    );
    assert!(m.contains("quota"), "{m}");
}

#[test]
fn the_public_network_is_protected_and_others_are_private() {
    let g = Gateway::start_with(fast());
    let img = image(&g);
    let a = Api::new(&g, &g.user("alice", &[]));
    let b = Api::new(&g, &g.user("bob", &[]));
    let s = a.server(&img, "s");
    let public = a.json(&format!("{NETS}/public"))["network"].clone();
    assert_eq!(public["public"], true);
    assert_eq!(public["cidr"], "10.128.0.0/16");
    assert_eq!(public["attachments"], json!([format!("nic-{s}-0")]));
    let r = a.put(&format!("{NETS}/public"), json!({"network": {"name": "x"}}));
    fault(r, 403, "forbidden");
    fault(a.delete(&format!("{NETS}/public")), 403, "forbidden");
    fault(
        net_action(&a, "public", json!({"add": {"serverRef": s}})),
        403,
        "forbidden",
    );
    fault(
        net_action(&a, "public", json!({"remove": {"serverRef": s}})),
        403,
        "forbidden",
    );
    assert_eq!(attachments(&a, s).len(), 1);

    // Another user's network and server are 404s, never 403s.
    let net = active_net(&a, json!({"network": {"name": "mine", "type": "CUSTOM"}}));
    let path = format!("{NETS}/{net}");
    fault(b.get(&path), 404, "itemNotFound");
    fault(
        b.put(&path, json!({"network": {"name": "x"}})),
        404,
        "itemNotFound",
    );
    fault(b.delete(&path), 404, "itemNotFound");
    fault(
        net_action(&b, &net, json!({"add": {"serverRef": s}})),
        404,
        "itemNotFound",
    );
    assert_eq!(
        b.json(NETS)["networks"],
        json!([{"id": "public", "name": "public"}])
    );
    let bnet = active_net(&b, json!({"network": {"name": "bobs", "type": "CUSTOM"}}));
    fault(
        net_action(&b, &bnet, json!({"add": {"serverRef": s}})),
        404,
        "itemNotFound",
    );
    // Malformed actions.
    fault(net_action(&a, &net, json!({"add": {}})), 400, "badRequest");
    fault(
        net_action(&a, &net, json!({"add": {"serverRef": "x"}})),
        400,
        "badRequest",
    );
    fault(net_action(&a, &net, json!({"fly": {}})), 400, "badRequest");
    fault(
        net_action(&a, &net, json!({"remove": {"attachment": "eth0"}})),
        400,
        "badRequest",
    );
    fault(
        net_action(&a, &net, json!({"remove": {"serverRef": s}})),
        404,
        "itemNotFound",
    );
    fault(
        net_action(&a, &net, json!({"add": {"serverRef": 99999}})),
        404,
        "itemNotFound",
    );
}

#[test]
fn nics_connect_disconnect_and_release_addresses() {
    let g = Gateway::start_with(fast());
    let img = image(&g);
    let a = Api::new(&g, &g.user("alice", &[]));
    let s = a.server(&img, "s");
    let net = active_net(
        &a,
        json!({"network": {"name": "lan", "type": "MAC_FILTERED", "cidr": "10.9.0.0/29",
            "gateway": "10.9.0.1", "cidr6": "2001:db8:9::/64"}}),
    );
    // Twice to the same network: two NICs (the seed's nic-43-1 / nic-43-2).
    for _ in 0..2 {
        connect(&a, &net, s);
    }
    assert_eq!(
        net_action(&a, &net, json!({"add": {"serverRef": s.to_string()}})).status(),
        202
    );
    let nics = attachments(&a, s);
    assert_eq!(nics.len(), 4, "{nics:?}");
    let ids: Vec<&str> = nics.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            format!("nic-{s}-0"),
            format!("nic-{s}-1"),
            format!("nic-{s}-2"),
            format!("nic-{s}-3")
        ]
    );
    let ipv4: Vec<&str> = nics[1..]
        .iter()
        .map(|n| n["ipv4"].as_str().unwrap())
        .collect();
    assert_eq!(ipv4, ["10.9.0.2", "10.9.0.3", "10.9.0.4"]);
    for n in &nics[1..] {
        assert_eq!(n["network_id"], json!(net));
        // EUI-64 of the MAC in the network's /64.
        let mac = n["mac_address"].as_str().unwrap();
        let m: Vec<u16> = mac
            .split(':')
            .map(|p| u16::from_str_radix(p, 16).unwrap())
            .collect();
        let want = std::net::Ipv6Addr::new(
            0x2001,
            0xdb8,
            9,
            0,
            ((m[0] ^ 2) << 8) | m[1],
            (m[2] << 8) | 0xff,
            0xfe00 | m[3],
            (m[4] << 8) | m[5],
        );
        let got: std::net::Ipv6Addr = n["ipv6"].as_str().unwrap().parse().unwrap();
        assert_eq!(got, want, "{mac}");
    }
    let macs: HashSet<&str> = nics
        .iter()
        .map(|n| n["mac_address"].as_str().unwrap())
        .collect();
    assert_eq!(macs.len(), 4);
    // The network, the server's ips and its NIC view agree.
    let n = a.json(&format!("{NETS}/{net}"));
    assert_eq!(n["network"]["attachments"], json!(ids[1..]));
    let ips = a.json(&format!("/compute/v2.0/servers/{s}/ips"));
    assert_eq!(ips["attachments"], json!(nics));
    assert_eq!(ips["addresses"][&net].as_array().unwrap().len(), 6);
    let by_net = a.json(&format!("/compute/v2.0/servers/{s}/ips/{net}"));
    assert_eq!(by_net["network"]["attachments"], json!(nics[1..]));

    // In use: 421.
    let r = a.delete(&format!("{NETS}/{net}"));
    let m = fault(r, 421, "networkInUse");
    assert!(m.contains(&format!("nic-{s}-1")), "{m}");

    // Remove one NIC by id: its address is free for the next connect, its id is not reused.
    let r = net_action(
        &a,
        &net,
        json!({"remove": {"attachment": format!("nic-{s}-1")}}),
    );
    assert_eq!(r.status(), 202);
    connect(&a, &net, s);
    let nics = attachments(&a, s);
    let last = nics.last().unwrap();
    assert_eq!(last["id"], format!("nic-{s}-4"));
    assert_eq!(last["ipv4"], "10.9.0.2");
    // The /29 has 5 host addresses besides the gateway: 2 more, then a clear 413.
    connect(&a, &net, s);
    connect(&a, &net, s);
    let m = fault(
        net_action(&a, &net, json!({"add": {"serverRef": s}})),
        413,
        "overLimit",
    );
    assert!(m.contains("no free IPv4"), "{m}");

    // Remove by serverRef: every NIC between them.
    assert_eq!(
        net_action(&a, &net, json!({"remove": {"serverRef": s}})).status(),
        202
    );
    let nics = attachments(&a, s);
    assert_eq!(nics.len(), 1);
    assert_eq!(nics[0]["network_id"], "public");
    assert_eq!(
        a.json(&format!("{NETS}/{net}"))["network"]["attachments"],
        json!([])
    );
    let ips = a.json(&format!("/compute/v2.0/servers/{s}/ips"));
    assert!(ips["addresses"].get(&net).is_none(), "{ips}");

    // Deleting the server releases its NICs: the network can go.
    connect(&a, &net, s);
    a.wait_for(s, "ACTIVE");
    let r = a.delete(&format!("/compute/v2.0/servers/{s}"));
    assert_eq!(r.status(), 204);
    a.wait_for(s, "DELETED");
    assert_eq!(
        a.json(&format!("{NETS}/{net}"))["network"]["attachments"],
        json!([])
    );
    assert_eq!(
        a.json(&format!("{NETS}/public"))["network"]["attachments"],
        json!([])
    );
    let r = a.delete(&format!("{NETS}/{net}"));
    assert_eq!(r.status(), 204);
    let s2 = a.server(&img, "later");
    fault(
        net_action(&a, &net, json!({"add": {"serverRef": s2}})),
        404,
        "itemNotFound",
    );
}

#[test]
fn firewall_profile_shows_on_the_public_nic() {
    let g = Gateway::start_with(fast());
    let img = image(&g);
    let a = Api::new(&g, &g.user("alice", &[]));
    let s = a.server(&img, "s");
    let net = active_net(&a, json!({"network": {"name": "lan", "type": "CUSTOM"}}));
    connect(&a, &net, s);
    a.wait_for(s, "ACTIVE");
    let r = a.action(
        s,
        json!({"firewallProfile": {"profile": "PROTECTED", "nic": format!("nic-{s}-0")}}),
    );
    assert_eq!(r.status(), 202);
    let ips = a.json(&format!("/compute/v2.0/servers/{s}/ips"));
    assert_eq!(ips["attachments"][0]["firewallProfile"], "PROTECTED");
    assert_eq!(ips["attachments"][1]["firewallProfile"], "DISABLED");
}

#[test]
fn xml_views_carry_the_json_data() {
    let g = Gateway::start_with(fast());
    let img = image(&g);
    let a = Api::new(&g, &g.user("alice", &[]));
    let s = a.server(&img, "s");
    let net = active_net(
        &a,
        json!({"network": {"name": "x&y", "type": "CUSTOM", "cidr": "10.1.0.0/24"}}),
    );
    connect(&a, &net, s);
    let list = a.xml(NETS);
    assert!(
        list.contains(r#"<network id="public" name="public"/>"#),
        "{list}"
    );
    assert!(
        list.contains(&format!(r#"<network id="{net}" name="x&amp;y"/>"#)),
        "{list}"
    );
    let detail = a.xml(&format!("{NETS}/detail"));
    assert!(detail.contains(r#"cidr="10.1.0.0/24""#), "{detail}");
    assert!(
        detail.contains(&format!(r#"<nic id="nic-{s}-1"/>"#)),
        "{detail}"
    );
    let one = a.xml(&format!("{NETS}/{net}?format=xml"));
    assert!(one.contains(r#"status="ACTIVE""#), "{one}");
    assert!(one.contains(r#"public="false""#), "{one}");
    // Create in XML, and its faults.
    let r = a
        .req(Method::POST, NETS)
        .header("Accept", "application/xml")
        .header("Content-Type", "application/json")
        .body(json!({"network": {"name": "z", "type": "CUSTOM"}}).to_string())
        .send()
        .unwrap();
    let t = xml_body(r, 202);
    assert!(t.contains(r#"status="PENDING""#), "{t}");
    let r = a
        .req(Method::DELETE, &format!("{NETS}/{net}"))
        .header("Accept", "application/xml")
        .send()
        .unwrap();
    let t = xml_body(r, 421);
    assert!(t.contains("<networkInUse"), "{t}");
}

/// 50 connects at once to a /28 (13 addresses besides the gateway): exactly 13 succeed,
/// with 13 distinct addresses — every one the range has — and no MAC anywhere twice.
#[test]
fn fifty_parallel_connects_on_a_slash_28() {
    let g = Gateway::start_with(fast());
    let img = image(&g);
    let a = Api::new(&g, &g.user("alice", &[]));
    let servers: Vec<i64> = (0..5).map(|i| a.server(&img, &format!("s{i}"))).collect();
    let net = active_net(
        &a,
        json!({"network": {"name": "small", "type": "MAC_FILTERED", "cidr": "10.7.0.0/28",
            "gateway": "10.7.0.1"}}),
    );
    // The gateway handle stays on this thread; the workers share a client and start together.
    let (client, url, token) = (
        g.client().clone(),
        g.url(&format!("{NETS}/{net}/action")),
        a.token.clone(),
    );
    let start = std::sync::Barrier::new(50);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let (client, url, token, start) = (&client, &url, &token, &start);
                let s = servers[i % servers.len()];
                scope.spawn(move || {
                    start.wait();
                    client
                        .post(url)
                        .header("X-Auth-Token", token)
                        .header("Content-Type", "application/json")
                        .body(json!({"add": {"serverRef": s}}).to_string())
                        .send()
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = statuses.iter().filter(|s| **s == 202).count();
    let full = statuses.iter().filter(|s| **s == 413).count();
    assert_eq!((ok, full), (13, 37), "{statuses:?}");

    let mut all = Vec::new();
    for s in &servers {
        all.extend(attachments(&a, *s));
    }
    let on_net: Vec<&Value> = all
        .iter()
        .filter(|n| n["network_id"] == json!(net))
        .collect();
    assert_eq!(on_net.len(), 13);
    let ips: HashSet<Ipv4Addr> = on_net
        .iter()
        .map(|n| n["ipv4"].as_str().unwrap().parse().unwrap())
        .collect();
    let expected: HashSet<Ipv4Addr> = (2..=14).map(|h| Ipv4Addr::new(10, 7, 0, h)).collect();
    assert_eq!(ips, expected);
    let macs: HashSet<&str> = all
        .iter()
        .map(|n| n["mac_address"].as_str().unwrap())
        .collect();
    assert_eq!(macs.len(), all.len(), "a MAC was handed out twice");
    let ids: HashSet<&str> = all.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), all.len());
    let listed = a.json(&format!("{NETS}/{net}"))["network"]["attachments"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(listed, 13);
}

const NEUTRON: &str = "/network/v2.0";

/// The Neutron-style view under `/network/v2.0` is the same networks and NICs: what one API
/// makes, the other shows at once.
#[test]
fn the_neutron_view_shows_the_same_records() {
    let g = Gateway::start_with(fast().env("CYCLADES_FLOATING_IP_QUOTA", "2"));
    let img = image(&g);
    let a = Api::new(&g, &g.user("alice", &[]));
    let b = Api::new(&g, &g.user("bob", &[]));
    let s = a.server(&img, "s");
    let r = a.post(
        &format!("{NEUTRON}/networks"),
        json!({"network": {"type": "MAC_FILTERED", "admin_state_up": true, "name": "n1"}}),
    );
    assert_eq!(r.status(), 201);
    let net = r.json::<Value>().unwrap()["network"].clone();
    let id = net["id"].as_str().unwrap().to_owned();
    assert_eq!(net["subnets"], json!([]));
    assert_eq!(net["shared"], false);
    wait_net(&a, &id, "ACTIVE");
    // No subnet yet: the compute view has no range either.
    assert_eq!(
        a.json(&format!("{NETS}/{id}"))["network"]["cidr"],
        Value::Null
    );
    let r = a.post(
        &format!("{NEUTRON}/subnets"),
        json!({"subnet": {"network_id": id, "cidr": "10.3.0.0/24", "ip_version": 4}}),
    );
    assert_eq!(r.status(), 201);
    let sub = r.json::<Value>().unwrap()["subnet"].clone();
    assert_eq!(sub["id"], format!("{id}-4"));
    assert_eq!(sub["gateway_ip"], "10.3.0.1");
    assert_eq!(
        sub["allocation_pools"],
        json!([{"start": "10.3.0.2", "end": "10.3.0.254"}])
    );
    let r = a.post(
        &format!("{NEUTRON}/subnets"),
        json!({"subnet": {"network_id": id, "cidr": "10.4.0.0/24"}}),
    );
    fault(r, 409, "conflict");
    let r = a.post(
        &format!("{NEUTRON}/subnets"),
        json!({"subnet": {"network_id": "public", "cidr": "10.4.0.0/24"}}),
    );
    fault(r, 403, "forbidden");
    let c = a.json(&format!("{NETS}/{id}"));
    assert_eq!(c["network"]["cidr"], "10.3.0.0/24");
    assert_eq!(c["network"]["gateway"], "10.3.0.1");
    let subnets = a.json(&format!("{NEUTRON}/subnets"))["subnets"].clone();
    let ids: Vec<&str> = subnets
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["public-4", "public-6", &format!("{id}-4")]);
    assert_eq!(a.json(&format!("{NEUTRON}/subnets/{id}-4"))["subnet"], sub);
    fault(
        b.get(&format!("{NEUTRON}/subnets/{id}-4")),
        404,
        "itemNotFound",
    );

    // A port made here is a NIC there.
    let r = a.post(
        &format!("{NEUTRON}/ports"),
        json!({"port": {"network_id": id, "device_id": s.to_string(), "fixed_ips": [{"ip_address": "10.3.0.77"}]}}),
    );
    assert_eq!(r.status(), 201);
    let port = r.json::<Value>().unwrap()["port"].clone();
    assert_eq!(port["id"], format!("nic-{s}-1"));
    assert_eq!(port["device_id"], s.to_string());
    // The server's state: BUILD, or ACTIVE if its (short) build is over by now.
    assert!(
        ["BUILD", "ACTIVE"].contains(&port["status"].as_str().unwrap()),
        "{port}"
    );
    assert_eq!(
        port["fixed_ips"],
        json!([{"subnet_id": format!("{id}-4"), "ip_address": "10.3.0.77"}])
    );
    let nics = attachments(&a, s);
    assert_eq!(nics[1]["ipv4"], "10.3.0.77");
    assert_eq!(nics[1]["mac_address"], port["mac_address"]);
    assert_eq!(
        a.json(&format!("{NETS}/{id}"))["network"]["attachments"],
        json!([port["id"]])
    );
    // The same address twice is a 409; a NIC made there is a port here.
    let r = a.post(
        &format!("{NEUTRON}/ports"),
        json!({"port": {"network_id": id, "device_id": s, "fixed_ips": [{"ip_address": "10.3.0.77"}]}}),
    );
    fault(r, 409, "conflict");
    connect(&a, &id, s);
    // Port names: given at creation or changed later (kamaki's `port modify --name`).
    let path = format!("{NEUTRON}/ports/nic-{s}-1");
    assert_eq!(port["name"], "");
    let r = a.put(&path, json!({"port": {"network_id": id, "name": "eth1"}}));
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["port"]["name"], "eth1");
    assert_eq!(a.json(&path)["port"]["name"], "eth1");
    let r = a.put(
        &path,
        json!({"port": {"network_id": "public", "name": "x"}}),
    );
    fault(r, 400, "badRequest");
    let r = a.put(&path, json!({"port": {"mac_address": "aa:00:00:00:00:99"}}));
    fault(r, 400, "badRequest");
    let r = b.put(&path, json!({"port": {"name": "mine"}}));
    fault(r, 404, "itemNotFound");
    let ports = a.json(&format!("{NEUTRON}/ports"))["ports"].clone();
    let ids: Vec<&str> = ports
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            format!("nic-{s}-0"),
            format!("nic-{s}-1"),
            format!("nic-{s}-2")
        ]
    );
    assert_eq!(ports[2]["fixed_ips"][0]["ip_address"], "10.3.0.2");
    a.wait_for(s, "ACTIVE");
    assert_eq!(
        a.json(&format!("{NEUTRON}/ports/nic-{s}-1"))["port"]["status"],
        "ACTIVE"
    );
    fault(
        b.get(&format!("{NEUTRON}/ports/nic-{s}-1")),
        404,
        "itemNotFound",
    );
    let r = b.delete(&format!("{NEUTRON}/ports/nic-{s}-1"));
    fault(r, 404, "itemNotFound");
    let r = a.delete(&format!("{NEUTRON}/ports/nic-{s}-0"));
    fault(r, 403, "forbidden");
    let r = a.post(
        &format!("{NEUTRON}/ports"),
        json!({"port": {"network_id": "public", "device_id": s}}),
    );
    fault(r, 403, "forbidden");
    let r = a.post(
        &format!("{NEUTRON}/ports"),
        json!({"port": {"network_id": id}}),
    );
    fault(r, 400, "badRequest");

    // In use: kamaki (as Neutron) expects 409 here.
    let r = a.delete(&format!("{NEUTRON}/networks/{id}"));
    fault(r, 409, "conflict");
    for p in [1, 2] {
        let r = a.delete(&format!("{NEUTRON}/ports/nic-{s}-{p}"));
        assert_eq!(r.status(), 204);
    }
    assert_eq!(attachments(&a, s).len(), 1);
    let r = a.put(
        &format!("{NEUTRON}/networks/{id}"),
        json!({"network": {"name": "n2"}}),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["network"]["name"], "n2");
    assert_eq!(a.json(&format!("{NETS}/{id}"))["network"]["name"], "n2");
    let list = a.json(&format!("{NEUTRON}/networks"))["networks"].clone();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["router:external"], true);
    fault(
        b.get(&format!("{NEUTRON}/networks/{id}")),
        404,
        "itemNotFound",
    );
    let r = a.post(
        &format!("{NEUTRON}/networks"),
        json!({"network": {"shared": true}}),
    );
    fault(r, 403, "forbidden");
    let r = a.delete(&format!("{NEUTRON}/networks/{id}"));
    assert_eq!(r.status(), 204);
    fault(a.get(&format!("{NETS}/{id}")), 404, "itemNotFound");

    // Floating IPs come from the public range, and no NIC takes a held address.
    let r = a.post(&format!("{NEUTRON}/floatingips"), json!({"floatingip": {}}));
    assert_eq!(r.status(), 200);
    let f = r.json::<Value>().unwrap()["floatingip"].clone();
    assert_eq!(f["floating_network_id"], "public");
    assert_eq!(f["port_id"], Value::Null);
    let addr = f["floating_ip_address"].as_str().unwrap().to_owned();
    assert!(addr.starts_with("10.128."), "{addr}");
    let r = a.post(
        &format!("{NEUTRON}/floatingips"),
        json!({"floatingip": {"floating_network_id": "public", "floating_ip_address": addr}}),
    );
    fault(r, 409, "conflict");
    let s2 = a.server(&img, "s2");
    let public_ip = attachments(&a, s2)[0]["ipv4"].as_str().unwrap().to_owned();
    assert_ne!(public_ip, addr);
    let r = b.post(
        &format!("{NEUTRON}/floatingips"),
        json!({"floatingip": {"floating_ip_address": public_ip}}),
    );
    fault(r, 409, "conflict");
    let r = a.post(
        &format!("{NEUTRON}/floatingips"),
        json!({"floatingip": {"floating_ip_address": "10.128.9.9"}}),
    );
    assert_eq!(r.status(), 200);
    let r = a.post(&format!("{NEUTRON}/floatingips"), json!({"floatingip": {}}));
    fault(r, 413, "overLimit");
    let list = a.json(&format!("{NEUTRON}/floatingips"))["floatingips"].clone();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(
        b.json(&format!("{NEUTRON}/floatingips"))["floatingips"],
        json!([])
    );
    let fid = f["id"].as_str().unwrap();
    fault(
        b.get(&format!("{NEUTRON}/floatingips/{fid}")),
        404,
        "itemNotFound",
    );
    assert_eq!(
        a.json(&format!("{NEUTRON}/floatingips/{fid}"))["floatingip"],
        f
    );
    let r = a.delete(&format!("{NEUTRON}/floatingips/{fid}"));
    assert_eq!(r.status(), 204);
    fault(
        a.get(&format!("{NEUTRON}/floatingips/{fid}")),
        404,
        "itemNotFound",
    );
}

/// Neutron creates take one resource at a time, and say which attribute is missing.
#[test]
fn neutron_creates_refuse_bulk_bodies_and_missing_attributes() {
    let g = Gateway::start_with(fast());
    let a = Api::new(&g, &g.user("alice", &[]));
    for kind in ["network", "subnet", "port"] {
        let r = a.post(
            &format!("{NEUTRON}/{kind}s"),
            json!({format!("{kind}s"): [{}]}),
        );
        let m = fault(r, 400, "badRequest");
        assert_eq!(
            m,
            format!(
                "bulk creation ({{\"{kind}s\": […]}}) is not supported: create one {kind} at a time"
            )
        );
    }
    for (kind, body, missing) in [
        (
            "subnets",
            json!({"subnet": {"cidr": "10.0.0.0/24"}}),
            "a subnet needs a \"network_id\"",
        ),
        (
            "subnets",
            json!({"subnet": {"network_id": "public"}}),
            "a subnet needs a \"cidr\"",
        ),
        (
            "ports",
            json!({"port": {"device_id": "1"}}),
            "a port needs a \"network_id\"",
        ),
    ] {
        let m = fault(
            a.post(&format!("{NEUTRON}/{kind}"), body),
            400,
            "badRequest",
        );
        assert_eq!(m, missing);
    }
}

/// Networks, NICs and the id counters survive a restart; a network the stop caught PENDING
/// (recorded, the backend's answer not yet) is asked for again at start.
#[test]
fn networks_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let g = Gateway::start_in(dir.path(), fast()).unwrap();
    let img = image(&g);
    let token = g.user("erin", &[]);
    let a = Api {
        g: &g,
        token: token.clone(),
    };
    let s = a.server(&img, "s");
    let net = active_net(
        &a,
        json!({"network": {"name": "lan", "type": "CUSTOM", "cidr": "10.2.0.0/24"}}),
    );
    connect(&a, &net, s);
    assert_eq!(
        net_action(
            &a,
            &net,
            json!({"remove": {"attachment": format!("nic-{s}-1")}})
        )
        .status(),
        202
    );
    connect(&a, &net, s);
    let before = attachments(&a, s);
    drop(a);
    drop(g);

    // As if the gateway had stopped before the backend answered.
    let db = rusqlite::Connection::open(dir.path().join("cyclades.db")).unwrap();
    let n = db
        .execute(
            "UPDATE networks SET status = 'PENDING' WHERE id = ?1",
            [&net],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(db);

    let g = Gateway::start_in(dir.path(), fast()).unwrap();
    let a = Api { g: &g, token };
    wait_net(&a, &net, "ACTIVE");
    assert_eq!(attachments(&a, s), before);
    assert_eq!(
        a.json(&format!("{NETS}/{net}"))["network"]["attachments"],
        json!([format!("nic-{s}-2")])
    );
    // Counters go on: no NIC id and no network id is handed out again.
    connect(&a, &net, s);
    let nics = attachments(&a, s);
    assert_eq!(nics.last().unwrap()["id"], format!("nic-{s}-3"));
    // No gateway: .1 went to nic-1, then (released) to nic-2; the next one is .2.
    assert_eq!(nics[1]["ipv4"], "10.2.0.1");
    assert_eq!(nics.last().unwrap()["ipv4"], "10.2.0.2");
    let net2 = active_net(&a, json!({"network": {"name": "two", "type": "CUSTOM"}}));
    assert_eq!(
        net2.parse::<u64>().unwrap(),
        net.parse::<u64>().unwrap() + 1
    );
}

/// `networks` of `POST /servers` (kamaki's `--network NET[,IP]`): NICs made with the server,
/// in one transaction — a refused entry creates nothing.
#[test]
fn servers_created_on_networks() {
    let g = Gateway::start_with(fast());
    let img = image(&g);
    let a = Api::new(&g, &g.user("alice", &[]));
    let b = Api::new(&g, &g.user("bob", &[]));
    let net = active_net(
        &a,
        json!({"network": {"name": "lan", "type": "CUSTOM", "cidr": "10.6.0.0/24", "gateway": "10.6.0.1"}}),
    );
    let bnet = active_net(&b, json!({"network": {"name": "bobs", "type": "CUSTOM"}}));
    let create = |networks: Value| {
        a.post(
            "/compute/v2.0/servers",
            json!({"server": {"name": "s", "imageRef": img, "flavorRef": 1, "networks": networks}}),
        )
    };
    let r =
        create(json!([{"uuid": net, "fixed_ip": "10.6.0.9"}, {"uuid": "public"}, {"uuid": net}]));
    assert_eq!(r.status(), 202);
    let v: Value = r.json().unwrap();
    let id = v["server"]["id"].as_i64().unwrap();
    let nics = v["server"]["attachments"].as_array().unwrap().clone();
    let got: Vec<(&str, &str)> = nics
        .iter()
        .map(|n| {
            (
                n["network_id"].as_str().unwrap(),
                n["ipv4"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got[1..],
        [(net.as_str(), "10.6.0.9"), (net.as_str(), "10.6.0.2")]
    );
    assert_eq!(got[0].0, "public");
    assert_eq!(attachments(&a, id), nics);
    assert_eq!(
        a.json(&format!("{NETS}/{net}"))["network"]["attachments"],
        json!([format!("nic-{id}-1"), format!("nic-{id}-2")])
    );
    let count = || {
        a.json("/compute/v2.0/servers")["servers"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(), 1);
    fault(create(json!([{"uuid": bnet}])), 404, "itemNotFound");
    fault(
        create(json!([{"uuid": net, "fixed_ip": "10.6.0.9"}])),
        409,
        "conflict",
    );
    fault(
        create(json!([{"uuid": net, "fixed_ip": "10.6.0.1"}])),
        409,
        "conflict",
    );
    fault(
        create(json!([{"uuid": net, "fixed_ip": "nope"}])),
        400,
        "badRequest",
    );
    fault(
        create(json!([{"uuid": "public", "fixed_ip": "10.128.0.9"}])),
        403,
        "forbidden",
    );
    fault(create(json!([{"port": "nic-1-0"}])), 400, "badRequest");
    fault(create(json!("lan")), 400, "badRequest");
    assert_eq!(count(), 1, "a refused create made a server");
    // An empty list (kamaki's --no-network) still gives the public NIC.
    let r = create(json!([]));
    assert_eq!(r.status(), 202);
    let v: Value = r.json().unwrap();
    assert_eq!(v["server"]["attachments"].as_array().unwrap().len(), 1);
}

/// A floating IP is the one way onto the public network: a port with the held address
/// (kamaki's `ip attach`), and deleting that port detaches it.
#[test]
fn floating_ips_attach_and_detach() {
    let g = Gateway::start_with(fast());
    let img = image(&g);
    let a = Api::new(&g, &g.user("alice", &[]));
    let b = Api::new(&g, &g.user("bob", &[]));
    let s = a.server(&img, "s");
    let fip = |api: &Api| {
        let r = api.post(&format!("{NEUTRON}/floatingips"), json!({"floatingip": {}}));
        assert_eq!(r.status(), 200);
        r.json::<Value>().unwrap()["floatingip"].clone()
    };
    let f = fip(&a);
    let (fid, addr) = (
        f["id"].as_str().unwrap().to_owned(),
        f["floating_ip_address"].as_str().unwrap().to_owned(),
    );
    let bf = fip(&b);
    let attach = |api: &Api, ip: &str| {
        api.post(
            &format!("{NEUTRON}/ports"),
            json!({"port": {"network_id": "public", "device_id": s.to_string(), "fixed_ips": [{"ip_address": ip}]}}),
        )
    };
    // Not held by the caller: 403; another user's server: 404.
    fault(
        attach(&a, bf["floating_ip_address"].as_str().unwrap()),
        403,
        "forbidden",
    );
    fault(attach(&a, "10.128.200.200"), 403, "forbidden");
    fault(
        attach(&b, bf["floating_ip_address"].as_str().unwrap()),
        404,
        "itemNotFound",
    );
    let r = attach(&a, &addr);
    assert_eq!(r.status(), 201);
    let port = r.json::<Value>().unwrap()["port"].clone();
    assert_eq!(port["id"], format!("nic-{s}-1"));
    assert_eq!(port["network_id"], "public");
    assert_eq!(port["fixed_ips"][0]["ip_address"], json!(addr));
    fault(attach(&a, &addr), 409, "conflict");
    let f = a.json(&format!("{NEUTRON}/floatingips/{fid}"))["floatingip"].clone();
    assert_eq!(f["port_id"], port["id"]);
    assert_eq!(f["instance_id"], s.to_string());
    assert_eq!(f["fixed_ip_address"], json!(addr));
    let ips = a.json(&format!("/compute/v2.0/servers/{s}/ips"));
    assert_eq!(ips["attachments"][1]["ipv4"], json!(addr));
    assert_eq!(ips["addresses"]["public"].as_array().unwrap().len(), 4);
    // In use: the address can't be released; the compute API still refuses public changes.
    let r = a.delete(&format!("{NEUTRON}/floatingips/{fid}"));
    fault(r, 409, "conflict");
    fault(
        net_action(
            &a,
            "public",
            json!({"remove": {"attachment": format!("nic-{s}-1")}}),
        ),
        403,
        "forbidden",
    );
    // The server's own public NIC stays protected; the floating IP's port comes off.
    let r = a.delete(&format!("{NEUTRON}/ports/nic-{s}-0"));
    fault(r, 403, "forbidden");
    let r = a.delete(&format!("{NEUTRON}/ports/nic-{s}-1"));
    assert_eq!(r.status(), 204);
    assert_eq!(
        a.json(&format!("{NEUTRON}/floatingips/{fid}"))["floatingip"]["port_id"],
        Value::Null
    );
    assert_eq!(attachments(&a, s).len(), 1);
    // Attached again, then the server goes: the NIC is released, the address still held.
    assert_eq!(attach(&a, &addr).status(), 201);
    a.wait_for(s, "ACTIVE");
    let r = a.delete(&format!("/compute/v2.0/servers/{s}"));
    assert_eq!(r.status(), 204);
    a.wait_for(s, "DELETED");
    let f = a.json(&format!("{NEUTRON}/floatingips/{fid}"))["floatingip"].clone();
    assert_eq!(f["port_id"], Value::Null);
    assert_eq!(f["floating_ip_address"], json!(addr));
    let r = a.delete(&format!("{NEUTRON}/floatingips/{fid}"));
    assert_eq!(r.status(), 204);
}

/// Every attribute of the JSON detail view is in the XML one, with the same value (nulls as
/// empty attributes; the public network's owner is absent), and the NICs likewise.
#[test]
fn xml_detail_matches_json_detail() {
    let g = Gateway::start_with(fast());
    let img = image(&g);
    let a = Api::new(&g, &g.user("alice", &[]));
    let s = a.server(&img, "s");
    let net = active_net(
        &a,
        json!({"network": {"name": "a \"quoted\" <name>", "type": "CUSTOM", "cidr": "10.1.0.0/24",
            "gateway": "10.1.0.1", "cidr6": "2001:db8:1::/64", "dhcp": false}}),
    );
    for _ in 0..2 {
        connect(&a, &net, s);
    }
    let json = a.json(&format!("{NETS}/detail"));
    let xml = xml_body(a.get(&format!("{NETS}/detail?xml")), 200);
    let elements = xml_elements(&xml, "network");
    let nets = json["networks"].as_array().unwrap();
    assert_eq!(elements.len(), nets.len());
    let nic_ids: Vec<String> = xml_elements(&xml, "nic")
        .into_iter()
        .map(|m| m["id"].clone())
        .collect();
    let mut json_nics = Vec::new();
    for (n, x) in nets.iter().zip(&elements) {
        for (k, v) in n.as_object().unwrap() {
            let want = match v {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Null if k == "user_id" || k == "tenant_id" => {
                    assert!(!x.contains_key(k), "{k} in {x:?}");
                    continue;
                }
                Value::Null => String::new(),
                Value::Array(list) => {
                    json_nics.extend(list.iter().map(|i| i.as_str().unwrap().to_owned()));
                    continue;
                }
                other => panic!("unexpected {k}: {other}"),
            };
            assert_eq!(x.get(k), Some(&want), "{k} of network {}", n["id"]);
        }
    }
    assert_eq!(nic_ids, json_nics);
    assert_eq!(json_nics.len(), 3);
}
