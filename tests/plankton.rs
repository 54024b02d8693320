//! Black-box tests of Plankton (`/image/v1.0`, Glance v1 style): every endpoint, the list
//! filters, header encoding, uploads with hash checks, members, faults — and that the same
//! records show through the Image API v2 and the compute `/images` at once.

mod common;

use std::collections::BTreeMap;
use std::io::Read;

use common::Gateway;
use common::compute::{Api, protected_gateway};
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

const V1: &str = "/image/v1.0";

/// Plankton's requests, and images made through the Image API v2 to look at through it.
impl Api<'_> {
    fn v2_create(&self, body: Value) -> String {
        self.create_image(body)["id"].as_str().unwrap().to_owned()
    }
    fn v2_upload(&self, id: &str, data: &[u8]) {
        assert_eq!(self.upload(id, data.to_vec()).status(), 204);
    }
    fn head(&self, id: &str) -> Response {
        self.req(Method::HEAD, &format!("{V1}/images/{id}"))
            .send()
            .unwrap()
    }
    /// `HEAD` as kamaki reads it: `x-image-meta-*` (URL-decoded) and the properties.
    fn meta(&self, id: &str) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        let r = self.head(id);
        assert_eq!(r.status(), 200, "HEAD {id}");
        decoded_meta(&r)
    }
    /// `PUT /images/{id}` with the `x-image-meta-*` headers kamaki sends.
    fn put_meta(&self, id: &str, headers: &[(&str, &str)]) -> Response {
        let mut b = self
            .req(Method::PUT, &format!("{V1}/images/{id}"))
            .header("Content-Length", "0");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.send().unwrap()
    }
}

fn percent_decoded(v: &[u8]) -> String {
    percent_encoding::percent_decode(v)
        .decode_utf8()
        .expect("UTF-8 once decoded")
        .into_owned()
}

/// Splits the image headers the way kamaki's `_format_image_headers` does, decoding every
/// value (kamaki decodes the name and the properties; the others never need it here).
fn decoded_meta(r: &Response) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let (mut meta, mut props) = (BTreeMap::new(), BTreeMap::new());
    for (k, v) in r.headers() {
        let k = k.as_str();
        assert!(
            v.as_bytes()
                .iter()
                .all(|b| b.is_ascii_graphic() || *b == b' '),
            "{k}: {v:?} is not plain visible ASCII"
        );
        if let Some(p) = k.strip_prefix("x-image-meta-property-") {
            props.insert(
                percent_decoded(p.as_bytes()).replace('-', "_"),
                percent_decoded(v.as_bytes()),
            );
        } else if let Some(m) = k.strip_prefix("x-image-meta-") {
            meta.insert(m.to_owned(), percent_decoded(v.as_bytes()));
        }
    }
    (meta, props)
}

fn md5_hex(b: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(b))
}

fn sha512_hex(b: &[u8]) -> String {
    use sha2::{Digest, Sha512};
    hex::encode(Sha512::digest(b))
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 + i / 257) as u8).collect()
}

/// A Cyclades fault: its name, and `code` as a JSON integer equal to the status.
fn fault(r: Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().expect("a JSON fault");
    let (name, body) = v.as_object().unwrap().iter().next().unwrap();
    assert_eq!(body["code"], json!(status), "{v}");
    (
        status,
        name.clone(),
        body["message"].as_str().unwrap().to_owned(),
    )
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a bare JSON list")
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn lists_detail_and_filters() {
    let g = Gateway::start();
    let alice = Api::new(&g, &g.user("alice", &["--project", "proj-a"]));
    let bob = Api::new(&g, &g.user("bob", &["--project", "proj-b"]));
    let a = alice.v2_create(json!({"name": "alpha", "disk_format": "raw",
        "container_format": "bare", "os_distro": "debian"}));
    alice.v2_upload(&a, &data(100));
    let b = alice.v2_create(json!({"name": "beta", "disk_format": "qcow2",
        "container_format": "ovf"}));
    alice.v2_upload(&b, &data(5000));
    let c = alice.v2_create(json!({"name": "gamma", "disk_format": "raw",
        "container_format": "bare"}));

    // kamaki's `image list`: GET /images/?sort_dir=asc, a bare list, oldest first.
    let list = alice.json(&format!("{V1}/images/?sort_dir=asc"));
    assert_eq!(ids(&list), [a.clone(), b.clone(), c.clone()]);
    let first = &list[0];
    assert_eq!(first["name"], "alpha");
    assert_eq!(first["status"], "active");
    assert_eq!(first["size"], 100);
    assert_eq!(first["disk_format"], "raw");
    assert_eq!(first["container_format"], "bare");
    assert_eq!(first["checksum"], md5_hex(&data(100)));
    assert_eq!(list[2]["status"], "queued");
    assert_eq!(list[2]["size"], 0);
    assert!(first.get("properties").is_none(), "{first}");
    // Without the slash and by default: newest first.
    assert_eq!(
        ids(&alice.json(&format!("{V1}/images"))),
        [c.clone(), b.clone(), a.clone()]
    );

    for (q, want) in [
        ("name=beta", vec![&b]),
        ("status=queued", vec![&c]),
        ("disk_format=raw", vec![&a, &c]),
        ("container_format=ovf", vec![&b]),
        ("size_min=101", vec![&b]),
        // An image without data has no size (shown as 0): size filters leave it out, as v2's.
        ("size_max=100", vec![&a]),
        ("size_min=50&size_max=100", vec![&a]),
        ("property-os_distro=debian", vec![&a]),
        ("sort_key=name&sort_dir=desc", vec![&c, &b, &a]),
        ("sort_key=size&sort_dir=asc&limit=2", vec![&c, &a]),
    ] {
        let mut q = q.to_owned();
        if !q.contains("sort_dir") {
            q.push_str("&sort_dir=asc");
        }
        let got = ids(&alice.json(&format!("{V1}/images/?{q}")));
        assert_eq!(got, want.into_iter().cloned().collect::<Vec<_>>(), "{q}");
    }
    let marker = ids(&alice.json(&format!("{V1}/images/?sort_dir=asc&marker={a}")));
    assert_eq!(marker, [b.clone(), c.clone()]);

    // -l: every attribute and the properties.
    let detail = alice.json(&format!("{V1}/images/detail?sort_dir=asc"));
    let d = &detail[0];
    assert_eq!(d["id"], a);
    assert_eq!(d["owner"], "proj-a");
    assert_eq!(d["is_public"], false);
    assert_eq!(d["protected"], false);
    assert_eq!(d["properties"], json!({"os_distro": "debian"}));
    for key in [
        "created_at",
        "updated_at",
        "min_disk",
        "min_ram",
        "checksum",
    ] {
        assert!(d.get(key).is_some(), "{key} in {d}");
    }
    let detail_q = alice.json(&format!("{V1}/images/detail?name=gamma"));
    assert_eq!(ids(&detail_q), std::slice::from_ref(&c));

    // Another project sees none of alice's (shared-visibility, memberless) images.
    assert_eq!(
        ids(&bob.json(&format!("{V1}/images/"))),
        Vec::<String>::new()
    );
    assert_eq!(bob.head(&a).status(), 404);

    for bad in [
        "colour=red",
        "status=sleeping",
        "size_min=-1",
        "sort_key=colour",
        "sort_dir=up",
        "marker=nope",
    ] {
        let r = alice
            .req(Method::GET, &format!("{V1}/images/?{bad}"))
            .send()
            .unwrap();
        let (status, name, _) = fault(r);
        assert_eq!((status, name.as_str()), (400, "badRequest"), "{bad}");
    }
}

#[test]
fn metadata_headers_are_encoded_never_dropped() {
    let g = Gateway::start();
    let alice = Api::new(&g, &g.user("alice", &["--project", "proj-a"]));
    let name = "Débian\nBase 100% \"quoted\"";
    let id = alice.v2_create(json!({
        "name": name,
        "disk_format": "raw",
        "container_format": "bare",
        "os_distro": "debian",
        "description": "two\r\nlines ☃",
        "owner_specified.openstack.md5": "abc",
        "with space": "x",
        "Mixed_Case": "  padded  ",
    }));
    let (meta, props) = alice.meta(&id);
    assert_eq!(meta["id"], id);
    assert_eq!(meta["name"], name);
    assert_eq!(meta["status"], "queued");
    assert_eq!(meta["disk-format"], "raw");
    assert_eq!(meta["container-format"], "bare");
    assert_eq!(meta["is-public"], "False");
    assert_eq!(meta["protected"], "False");
    assert_eq!(meta["owner"], "proj-a");
    assert_eq!(meta["size"], "0");
    assert_eq!(meta["min-disk"], "0");
    assert_eq!(props["os_distro"], "debian");
    assert_eq!(props["description"], "two\r\nlines ☃");
    assert_eq!(props["owner_specified.openstack.md5"], "abc");
    assert_eq!(props["with space"], "x");
    // Header names are case-insensitive: the property shows in lower case.
    assert_eq!(props["mixed_case"], "  padded  ");
    assert_eq!(props.len(), 5, "{props:?}");
    // The raw header of the name is URL-encoded (kamaki unquotes it).
    let r = alice.head(&id);
    let raw = r.headers()["x-image-meta-name"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(raw, "D%C3%A9bian%0ABase%20100%25%20%22quoted%22");
    assert!(r.bytes().unwrap().is_empty(), "HEAD has no body");

    // Headers in are URL-decoded the same way (kamaki quotes the name and properties).
    let r = alice.put_meta(
        &id,
        &[
            ("X-Image-Meta-Name", "Caf%C3%A9%0Aau%20lait"),
            ("X-Image-Meta-Property-Os-Distro", "ubuntu%0A24.04"),
            (
                "X-Image-Meta-Property-Description",
                "two%0D%0Alines%20%E2%98%83",
            ),
            ("X-Image-Meta-Property-owner_specified.openstack.md5", "abc"),
            ("X-Image-Meta-Property-with%20space", "x"),
            ("X-Image-Meta-Property-Mixed-Case", "%20%20padded%20%20"),
        ],
    );
    assert_eq!(r.status(), 200);
    let v2 = alice.json(&format!("/image/v2/images/{id}"));
    assert_eq!(v2["name"], "Café\nau lait");
    assert_eq!(v2["os_distro"], "ubuntu\n24.04");
    assert_eq!(v2["description"], "two\r\nlines ☃");
    // The record's own spelling of a property is kept.
    assert_eq!(v2["Mixed_Case"], "  padded  ");
    assert_eq!(v2["with space"], "x");
    assert!(v2.get("mixed_case").is_none(), "{v2}");

    // Raw non-ASCII (not URL-encoded) that is not UTF-8 is a clear 400, not a crash.
    let r = alice
        .req(Method::PUT, &format!("{V1}/images/{id}"))
        .header(
            "X-Image-Meta-Name",
            reqwest::header::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        )
        .send()
        .unwrap();
    let (status, name, msg) = fault(r);
    assert_eq!((status, name.as_str()), (400, "badRequest"));
    assert!(msg.contains("UTF-8"), "{msg}");
}

#[test]
fn create_with_data_streams_and_checks_hashes() {
    let g = Gateway::start();
    let alice = Api::new(&g, &g.user("alice", &["--project", "proj-a"]));
    // Over the 1 MiB JSON body limit: image data is streamed, never buffered as a body.
    let bytes = data(3 << 20);
    // A chunked body (no Content-Length), as a streaming client sends it.
    let chunked = reqwest::blocking::Body::new(std::io::Cursor::new(bytes.clone()));
    let r = alice
        .req(Method::POST, &format!("{V1}/images/"))
        .header("X-Image-Meta-Name", "streamed%20image")
        .header("X-Image-Meta-Disk-Format", "qcow2")
        .header("X-Image-Meta-Container-Format", "bare")
        .header("X-Image-Meta-Min-Ram", "256")
        .header("X-Image-Meta-Checksum", md5_hex(&bytes))
        .header("X-Image-Meta-Property-OS-Distro", "cirros")
        .header("Content-Type", "application/octet-stream")
        .body(chunked)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let (meta, props) = decoded_meta(&r);
    let body: Value = r.json().unwrap();
    let id = meta["id"].clone();
    assert_eq!(body["image"]["id"], id);
    assert_eq!(meta["status"], "active");
    assert_eq!(meta["size"], bytes.len().to_string());
    assert_eq!(meta["checksum"], md5_hex(&bytes));
    assert_eq!(meta["name"], "streamed image");
    assert_eq!(props["os_distro"], "cirros");
    assert_eq!(body["image"]["min_ram"], 256);

    // The same record through v2 (sha512 too) and compute.
    let v2 = alice.json(&format!("/image/v2/images/{id}"));
    assert_eq!(v2["status"], "active");
    assert_eq!(v2["checksum"], md5_hex(&bytes));
    assert_eq!(v2["os_hash_value"], sha512_hex(&bytes));
    assert_eq!(v2["os_distro"], "cirros");
    assert_eq!(v2["visibility"], "shared");
    let cv = alice.json(&format!("/compute/v2.0/images/{id}"));
    assert_eq!(cv["image"]["status"], "ACTIVE");
    assert_eq!(cv["image"]["progress"], 100);
    assert_eq!(cv["image"]["minRam"], 256);

    // GET gives the data with the same headers; v2 gives the same bytes.
    let mut r = alice
        .req(Method::GET, &format!("{V1}/images/{id}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-md5"], md5_hex(&bytes).as_str());
    assert_eq!(r.headers()["x-image-meta-id"], id.as_str());
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    assert_eq!(got, bytes);
    let r = alice
        .req(Method::GET, &format!("{V1}/images/{id}"))
        .header("Range", "bytes=10-19")
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().unwrap().as_ref(), &bytes[10..20]);

    // A wrong checksum or size keeps nothing: no record, no data.
    let before = ids(&alice.json(&format!("{V1}/images/")));
    for (h, v) in [
        ("X-Image-Meta-Checksum", "0".repeat(32)),
        ("X-Image-Meta-Size", "5".to_owned()),
    ] {
        let r = alice
            .req(Method::POST, &format!("{V1}/images/"))
            .header("X-Image-Meta-Name", "bad")
            .header(h, v)
            .body(data(1000))
            .send()
            .unwrap();
        let (status, name, msg) = fault(r);
        assert_eq!((status, name.as_str()), (400, "badRequest"), "{h}: {msg}");
        assert!(msg.contains("nothing"), "{msg}");
    }
    assert_eq!(ids(&alice.json(&format!("{V1}/images/"))), before);

    // Without a body: a queued image; PUT with a body uploads it, once.
    let r = alice
        .req(Method::POST, &format!("{V1}/images"))
        .header("X-Image-Meta-Name", "later")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let (meta, _) = decoded_meta(&r);
    let later = meta["id"].clone();
    assert_eq!(meta["status"], "queued");
    let small = data(777);
    let r = alice
        .req(Method::PUT, &format!("{V1}/images/{later}"))
        .header("X-Image-Meta-Checksum", md5_hex(&small))
        .body(small.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let (meta, _) = decoded_meta(&r);
    assert_eq!(meta["status"], "active");
    assert_eq!(meta["size"], "777");
    let r = alice
        .req(Method::PUT, &format!("{V1}/images/{later}"))
        .body(small.clone())
        .send()
        .unwrap();
    assert_eq!(fault(r).0, 409);
    let r = alice
        .req(Method::PUT, &format!("{V1}/images/{later}"))
        .header("Content-Type", "text/plain")
        .body("text")
        .send()
        .unwrap();
    assert_eq!(fault(r).0, 415);

    // A queued image's GET is a 204 with the headers.
    let r = alice
        .req(Method::POST, &format!("{V1}/images/"))
        .send()
        .unwrap();
    let (meta, _) = decoded_meta(&r);
    let r = alice
        .req(Method::GET, &format!("{V1}/images/{}", meta["id"]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["x-image-meta-status"], "queued");
}

#[test]
fn register_locations_and_server_owned_values_are_refused() {
    let g = Gateway::start();
    let alice = Api::new(&g, &g.user("alice", &["--project", "proj-a"]));
    // What kamaki's `image register --location /pithos/x.img` sends.
    let r = alice
        .req(Method::POST, &format!("{V1}/images/"))
        .header("X-Image-Meta-Name", "x")
        .header("X-Image-Meta-Location", "pithos://user/pithos/x.img")
        .header("Content-Length", "0")
        .send()
        .unwrap();
    let (status, name, msg) = fault(r);
    assert_eq!((status, name.as_str()), (400, "badRequest"));
    assert!(
        msg.contains("no object store") && msg.contains("/image/v2/images"),
        "{msg}"
    );
    let r = alice
        .req(Method::POST, &format!("{V1}/images/"))
        .header("X-Image-Meta-Size", "10")
        .send()
        .unwrap();
    assert_eq!(fault(r).0, 400);
    for (h, v) in [
        ("X-Image-Meta-Status", "active"),
        ("X-Image-Meta-Created-At", "2020-01-01T00:00:00Z"),
    ] {
        let r = alice
            .req(Method::POST, &format!("{V1}/images/"))
            .header(h, v)
            .send()
            .unwrap();
        assert_eq!(fault(r).1, "forbidden", "{h}");
    }
    let r = alice
        .req(Method::POST, &format!("{V1}/images/"))
        .header("X-Image-Meta-Colour", "red")
        .send()
        .unwrap();
    let (status, _, msg) = fault(r);
    assert_eq!(status, 400);
    assert!(msg.contains("X-Image-Meta-Property-NAME"), "{msg}");
    let r = alice
        .req(Method::POST, &format!("{V1}/images/"))
        .header("X-Image-Meta-Is-Public", "True")
        .send()
        .unwrap();
    assert_eq!(fault(r).1, "forbidden", "only admins publish");
    let r = alice
        .req(Method::POST, &format!("{V1}/images/"))
        .header("X-Image-Meta-Disk-Format", "floppy")
        .send()
        .unwrap();
    assert_eq!(fault(r).0, 400, "the v2 schema applies");
    assert_eq!(
        ids(&alice.json(&format!("{V1}/images/"))),
        Vec::<String>::new()
    );

    let id = alice.v2_create(json!({"name": "n"}));
    alice.v2_upload(&id, b"abc");
    let (meta, _) = alice.meta(&id);
    // Repeating server-owned values is fine (clients echo HEAD back); changing them is not.
    let r = alice.put_meta(
        &id,
        &[
            ("X-Image-Meta-Status", "active"),
            ("X-Image-Meta-Size", "3"),
            ("X-Image-Meta-Checksum", &meta["checksum"]),
            ("X-Image-Meta-Id", &id),
        ],
    );
    assert_eq!(r.status(), 200);
    for (h, v) in [
        ("X-Image-Meta-Status", "killed"),
        ("X-Image-Meta-Size", "4"),
        ("X-Image-Meta-Id", "other"),
    ] {
        assert_eq!(fault(alice.put_meta(&id, &[(h, v)])).1, "forbidden", "{h}");
    }
}

#[test]
fn updates_map_one_to_one_to_the_v2_record() {
    let g = Gateway::start();
    let admin = Api::new(&g, &g.admin_token());
    let alice = Api::new(&g, &g.user("alice", &["--project", "proj-a"]));
    let bob = Api::new(&g, &g.user("bob", &["--project", "proj-b"]));
    let id = alice.v2_create(json!({"name": "orig", "disk_format": "raw",
        "a": "1", "b": "2", "kept": "k"}));

    // Name, formats, minimums, and a property set.
    let r = alice.put_meta(
        &id,
        &[
            ("X-Image-Meta-Name", "renamed"),
            ("X-Image-Meta-Container-Format", "bare"),
            ("X-Image-Meta-Min-Disk", "2"),
            ("X-Glance-Registry-Purge-Props", "false"),
            ("X-Image-Meta-Property-a", "one"),
        ],
    );
    assert_eq!(r.status(), 200);
    let body: Value = r.json().unwrap();
    assert_eq!(body["image"]["name"], "renamed");
    let v2 = alice.json(&format!("/image/v2/images/{id}"));
    assert_eq!(
        (&v2["name"], &v2["container_format"], &v2["min_disk"]),
        (&json!("renamed"), &json!("bare"), &json!(2))
    );
    assert_eq!(
        (&v2["a"], &v2["b"], &v2["kept"]),
        (&json!("one"), &json!("2"), &json!("k"))
    );
    let cv = alice.json(&format!("/compute/v2.0/images/{id}"));
    assert_eq!(cv["image"]["name"], "renamed");
    assert_eq!(cv["image"]["minDisk"], 2);
    assert_eq!(cv["image"]["metadata"]["a"], "one");

    // A PUT that names properties replaces them (kamaki re-sends all it keeps).
    assert_eq!(
        alice
            .put_meta(
                &id,
                &[
                    ("X-Image-Meta-Property-a", "one"),
                    ("X-Image-Meta-Property-kept", "k")
                ]
            )
            .status(),
        200
    );
    let v2 = alice.json(&format!("/image/v2/images/{id}"));
    assert!(v2.get("b").is_none(), "{v2}");
    assert_eq!(v2["kept"], "k");
    // One that names none keeps them.
    assert_eq!(
        alice
            .put_meta(&id, &[("X-Image-Meta-Name", "again")])
            .status(),
        200
    );
    let meta = alice.json(&format!("/compute/v2.0/images/{id}/metadata"));
    assert_eq!(meta["metadata"], json!({"a": "one", "kept": "k"}));
    // kamaki's `-p a=new`: the old value under the read name, the new one upper-cased.
    let r = alice
        .req(Method::PUT, &format!("{V1}/images/{id}"))
        .header("X-Image-Meta-Property-a", "one")
        .header("X-Image-Meta-Property-A", "new")
        .header("X-Image-Meta-Property-kept", "k")
        .header("Content-Length", "0")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(alice.meta(&id).1["a"], "new");
    // A change through v2 shows here at once.
    let r = alice
        .req(Method::PATCH, &format!("/image/v2/images/{id}"))
        .header(
            "Content-Type",
            "application/openstack-images-v2.1-json-patch",
        )
        .body(json!([{"op": "add", "path": "/from_v2", "value": "yes"}]).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(alice.meta(&id).1["from_v2"], "yes");

    // Visibility: is-public is v2's public; only admins publish; False makes it shared.
    assert_eq!(
        fault(alice.put_meta(&id, &[("X-Image-Meta-Is-Public", "True")])).1,
        "forbidden"
    );
    assert_eq!(
        admin
            .put_meta(&id, &[("X-Image-Meta-Is-Public", "True")])
            .status(),
        200
    );
    assert_eq!(
        alice.json(&format!("/image/v2/images/{id}"))["visibility"],
        "public"
    );
    assert_eq!(bob.meta(&id).0["is-public"], "True");
    assert!(ids(&bob.json(&format!("{V1}/images/"))).contains(&id));
    assert_eq!(
        fault(bob.put_meta(&id, &[("X-Image-Meta-Name", "mine")])).0,
        403
    );
    assert_eq!(
        admin
            .put_meta(&id, &[("X-Image-Meta-Is-Public", "False")])
            .status(),
        200
    );
    assert_eq!(
        alice.json(&format!("/image/v2/images/{id}"))["visibility"],
        "shared"
    );
    assert_eq!(bob.head(&id).status(), 404);
    // Owner: admins only.
    assert_eq!(
        fault(alice.put_meta(&id, &[("X-Image-Meta-Owner", "proj-b")])).0,
        403
    );

    // Protected images can't be deleted, through any view.
    assert_eq!(
        alice
            .put_meta(&id, &[("X-Image-Meta-Protected", "True")])
            .status(),
        200
    );
    assert_eq!(
        alice.json(&format!("/image/v2/images/{id}"))["protected"],
        true
    );
    let r = alice
        .req(Method::DELETE, &format!("{V1}/images/{id}"))
        .send()
        .unwrap();
    let (status, name, msg) = fault(r);
    assert_eq!((status, name.as_str()), (403, "forbidden"));
    assert!(msg.contains("protected"), "{msg}");
    assert_eq!(
        alice
            .put_meta(&id, &[("X-Image-Meta-Protected", "False")])
            .status(),
        200
    );
    assert_eq!(
        bob.req(Method::DELETE, &format!("{V1}/images/{id}"))
            .send()
            .unwrap()
            .status(),
        404
    );
    let r = alice
        .req(Method::DELETE, &format!("{V1}/images/{id}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(alice.head(&id).status(), 404);
    let r = alice
        .req(Method::GET, &format!("/image/v2/images/{id}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = alice
        .req(Method::GET, &format!("/compute/v2.0/images/{id}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn property_protections_apply_here_too() {
    let (_rules, g) = protected_gateway();
    let admin = Api::new(&g, &g.admin_token());
    let member = Api::new(&g, &g.user("m", &["--project", "admin"]));
    let id = admin.v2_create(json!({"name": "billed", "x_billing_code": "B-42",
        "os_type": "linux", "free": "f"}));
    // The member can't read the billing code: not in HEAD, not in detail.
    let (_, props) = member.meta(&id);
    assert!(!props.contains_key("x_billing_code"), "{props:?}");
    assert_eq!(props["os_type"], "linux");
    let detail = member.json(&format!("{V1}/images/detail"));
    assert!(detail[0]["properties"].get("x_billing_code").is_none());
    assert_eq!(admin.meta(&id).1["x_billing_code"], "B-42");
    // Re-sending what it read (kamaki's modify) keeps the property it could not see.
    let r = member.put_meta(
        &id,
        &[
            ("X-Image-Meta-Property-os-type", "linux"),
            ("X-Image-Meta-Property-free", "changed"),
        ],
    );
    assert_eq!(r.status(), 200);
    let v2 = admin.json(&format!("/image/v2/images/{id}"));
    assert_eq!(v2["x_billing_code"], "B-42");
    assert_eq!(v2["free"], "changed");
    // Dropping os_type needs delete (admin only); setting a billing code needs create.
    let (status, _, msg) = fault(member.put_meta(&id, &[("X-Image-Meta-Property-free", "f")]));
    assert_eq!(status, 403, "{msg}");
    assert!(msg.contains("os_type"), "{msg}");
    let r = member.put_meta(
        &id,
        &[
            ("X-Image-Meta-Property-os-type", "linux"),
            ("X-Image-Meta-Property-free", "f"),
            ("X-Image-Meta-Property-x-billing-other", "1"),
        ],
    );
    assert_eq!(fault(r).0, 403);
    let r = member
        .req(Method::POST, &format!("{V1}/images/"))
        .header("X-Image-Meta-Property-X-Billing-Code", "mine")
        .send()
        .unwrap();
    assert_eq!(fault(r).0, 403);
    assert_eq!(
        admin.json(&format!("/image/v2/images/{id}"))["free"],
        "changed"
    );
}

#[test]
fn members_are_the_v2_memberships() {
    let g = Gateway::start();
    let alice = Api::new(&g, &g.user("alice", &["--project", "proj-a"]));
    let bob = Api::new(&g, &g.user("bob", &["--project", "proj-b"]));
    let carol = Api::new(&g, &g.user("carol", &["--project", "proj-c"]));
    let id = alice.v2_create(json!({"name": "p", "visibility": "private"}));
    let members = |who: &Api| who.json(&format!("{V1}/images/{id}/members"));
    assert_eq!(members(&alice), json!({"members": []}));

    // Adding a member to a private image makes it shared (v2's spelling).
    let put = |who: &Api, m: &str| {
        who.req(Method::PUT, &format!("{V1}/images/{id}/members/{m}"))
            .header("Content-Length", "0")
            .send()
            .unwrap()
    };
    assert_eq!(put(&alice, "proj-b").status(), 204);
    assert_eq!(
        put(&alice, "proj-b").status(),
        204,
        "adding again is a no-op"
    );
    assert_eq!(put(&alice, "proj-c").status(), 204);
    assert_eq!(
        alice.json(&format!("/image/v2/images/{id}"))["visibility"],
        "shared"
    );
    assert_eq!(
        members(&alice),
        json!({"members": [{"member_id": "proj-b", "can_share": false},
                           {"member_id": "proj-c", "can_share": false}]})
    );
    let v2 = alice.json(&format!("/image/v2/images/{id}/members"));
    assert_eq!(v2["members"][0]["status"], "pending");
    // A member sees the image by id and only itself among the members; others can't change them.
    assert_eq!(bob.head(&id).status(), 200);
    assert_eq!(
        members(&bob),
        json!({"members": [{"member_id": "proj-b", "can_share": false}]})
    );
    assert_eq!(fault(put(&bob, "proj-x")).0, 403);
    // Once bob accepts it (v2), it is in his Plankton list.
    assert!(!ids(&bob.json(&format!("{V1}/images/"))).contains(&id));
    let r = bob
        .req(
            Method::PUT,
            &format!("/image/v2/images/{id}/members/proj-b"),
        )
        .header("Content-Type", "application/json")
        .body(json!({"status": "accepted"}).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(ids(&bob.json(&format!("{V1}/images/"))).contains(&id));

    // Replace all, then remove one.
    let r = alice
        .req(Method::PUT, &format!("{V1}/images/{id}/members"))
        .header("Content-Type", "application/json")
        .body(
            json!({"memberships": [{"member_id": "proj-c"}, {"member_id": "proj-d"}]}).to_string(),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let now: Vec<String> = members(&alice)["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["member_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(now, ["proj-c", "proj-d"]);
    assert_eq!(bob.head(&id).status(), 404, "proj-b is no member any more");
    let del = |m: &str| {
        alice
            .req(Method::DELETE, &format!("{V1}/images/{id}/members/{m}"))
            .send()
            .unwrap()
    };
    assert_eq!(del("proj-d").status(), 204);
    assert_eq!(fault(del("proj-d")).0, 404);
    assert_eq!(carol.head(&id).status(), 200);
    let r = alice
        .req(Method::PUT, &format!("{V1}/images/{id}/members"))
        .header("Content-Type", "application/json")
        .body("{\"memberships\": 3}")
        .send()
        .unwrap();
    assert_eq!(fault(r).0, 400);

    // Public images take no members.
    let admin = Api::new(&g, &g.admin_token());
    let public = admin.v2_create(json!({"name": "pub", "visibility": "public"}));
    let r = admin
        .req(Method::PUT, &format!("{V1}/images/{public}/members/proj-b"))
        .send()
        .unwrap();
    let (status, _, msg) = fault(r);
    assert_eq!(status, 403);
    assert!(msg.contains("public"), "{msg}");
    assert_eq!(
        admin.json(&format!("{V1}/images/{public}/members")),
        json!({"members": []})
    );
}

#[test]
fn faults_are_cyclades_style() {
    let g = Gateway::start();
    let alice = Api::new(&g, &g.user("alice", &["--project", "proj-a"]));
    let r = alice
        .req(Method::GET, &format!("{V1}/nothing"))
        .send()
        .unwrap();
    let (status, name, msg) = fault(r);
    assert_eq!((status, name.as_str()), (404, "itemNotFound"));
    assert!(msg.contains("/image/v1.0/images/"), "{msg}");
    let r = alice
        .req(Method::GET, &format!("{V1}/images/x/y/z"))
        .send()
        .unwrap();
    assert_eq!(fault(r).1, "itemNotFound");
    let r = alice
        .req(Method::GET, &format!("{V1}/images/no-such"))
        .send()
        .unwrap();
    assert_eq!(fault(r).1, "itemNotFound");
    let r = alice
        .req(Method::HEAD, &format!("{V1}/images/no-such"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = alice
        .req(Method::PATCH, &format!("{V1}/images/no-such"))
        .send()
        .unwrap();
    let (status, name, msg) = fault(r);
    assert_eq!((status, name.as_str()), (400, "badRequest"));
    assert!(msg.contains("allowed"), "{msg}");
    let r = g
        .client()
        .get(g.url(&format!("{V1}/images/")))
        .send()
        .unwrap();
    assert_eq!(fault(r).1, "unauthorized");
    // The Image API v2's own unknown URLs keep their Glance-style 404.
    let r = alice.req(Method::GET, "/image/v9/x").send().unwrap();
    let v: Value = r.json().unwrap();
    assert_eq!(v["error"]["code"], 404, "{v}");
}

#[test]
fn a_client_that_goes_away_mid_create_leaves_nothing() {
    use std::io::Write;
    let g = Gateway::start();
    let alice = Api::new(&g, &g.user("alice", &["--project", "proj-a"]));
    let addr = g.url.trim_start_matches("http://").to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST {V1}/images/ HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: {}\r\n\
         X-Image-Meta-Name: abandoned\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: 100000\r\n\r\n",
        alice.token
    )
    .unwrap();
    s.write_all(&data(1000)).unwrap();
    s.flush().unwrap();
    // The upload is under way: the image is saving.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let list = alice.json(&format!("{V1}/images/?name=abandoned"));
        if list[0]["status"] == "saving" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never saving: {list}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(s);
    loop {
        let list = alice.json(&format!("{V1}/images/"));
        let v2 = alice.json("/image/v2/images");
        if ids(&list).is_empty() && v2["images"] == json!([]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned image stayed: {list} {v2}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
