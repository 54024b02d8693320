//! The config drive: how the create request's personality files and the administrator
//! password reach the guest. A small FAT image (made with the `fatfs` crate, no host
//! tools), labelled `config-2`, attached read-only as the server's second virtio disk, in
//! OpenStack's config-drive layout so that cloud-init in a real image reads it too:
//!
//! ```text
//! openstack/latest/meta_data.json   {"uuid", "name", "hostname", "admin_pass", "launch_index",
//!                                    "files": [{"path": "/etc/motd", "content_path": "/content/0000"}, …]}
//! openstack/latest/network_data.json {"links": [{"id": "nic-aa0000123456", "type": "phy",
//!                                      "ethernet_mac_address": "aa:00:00:12:34:56", "mtu": 1500}, …],
//!                                    "networks": [{"id": "network0", "link": "nic-aa0000123456",
//!                                      "type": "ipv4", "ip_address": "10.0.0.5",
//!                                      "netmask": "255.255.255.0", "network_id": "…", "routes": []}, …],
//!                                    "services": []}
//! openstack/content/0000            the first personality file's contents, and so on
//! ```
//!
//! `network_data.json` gives each NIC's addresses as the gateway allocated them (no DHCP
//! server hands them out), with its network's prefix; no routes, since no router joins the
//! networks. It is written at build: NICs hot-plugged later are not in it.
//!
//! FAT keeps no owners or modes: a personality file's `owner`, `group` and `mode` are in
//! its `files` entry for a guest agent to apply. The image is rebuilt at every build and
//! holds the password, so it lives only in the server's directory (mode 0600).

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use serde::Serialize;

use crate::backend::ServerSpec;

/// The volume label cloud-init looks for.
const LABEL: &[u8; 11] = b"config-2   ";

#[derive(Serialize)]
struct MetaData<'a> {
    uuid: String,
    name: &'a str,
    hostname: String,
    admin_pass: &'a str,
    launch_index: u32,
    files: Vec<FileEntry<'a>>,
}

/// One personality file. Fields in this order: the tiny guest's `/init` reads `path` and
/// then `content_path` from the pretty-printed JSON, one per line.
#[derive(Serialize)]
struct FileEntry<'a> {
    path: &'a str,
    content_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
}

/// OpenStack's `network_data.json`.
#[derive(Serialize)]
struct NetworkData {
    links: Vec<Link>,
    networks: Vec<Net>,
    services: Vec<serde_json::Value>,
}

#[derive(Serialize)]
struct Link {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    ethernet_mac_address: String,
    mtu: u32,
}

/// One address of a NIC. Fields in this order: the tiny guest's `/init` reads `link`,
/// `type`, `ip_address` and then `netmask` from the pretty-printed JSON, one per line.
#[derive(Serialize)]
struct Net {
    id: String,
    link: String,
    #[serde(rename = "type")]
    kind: &'static str,
    ip_address: String,
    netmask: String,
    network_id: String,
    routes: Vec<serde_json::Value>,
}

/// `network_data.json`'s text: a link per NIC, and a network per address that has a range.
fn network_data(spec: &ServerSpec) -> Result<String, String> {
    let mut links = Vec::new();
    let mut networks = Vec::new();
    for nic in &spec.nics {
        let link = super::cmdline::NicIds::of(&nic.mac).device;
        links.push(Link {
            id: link.clone(),
            kind: "phy",
            ethernet_mac_address: nic.mac.to_ascii_lowercase(),
            mtu: 1500,
        });
        let v4 = nic
            .ipv4
            .zip(nic.ipv4_net)
            .map(|(a, n)| ("ipv4", a.to_string(), n.netmask().to_string()));
        let v6 = nic
            .ipv6
            .zip(nic.ipv6_net)
            .map(|(a, n)| ("ipv6", a.to_string(), n.netmask().to_string()));
        for (kind, ip_address, netmask) in v4.into_iter().chain(v6) {
            networks.push(Net {
                id: format!("network{}", networks.len()),
                link: link.clone(),
                kind,
                ip_address,
                netmask,
                network_id: nic.network_id.clone(),
                routes: Vec::new(),
            });
        }
    }
    let data = NetworkData {
        links,
        networks,
        services: Vec::new(),
    };
    serde_json::to_string_pretty(&data).map_err(|e| e.to_string())
}

/// A host name from the server's name: letters, digits and dashes, at most 63.
fn hostname(name: &str) -> String {
    let h: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    let h = h.trim_matches('-');
    if h.is_empty() {
        "server".into()
    } else {
        h.to_owned()
    }
}

/// Each personality file's name under `openstack/content/`, with its bytes.
type Contents<'a> = Vec<(String, &'a [u8])>;

/// `meta_data.json`'s text, and the contents.
fn meta_data(spec: &ServerSpec) -> Result<(String, Contents<'_>), String> {
    let mut files = Vec::new();
    let mut contents = Vec::new();
    for (i, f) in spec.personality.iter().enumerate() {
        let name = format!("{i:04}");
        files.push(FileEntry {
            path: &f.path,
            content_path: format!("/content/{name}"),
            owner: f.owner.as_deref(),
            group: f.group.as_deref(),
            mode: f.mode.map(|m| format!("{m:04o}")),
        });
        contents.push((name, f.contents.as_slice()));
    }
    let meta = MetaData {
        uuid: spec.id.to_string(),
        name: &spec.name,
        hostname: hostname(&spec.name),
        admin_pass: &spec.admin_password,
        launch_index: 0,
        files,
    };
    let text = serde_json::to_string_pretty(&meta).map_err(|e| e.to_string())?;
    Ok((text, contents))
}

/// Writes the config drive of `spec` to `path`.
pub fn write(spec: &ServerSpec, path: &Path) -> Result<(), String> {
    let (meta, contents) = meta_data(spec)?;
    let net = network_data(spec)?;
    let data: u64 = contents.iter().map(|(_, c)| c.len() as u64).sum::<u64>()
        + meta.len() as u64
        + net.len() as u64;
    // Room for the data, FAT's tables and a cluster per file; at least 2 MiB.
    let size = (data + data / 4 + (contents.len() as u64 + 8) * 4096 + (1 << 20))
        .max(2 << 20)
        .div_ceil(512)
        * 512;
    let err = |e: std::io::Error| format!("config drive {}: {e}", path.display());
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .mode(0o600)
            .open(path)
            .map_err(err)?
    };
    file.set_len(size).map_err(err)?;
    fatfs::format_volume(
        &mut file,
        fatfs::FormatVolumeOptions::new().volume_label(*LABEL),
    )
    .map_err(err)?;
    file.seek(SeekFrom::Start(0)).map_err(err)?;
    {
        let fs = fatfs::FileSystem::new(&mut file, fatfs::FsOptions::new()).map_err(err)?;
        let root = fs.root_dir();
        let openstack = root.create_dir("openstack").map_err(err)?;
        let latest = openstack.create_dir("latest").map_err(err)?;
        let mut m = latest.create_file("meta_data.json").map_err(err)?;
        m.truncate().map_err(err)?;
        m.write_all(meta.as_bytes()).map_err(err)?;
        let mut n = latest.create_file("network_data.json").map_err(err)?;
        n.truncate().map_err(err)?;
        n.write_all(net.as_bytes()).map_err(err)?;
        let content = openstack.create_dir("content").map_err(err)?;
        for (name, bytes) in contents {
            let mut f = content.create_file(&name).map_err(err)?;
            f.truncate().map_err(err)?;
            f.write_all(bytes).map_err(err)?;
        }
    }
    file.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{NicSpec, PersonalityFile};
    use std::io::Read;

    fn spec() -> ServerSpec {
        ServerSpec {
            id: 42,
            name: "Web server #1".into(),
            vcpus: 1,
            ram_mib: 128,
            disk_gib: 1,
            image_id: "img".into(),
            image_path: None,
            image_disk_format: Some("raw".into()),
            kernel_path: None,
            ramdisk_path: None,
            kernel_cmdline: None,
            nics: vec![
                NicSpec {
                    mac: "AA:00:00:12:34:56".into(),
                    network_id: "public".into(),
                    ipv4: Some("10.0.0.5".parse().unwrap()),
                    ipv6: Some("2001:db8::5".parse().unwrap()),
                    ipv4_net: Some("10.0.0.0/24".parse().unwrap()),
                    ipv6_net: Some("2001:db8::/64".parse().unwrap()),
                },
                NicSpec {
                    mac: "aa:00:00:12:34:57".into(),
                    network_id: "lan".into(),
                    ipv4: Some("192.168.1.9".parse().unwrap()),
                    ipv6: None,
                    ipv4_net: Some("192.168.1.0/28".parse().unwrap()),
                    ipv6_net: None,
                },
                // A network that could not be read: a link, no address without a prefix.
                NicSpec {
                    mac: "aa:00:00:12:34:58".into(),
                    network_id: "gone".into(),
                    ipv4: Some("172.16.0.2".parse().unwrap()),
                    ipv6: None,
                    ipv4_net: None,
                    ipv6_net: None,
                },
            ],
            admin_password: "s3cretPass".into(),
            personality: vec![
                PersonalityFile {
                    path: "/etc/motd".into(),
                    contents: b"hello from the config drive\n".to_vec(),
                    owner: Some("root".into()),
                    group: None,
                    mode: Some(0o644),
                },
                PersonalityFile {
                    path: "/root/.ssh/authorized_keys".into(),
                    contents: vec![0u8, 1, 2, 255],
                    owner: None,
                    group: None,
                    mode: None,
                },
            ],
        }
    }

    #[test]
    fn the_drive_holds_openstacks_layout_with_the_files_and_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.img");
        write(&spec(), &path).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let fs = fatfs::FileSystem::new(file, fatfs::FsOptions::new()).unwrap();
        assert_eq!(fs.volume_label().trim_end(), "config-2");
        let mut meta = String::new();
        fs.root_dir()
            .open_file("openstack/latest/meta_data.json")
            .unwrap()
            .read_to_string(&mut meta)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&meta).unwrap();
        assert_eq!(v["admin_pass"], "s3cretPass");
        assert_eq!(v["hostname"], "web-server--1");
        assert_eq!(v["files"][0]["path"], "/etc/motd");
        assert_eq!(v["files"][0]["mode"], "0644");
        assert_eq!(v["files"][1]["content_path"], "/content/0001");
        // The guest's /init reads these two keys line by line, path first.
        let p = meta.find("\"path\": \"/etc/motd\"").unwrap();
        let c = meta.find("\"content_path\": \"/content/0000\"").unwrap();
        assert!(p < c, "{meta}");
        let mut bytes = Vec::new();
        fs.root_dir()
            .open_file("openstack/content/0001")
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(bytes, vec![0u8, 1, 2, 255]);
    }

    #[test]
    fn network_data_gives_each_nic_its_addresses_and_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.img");
        write(&spec(), &path).unwrap();
        let fs =
            fatfs::FileSystem::new(std::fs::File::open(&path).unwrap(), fatfs::FsOptions::new())
                .unwrap();
        let mut text = String::new();
        fs.root_dir()
            .open_file("openstack/latest/network_data.json")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let links = v["links"].as_array().unwrap();
        assert_eq!(links.len(), 3);
        assert_eq!(links[0]["id"], "nic-aa0000123456");
        assert_eq!(links[0]["ethernet_mac_address"], "aa:00:00:12:34:56");
        assert_eq!(links[0]["type"], "phy");
        let nets = v["networks"].as_array().unwrap();
        let got: Vec<(&str, &str, &str, &str)> = nets
            .iter()
            .map(|n| {
                (
                    n["link"].as_str().unwrap(),
                    n["type"].as_str().unwrap(),
                    n["ip_address"].as_str().unwrap(),
                    n["netmask"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("nic-aa0000123456", "ipv4", "10.0.0.5", "255.255.255.0"),
                (
                    "nic-aa0000123456",
                    "ipv6",
                    "2001:db8::5",
                    "ffff:ffff:ffff:ffff::"
                ),
                ("nic-aa0000123457", "ipv4", "192.168.1.9", "255.255.255.240"),
            ]
        );
        assert_eq!(nets[2]["network_id"], "lan");
        assert_eq!(v["services"], serde_json::json!([]));
        // The guest's /init reads these keys line by line, in this order, in each entry.
        let ip = text.find("\"ip_address\": \"192.168.1.9\"").unwrap();
        let start = text[..ip].rfind('{').unwrap();
        let end = ip + text[ip..].find('}').unwrap();
        let entry = &text[start..end];
        let at = |k: &str| entry.find(&format!("\"{k}\": ")).unwrap();
        assert!(
            at("link") < at("type") && at("type") < at("ip_address"),
            "{entry}"
        );
        assert!(at("ip_address") < at("netmask"), "{entry}");
    }

    #[test]
    fn big_files_fit() {
        let mut s = spec();
        s.personality[0].contents = vec![b'x'; 3 << 20];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.img");
        write(&s, &path).unwrap();
        let fs =
            fatfs::FileSystem::new(std::fs::File::open(&path).unwrap(), fatfs::FsOptions::new())
                .unwrap();
        let mut n = Vec::new();
        fs.root_dir()
            .open_file("openstack/content/0000")
            .unwrap()
            .read_to_end(&mut n)
            .unwrap();
        assert_eq!(n.len(), 3 << 20);
    }
}
