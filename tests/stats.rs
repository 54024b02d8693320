//! Black-box tests of the server stats: `GET /servers/{id}/stats` and the signed graph URLs
//! it hands out, fetched as a browser's `<img>` would — without `X-Auth-Token`.

mod common;

use std::time::Duration;

use common::compute::{Api, fault, image};
use common::{Gateway, Options, assert_well_formed, xml_body};
use serde_json::Value;

/// The seed's four, then the disk's two (a cyclades extension), with their files.
const GRAPHS: [(&str, &str); 6] = [
    ("cpuBar", "cpu-bar"),
    ("cpuTimeSeries", "cpu-ts"),
    ("netBar", "net-bar"),
    ("netTimeSeries", "net-ts"),
    ("diskBar", "disk-bar"),
    ("diskTimeSeries", "disk-ts"),
];

fn fast() -> Options {
    common::compute::fast().env("CYCLADES_STATS_INTERVAL_SECS", "0.2")
}

/// What these tests ask of the compute API beyond the shared client.
trait StatsApi {
    fn stats(&self, id: i64) -> Value;
}

impl StatsApi for Api<'_> {
    fn stats(&self, id: i64) -> Value {
        self.json(&format!("/compute/v2.0/servers/{id}/stats"))["stats"].clone()
    }
}

/// A GET as an `<img>` tag sends it: no token, no Accept.
fn fetch(g: &Gateway, url: &str) -> reqwest::blocking::Response {
    g.client().get(url).send().unwrap()
}

/// Fetches a graph URL without a token and checks it is an SVG image; returns its text.
fn graph(g: &Gateway, url: &str) -> String {
    let r = fetch(g, url);
    assert_eq!(r.status(), 200, "GET {url}");
    let h = r.headers();
    assert_eq!(h["content-type"], "image/svg+xml", "{url}");
    assert_eq!(h["cache-control"], "no-store", "{url}");
    let body = r.text().unwrap();
    assert!(body.contains("<svg"), "{body}");
    assert_well_formed(&body);
    body
}

/// `url` with its `sig` replaced by `sig`.
fn with_sig(url: &str, sig: &str) -> String {
    let (head, _) = url.split_once("&sig=").expect("a signed URL");
    format!("{head}&sig={sig}")
}

#[test]
fn stats_json_xml_and_signed_graphs() {
    let g = Gateway::start_with(fast());
    let img = image(&g);
    let a = Api::new(&g, &g.user("alice", &["--project", "proj-a"]));
    let id = a.server(&img, "web");

    // While it builds there are no samples yet: the graphs still draw, and say so.
    let s = a.stats(id);
    assert!(graph(&g, s["cpuTimeSeries"].as_str().unwrap()).contains("no samples yet"));

    a.wait_for(id, "ACTIVE");
    std::thread::sleep(Duration::from_millis(1200));
    let s = a.stats(id);
    assert_eq!(s["serverRef"], id);
    // 0.2 s sampling, in whole seconds.
    assert_eq!(s["refresh"], 1);
    for (key, file) in GRAPHS {
        let url = s[key].as_str().unwrap_or_else(|| panic!("no {key}: {s}"));
        let prefix = g.url(&format!(
            "/compute/v2.0/servers/{id}/stats/{file}.svg?expires="
        ));
        assert!(url.starts_with(&prefix), "{key}: {url}");
        assert!(url.contains("&sig="), "{url}");
        let svg = graph(&g, url);
        assert!(
            !svg.contains("no samples yet"),
            "{key} has no samples: {svg}"
        );
        assert!(svg.contains(&format!("Server {id}")), "{svg}");
    }

    // XML: the seed's <stats …/> in the compute namespace, with the same data.
    let xml = xml_body(a.get(&format!("/compute/v2.0/servers/{id}/stats?xml")), 200);
    let root = xml_root(&xml);
    assert_eq!(root.0, "stats");
    let attr = |k: &str| {
        root.1
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k} in {xml}"))
    };
    assert_eq!(attr("xmlns"), "http://docs.openstack.org/compute/api/v1.1");
    assert_eq!(attr("serverRef"), id.to_string());
    assert_eq!(attr("refresh"), "1");
    for (key, _) in GRAPHS {
        // Works as given: the XML escaping of `&` is undone by the parser.
        graph(&g, &attr(key));
    }

    // A token is not needed, and not enough: the signature is what counts.
    let cpu = s["cpuBar"].as_str().unwrap();
    let sig = cpu.split_once("&sig=").unwrap().1;
    let mut tampered = sig.to_owned().into_bytes();
    tampered[5] = if tampered[5] == b'a' { b'b' } else { b'a' };
    let tampered = with_sig(cpu, std::str::from_utf8(&tampered).unwrap());
    let msg = fault(fetch(&g, &tampered), 403, "forbidden");
    assert!(msg.contains("signature"), "{msg}");
    let with_token = g
        .client()
        .get(&tampered)
        .header("X-Auth-Token", &a.token)
        .send()
        .unwrap();
    assert_eq!(with_token.status(), 403);
    let unsigned = cpu.split_once('?').unwrap().0;
    fault(fetch(&g, unsigned), 403, "forbidden");
    // The signature covers the expiry, the graph and the server.
    let (head, tail) = cpu.split_once("expires=").unwrap();
    let (expires, rest) = tail.split_once('&').unwrap();
    let later: i64 = expires.parse::<i64>().unwrap() + 3600;
    fault(
        fetch(&g, &format!("{head}expires={later}&{rest}")),
        403,
        "forbidden",
    );
    let other_graph = cpu.replace("/cpu-bar.svg", "/net-bar.svg");
    fault(fetch(&g, &other_graph), 403, "forbidden");
    let other = a.server(&img, "db");
    let other_server = cpu.replace(&format!("/servers/{id}/"), &format!("/servers/{other}/"));
    fault(fetch(&g, &other_server), 403, "forbidden");
    // An unknown graph is a 404, in the compute fault format.
    let unknown = cpu.replace("/cpu-bar.svg", "/cpu-pie.svg");
    fault(fetch(&g, &unknown), 404, "itemNotFound");
    let png = cpu.replace("/cpu-bar.svg", "/cpu-bar.png");
    fault(fetch(&g, &png), 404, "itemNotFound");

    // The stats document itself needs the token.
    let r = g
        .client()
        .get(g.url(&format!("/compute/v2.0/servers/{id}/stats")))
        .send()
        .unwrap();
    fault(r, 401, "unauthorized");
}

/// The text nodes of an SVG document, trimmed, in document order.
fn texts(svg: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(svg);
    let mut out = Vec::new();
    loop {
        match r.read_event().unwrap() {
            Event::Text(t) => {
                let t = t.unescape().unwrap().trim().to_owned();
                if !t.is_empty() {
                    out.push(t);
                }
            }
            Event::Eof => return out,
            _ => {}
        }
    }
}

/// How many points each `<polyline>` of an SVG document has.
fn polylines(svg: &str) -> Vec<usize> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(svg);
    let mut out = Vec::new();
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"polyline" => {
                let points = e
                    .attributes()
                    .map(|a| a.unwrap())
                    .find(|a| a.key.as_ref() == b"points")
                    .map(|a| a.unescape_value().unwrap().split_whitespace().count())
                    .unwrap_or(0);
                out.push(points);
            }
            Event::Eof => return out,
            _ => {}
        }
    }
}

/// A rate as the graphs write it (`12.5 MiB/s`), in bytes per second.
fn rate(text: &str) -> Option<f64> {
    let (n, unit) = text.split_once(' ')?;
    let scale = match unit {
        "KiB/s" => 1024.0,
        "MiB/s" => 1024.0 * 1024.0,
        "GiB/s" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(n.parse::<f64>().ok()? * scale)
}

#[test]
fn disk_graphs_draw_what_the_guest_read_and_wrote() {
    let g = Gateway::start_with(fast());
    let img = image(&g);
    let a = Api {
        g: &g,
        token: g.user("dave", &["--project", "proj-d"]),
    };
    let id = a.server(&img, "disk");
    a.wait_for(id, "ACTIVE");
    // Samples every 0.2 s: enough of them for lines.
    std::thread::sleep(Duration::from_millis(1200));
    let s = a.stats(id);

    let bar = graph(&g, s["diskBar"].as_str().unwrap());
    let t = texts(&bar);
    assert!(
        t.iter()
            .any(|x| x.starts_with(&format!("Server {id}: disk I/O at "))),
        "{t:?}"
    );
    for label in ["read", "written"] {
        assert!(t.contains(&label.to_owned()), "no {label} bar: {t:?}");
    }
    // Both bars carry their value, read first; a running guest always reads something.
    let values: Vec<f64> = t.iter().filter_map(|x| rate(x)).collect();
    assert_eq!(values.len(), 2, "{t:?}");
    assert!(values[0] > 0.0 && values[1] >= 0.0, "{t:?}");

    let ts = graph(&g, s["diskTimeSeries"].as_str().unwrap());
    let t = texts(&ts);
    for want in [
        format!("Server {id}: disk I/O over time"),
        "read".to_owned(),
        "written".to_owned(),
        "time (UTC)".to_owned(),
    ] {
        assert!(t.contains(&want), "no {want}: {t:?}");
    }
    assert!(t.iter().any(|x| x.starts_with("rate (")), "{t:?}");
    // Two series drawn as lines through the samples (an axis or a legend mark is a line
    // of two points), not an empty frame.
    let series = polylines(&ts).into_iter().filter(|n| *n >= 3).count();
    assert!(series >= 2, "{series} series in {ts}");
    assert!(!t.contains(&"no samples yet".to_owned()), "{t:?}");
}

/// The root element's name and attributes.
fn xml_root(xml: &str) -> (String, Vec<(String, String)>) {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                            a.unescape_value().unwrap().into_owned(),
                        )
                    })
                    .collect();
                return (name, attrs);
            }
            Event::Eof => panic!("no root element: {xml}"),
            _ => {}
        }
    }
}

#[test]
fn ownership_suspension_and_deletion() {
    let g = Gateway::start_with(fast());
    let img = image(&g);
    let a = Api::new(&g, &g.user("alice", &["--project", "proj-a"]));
    let b = Api::new(&g, &g.user("bob", &["--project", "proj-b"]));
    let id = a.server(&img, "web");
    a.wait_for(id, "ACTIVE");

    // Another user's server: 404, never 403.
    fault(
        b.get(&format!("/compute/v2.0/servers/{id}/stats")),
        404,
        "itemNotFound",
    );
    fault(
        a.get("/compute/v2.0/servers/999999/stats"),
        404,
        "itemNotFound",
    );
    fault(a.get("/compute/v2.0/servers/web/stats"), 400, "badRequest");

    // Suspended: the stats and the graphs already handed out are 403.
    let url = a.stats(id)["netTimeSeries"].as_str().unwrap().to_owned();
    graph(&g, &url);
    common::cli_last_line(&g.data_dir, &["server", "suspend", &id.to_string()]);
    let msg = fault(
        a.get(&format!("/compute/v2.0/servers/{id}/stats")),
        403,
        "forbidden",
    );
    assert!(msg.contains("suspended"), "{msg}");
    fault(fetch(&g, &url), 403, "forbidden");
    common::cli_last_line(&g.data_dir, &["server", "unsuspend", &id.to_string()]);
    graph(&g, &url);

    // Deleted: the seed's 400 "Server deleted"; graph URLs handed out before are 404.
    let r = a
        .req(
            reqwest::Method::DELETE,
            &format!("/compute/v2.0/servers/{id}"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    a.wait_for(id, "DELETED");
    let msg = fault(
        a.get(&format!("/compute/v2.0/servers/{id}/stats")),
        400,
        "badRequest",
    );
    assert!(msg.contains("deleted"), "{msg}");
    fault(fetch(&g, &url), 404, "itemNotFound");
}

#[test]
fn graph_urls_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let g = Gateway::start_in(dir.path(), fast()).unwrap();
    let img = image(&g);
    let token = g.user("carol", &["--project", "proj-c"]);
    let a = Api {
        g: &g,
        token: token.clone(),
    };
    let id = a.server(&img, "web");
    a.wait_for(id, "ACTIVE");
    let url = a.stats(id)["cpuBar"].as_str().unwrap().to_owned();
    graph(&g, &url);
    let path = url.strip_prefix(&g.url).unwrap().to_owned();
    drop(a);
    assert!(g.stop().0.success());

    // The signing secret is kept in the store: what was handed out still works.
    let g = Gateway::start_in(dir.path(), fast()).unwrap();
    graph(&g, &g.url(&path));
    let a = Api { g: &g, token };
    let again = a.stats(id)["cpuBar"].as_str().unwrap().to_owned();
    graph(&g, &again);
}
