//! The real kamaki 0.16 CLI against the real gateway: the `network`, `subnet`, `port` and
//! `ip` commands, which speak the Neutron-style `/network/v2.0` service. Each step checks
//! what kamaki prints and, through the compute API (`/servers/{id}/ips`, `/networks/{id}`),
//! that both views show the same records.

mod common;

use common::compute::{Api, fast, image};
use common::kamaki::{Kamaki, block, block_has};
use common::{Gateway, Options};
use serde_json::json;

fn gateway() -> Gateway {
    let opts: Options = fast();
    Gateway::start_with(opts)
}

/// A server that reached ACTIVE.
fn server(api: &Api, img: &str) -> i64 {
    let id = api.server(img, "vm");
    api.wait_for(id, "ACTIVE");
    id
}

#[test]
fn kamaki_network_commands() {
    let g = gateway();
    let img = image(&g);
    let api = Api::new(&g, &g.user("alice", &[]));
    let k = Kamaki::new(&g, &api.token);
    let s = server(&api, &img);

    // network list: only the public network so far.
    let r = k.run(&["network", "list"]).ok();
    assert_eq!(r.lines(), ["public public ( public )"], "{}", r.report());

    // network create → 201; kamaki prints the network.
    let r = k.run(&["network", "create", "--name", "lan"]).ok();
    let id = r.field("id").to_owned();
    assert_eq!(r.field("name"), "lan");
    assert_eq!(r.field("type"), "MAC_FILTERED");
    assert_eq!(r.field("public"), "False");
    let compute = api.json(&format!("/compute/v2.0/networks/{id}"));
    assert_eq!(compute["network"]["name"], "lan");
    assert_eq!(compute["network"]["type"], "MAC_FILTERED");

    let r = k.run(&["network", "list"]).ok();
    r.expect_line(&format!("{id} lan ( private )"));
    let r = k.run(&["network", "info", &id]).ok();
    assert_eq!(r.field("name"), "lan");
    assert_eq!(r.field("shared"), "False");

    // network modify → 200 with the network.
    let r = k.run(&["network", "modify", &id, "--name", "office"]).ok();
    assert_eq!(r.field("name"), "office");
    assert_eq!(
        api.json(&format!("/compute/v2.0/networks/{id}"))["network"]["name"],
        "office"
    );

    // subnet create / list: the network's IPv4 range.
    let r = k
        .run(&[
            "subnet",
            "create",
            "--network-id",
            &id,
            "--cidr",
            "10.5.0.0/24",
        ])
        .ok();
    assert_eq!(r.field("id"), format!("{id}-4"));
    assert_eq!(r.field("gateway_ip"), "10.5.0.1");
    let r = k.run(&["subnet", "list"]).ok();
    r.expect_line("public-4 public ( of network public )");
    r.expect_line(&format!("{id}-4 office ( of network {id} )"));
    assert_eq!(
        api.json(&format!("/compute/v2.0/networks/{id}"))["network"]["cidr"],
        "10.5.0.0/24"
    );

    // network connect --device-id → POST /ports, 201.
    let sid = s.to_string();
    let r = k
        .run(&["network", "connect", &id, "--device-id", &sid])
        .ok();
    r.expect_err_line(&format!(
        "Creating a port to connect network {id} with device {sid}"
    ));
    let port = format!("nic-{s}-1");
    let b = block(&r, &port);
    assert!(
        b.iter().any(|l| l.trim() == "ip_address: 10.5.0.2"),
        "{b:#?}"
    );
    assert!(
        b.iter().any(|l| l.trim() == format!("device_id: {sid}")),
        "{b:#?}"
    );
    // Both compute views agree with what kamaki printed.
    let ips = api.json(&format!("/compute/v2.0/servers/{s}/ips"));
    let nic = &ips["attachments"][1];
    assert_eq!(nic["id"], port);
    assert_eq!(nic["network_id"], id);
    assert_eq!(nic["ipv4"], "10.5.0.2");
    assert!(
        b.iter()
            .any(|l| l.trim() == format!("mac_address: {}", nic["mac_address"].as_str().unwrap())),
        "{b:#?}"
    );
    assert_eq!(
        api.json(&format!("/compute/v2.0/networks/{id}"))["network"]["attachments"],
        json!([port])
    );

    // port list: the public NIC and the new one.
    let r = k.run(&["port", "list"]).ok();
    let ids: Vec<&str> = r.lines().iter().map(|l| l.trim()).collect();
    assert_eq!(ids, [format!("nic-{s}-0"), port.clone()], "{}", r.report());

    // port modify --name (PUT /ports/{id}, 200).
    let r = k.run(&["port", "modify", &port, "--name", "eth1"]).ok();
    assert_eq!(r.field("name"), "eth1");
    let r = k.run(&["port", "list"]).ok();
    r.expect_line(&format!("{port} eth1"));

    // A network in use can't go: kamaki explains.
    let r = k.run(&["network", "delete", &id]).failed();
    assert!(
        r.stderr
            .contains(&format!("Network with id {id} is in use"))
            || r.stdout
                .contains(&format!("Network with id {id} is in use")),
        "{}",
        r.report()
    );

    // network disconnect reads the server's attachments and DELETEs the port (204).
    let r = k
        .run(&["network", "disconnect", &id, "--device-id", &sid])
        .ok();
    r.expect_err_line(&format!(
        "Deleting port {port} (net-id: {id}, device-id: {sid}):"
    ));
    let ips = api.json(&format!("/compute/v2.0/servers/{s}/ips"));
    assert_eq!(ips["attachments"].as_array().unwrap().len(), 1);
    assert!(ips["addresses"].get(&id).is_none(), "{ips}");
    assert_eq!(
        api.json(&format!("/compute/v2.0/networks/{id}"))["network"]["attachments"],
        json!([])
    );
    let r = k.run(&["port", "list"]).ok();
    assert_eq!(r.lines().len(), 1, "{}", r.report());

    // server create --network NET,IP: the new server has its NIC there from the start.
    let r = k
        .run(&[
            "server",
            "create",
            "--name",
            "on-lan",
            "--flavor-id",
            "1",
            "--image-id",
            &img,
            "--network",
            &format!("{id},10.5.0.50"),
        ])
        .ok();
    let on_lan = r.field("id").to_owned();
    block_has(&r, "attachments:", "ipv4: 10.5.0.50");
    let ips = api.json(&format!("/compute/v2.0/servers/{on_lan}/ips"));
    assert_eq!(ips["attachments"][1]["network_id"], id);
    assert_eq!(ips["attachments"][1]["ipv4"], "10.5.0.50");
    assert_eq!(
        api.json(&format!("/compute/v2.0/networks/{id}"))["network"]["attachments"],
        json!([format!("nic-{on_lan}-1")])
    );
    // Deleting the server releases the NIC (once the backend has removed it).
    k.run(&["server", "delete", &on_lan, "-w"]).ok();
    assert_eq!(
        api.json(&format!("/compute/v2.0/networks/{id}"))["network"]["attachments"],
        json!([])
    );

    // ip create (200) / list / delete (204): an address of the public range, held out of
    // NIC allocation.
    let r = k.run(&["ip", "create"]).ok();
    let ip_id = r.field("id").to_owned();
    let addr = r.field("floating_ip_address").to_owned();
    assert_eq!(r.field("floating_network_id"), "public");
    assert!(addr.starts_with("10.128."), "{addr}");
    let r = k.run(&["ip", "create", "--address", "10.128.3.3"]).ok();
    let ip2 = r.field("id").to_owned();
    let r = k.run(&["ip", "list"]).ok();
    r.expect_line(&ip_id);
    r.expect_line(&ip2);
    let b = block(&r, &ip_id);
    assert!(
        b.iter()
            .any(|l| l.trim() == format!("floating_ip_address: {addr}")),
        "{b:#?}"
    );
    let other = server(&api, &img);
    let public_ip =
        api.json(&format!("/compute/v2.0/servers/{other}/ips"))["attachments"][0]["ipv4"]
            .as_str()
            .unwrap()
            .to_owned();
    assert!(
        public_ip != addr && public_ip != "10.128.3.3",
        "{public_ip}"
    );
    // ip attach / detach: the held address as a port of the server on the public network.
    let r = k.run(&["ip", "attach", &addr, "--server-id", &sid]).ok();
    r.expect_err_line(&format!(
        "Creating a port to attach IP {addr} to server {sid}"
    ));
    let attached = format!("nic-{s}-2");
    let b = block(&r, &attached);
    assert!(
        b.iter().any(|l| l.trim() == format!("ip_address: {addr}")),
        "{b:#?}"
    );
    let ips = api.json(&format!("/compute/v2.0/servers/{s}/ips"));
    assert_eq!(ips["attachments"][1]["id"], attached);
    assert_eq!(ips["attachments"][1]["network_id"], "public");
    assert_eq!(ips["attachments"][1]["ipv4"], addr);
    let r = k.run(&["ip", "info", &ip_id]).ok();
    assert_eq!(r.field("port_id"), attached);
    assert_eq!(r.field("instance_id"), sid);
    let r = k.run(&["ip", "detach", &addr]).ok();
    r.expect_err_line(&format!("Deleting port {attached}:"));
    let ips = api.json(&format!("/compute/v2.0/servers/{s}/ips"));
    assert_eq!(ips["attachments"].as_array().unwrap().len(), 1);
    assert_eq!(k.run(&["ip", "info", &ip_id]).ok().field("port_id"), "None");
    k.run(&["ip", "delete", &ip_id]).ok();
    k.run(&["ip", "delete", &ip2]).ok();
    let r = k.run(&["ip", "list"]).ok();
    assert!(r.stdout.trim().is_empty(), "{}", r.report());

    // network delete → 204; gone from both views.
    k.run(&["network", "delete", &id]).ok();
    let r = k.run(&["network", "list"]).ok();
    assert_eq!(r.lines(), ["public public ( public )"], "{}", r.report());
    let r = api.get(&format!("/compute/v2.0/networks/{id}"));
    assert_eq!(r.status(), 404);
    let r = k.run(&["network", "info", &id]).failed();
    assert!(
        r.stderr.contains(&format!("No network with id {id} found"))
            || r.stdout.contains(&format!("No network with id {id} found")),
        "{}",
        r.report()
    );

    // The public network is not the user's to change.
    let r = k.run(&["network", "delete", "public"]).failed();
    assert!(
        (r.stderr.clone() + &r.stdout).contains("403"),
        "{}",
        r.report()
    );
}
