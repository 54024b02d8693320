//! Black-box tests of the Image API v2 and of the compute `/images` view of the same records.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::compute::{Api, protected_gateway};
use common::{Gateway, Options, assert_well_formed, xml_body};
use serde_json::{Value, json};

const PATCH_21: &str = "application/openstack-images-v2.1-json-patch";
const PATCH_20: &str = "application/openstack-images-v2.0-json-patch";

impl Api<'_> {
    /// The Image API v2 PATCH, in either JSON-patch media type.
    fn patch(&self, id: &str, media: &str, ops: Value) -> reqwest::blocking::Response {
        self.req(reqwest::Method::PATCH, &format!("/image/v2/images/{id}"))
            .header("Content-Type", media)
            .body(ops.to_string())
            .send()
            .unwrap()
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn md5_hex(b: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(b))
}

fn sha512_hex(b: &[u8]) -> String {
    use sha2::{Digest, Sha512};
    hex::encode(Sha512::digest(b))
}

/// Temp files left in the data dir's image store.
fn leftover_parts(g: &Gateway) -> Vec<String> {
    let tmp = g.data_dir.join("tmp");
    std::fs::read_dir(&tmp)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn create_upload_download_with_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let g = Gateway::start_in(dir.path(), Options::default()).unwrap();
    let a = Api::new(&g, &g.admin_token());
    let img = a.create_image(json!({"name": "cirros", "disk_format": "qcow2", "container_format": "bare", "tags": ["t1"], "os_distro": "cirros"}));
    for k in [
        "id",
        "status",
        "visibility",
        "protected",
        "tags",
        "created_at",
        "updated_at",
        "file",
        "self",
        "schema",
    ] {
        assert!(img.get(k).is_some(), "entity lacks {k}: {img}");
    }
    assert_eq!(img["status"], "queued");
    let id = id_of(&img);
    assert_eq!(img["self"], format!("/v2/images/{id}"));
    assert_eq!(img["file"], format!("/v2/images/{id}/file"));
    // No data yet: 204.
    assert_eq!(a.get(&format!("/image/v2/images/{id}/file")).status(), 204);

    let bytes = data(3 * 1024 * 1024 + 17);
    let r = a.upload(&id, bytes.clone());
    assert_eq!(r.status(), 204, "{:?}", r.text());
    let img = a.json(&format!("/image/v2/images/{id}"));
    assert_eq!(img["status"], "active");
    assert_eq!(img["size"], bytes.len());
    assert_eq!(img["checksum"], md5_hex(&bytes));
    assert_eq!(img["os_hash_algo"], "sha512");
    assert_eq!(img["os_hash_value"], sha512_hex(&bytes));

    let r = a.get(&format!("/image/v2/images/{id}/file"));
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(r.headers()["content-md5"], md5_hex(&bytes).as_str());
    assert!(
        r.bytes().unwrap().as_ref() == bytes.as_slice(),
        "downloaded bytes differ"
    );

    // Ranges.
    let r = a
        .req(reqwest::Method::GET, &format!("/image/v2/images/{id}/file"))
        .header("Range", "bytes=100-199")
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 100-199/{}", bytes.len()).as_str()
    );
    assert!(
        r.bytes().unwrap().as_ref() == &bytes[100..200],
        "range bytes differ"
    );
    let r = a
        .req(reqwest::Method::GET, &format!("/image/v2/images/{id}/file"))
        .header("Range", "bytes=-10")
        .send()
        .unwrap();
    assert!(
        r.bytes().unwrap().as_ref() == &bytes[bytes.len() - 10..],
        "suffix bytes differ"
    );
    let r = a
        .req(reqwest::Method::GET, &format!("/image/v2/images/{id}/file"))
        .header("Range", format!("bytes={}-", bytes.len() + 5))
        .send()
        .unwrap();
    assert_eq!(r.status(), 416);

    // A second upload to an active image is a conflict.
    assert_eq!(a.upload(&id, vec![1, 2, 3]).status(), 409);
    // Wrong content type for data.
    let r = a
        .req(reqwest::Method::PUT, &format!("/image/v2/images/{id}/file"))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 415);

    // Data survives a restart.
    let token = a.token.clone();
    drop(a);
    let (status, _) = g.stop();
    assert!(status.success());
    let g = Gateway::start_in(dir.path(), Options::default()).unwrap();
    let a = Api::new(&g, &token);
    let r = a.get(&format!("/image/v2/images/{id}/file"));
    assert!(
        r.bytes().unwrap().as_ref() == bytes.as_slice(),
        "downloaded bytes differ"
    );
}

#[test]
fn json_patch_in_both_formats() {
    let g = Gateway::start();
    let a = Api::new(&g, &g.admin_token());
    let id = id_of(&a.create_image(json!({"name": "p"})));
    let r = a.patch(
        &id,
        PATCH_21,
        json!([
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "add", "path": "/color", "value": "blue"},
            {"op": "replace", "path": "/min_ram", "value": 512}
        ]),
    );
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["name"], "renamed");
    assert_eq!(v["color"], "blue");
    assert_eq!(v["min_ram"], 512);
    // The older 2.0 format: the operation is the key.
    let r = a.patch(
        &id,
        PATCH_20,
        json!([{"replace": "/name", "value": "again"}, {"remove": "/color"}]),
    );
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["name"], "again");
    assert!(v.get("color").is_none());
    // Other media types.
    assert_eq!(a.patch(&id, "application/json", json!([])).status(), 415);
    // Read-only attributes.
    for path in [
        "/id",
        "/status",
        "/checksum",
        "/size",
        "/self",
        "/file",
        "/os_hash_value",
    ] {
        let r = a.patch(
            &id,
            PATCH_21,
            json!([{"op": "replace", "path": path, "value": "x"}]),
        );
        assert_eq!(r.status(), 403, "{path}");
    }
    // Invalid result: nothing is written, not even the valid first operation.
    let r = a.patch(
        &id,
        PATCH_21,
        json!([
            {"op": "replace", "path": "/name", "value": "should-not-stick"},
            {"op": "replace", "path": "/min_disk", "value": -1}
        ]),
    );
    assert_eq!(r.status(), 400);
    let body: Value = r.json().unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("min_disk"),
        "{body}"
    );
    assert_eq!(a.json(&format!("/image/v2/images/{id}"))["name"], "again");
    let r = a.patch(
        &id,
        PATCH_21,
        json!([{"op": "replace", "path": "/disk_format", "value": "floppy"}]),
    );
    assert_eq!(r.status(), 400);
    // Malformed patch documents.
    let r = a
        .req(reqwest::Method::PATCH, &format!("/image/v2/images/{id}"))
        .header("Content-Type", PATCH_21)
        .body("[{")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[test]
fn visibility_members_and_ownership() {
    let g = Gateway::start();
    let admin = Api::new(&g, &g.admin_token());
    let alice = Api::new(&g, &g.user("alice", &["--project", "proj-a"]));
    let bob = Api::new(&g, &g.user("bob", &["--project", "proj-b"]));

    let private = id_of(&alice.create_image(json!({"name": "mine", "visibility": "private"})));
    assert_eq!(
        bob.get(&format!("/image/v2/images/{private}")).status(),
        404
    );
    assert_eq!(
        bob.delete(&format!("/image/v2/images/{private}")).status(),
        404
    );
    // Only admins publish.
    let r = alice.post(
        "/image/v2/images",
        json!({"name": "pub", "visibility": "public"}),
    );
    assert_eq!(r.status(), 403);
    let public = id_of(&admin.create_image(json!({"name": "pub", "visibility": "public"})));
    assert_eq!(bob.get(&format!("/image/v2/images/{public}")).status(), 200);
    // Not bob's to change.
    let r = bob.patch(
        &public,
        PATCH_21,
        json!([{"op": "replace", "path": "/name", "value": "x"}]),
    );
    assert_eq!(r.status(), 403);
    let community = id_of(&alice.create_image(json!({"name": "com", "visibility": "community"})));
    assert_eq!(
        bob.get(&format!("/image/v2/images/{community}")).status(),
        200
    );

    // Sharing.
    let shared = id_of(&alice.create_image(json!({"name": "shared-one", "visibility": "shared"})));
    assert_eq!(bob.get(&format!("/image/v2/images/{shared}")).status(), 404);
    let r = alice.post(
        &format!("/image/v2/images/{shared}/members"),
        json!({"member": "proj-b"}),
    );
    assert_eq!(r.status(), 200);
    let m: Value = r.json().unwrap();
    assert_eq!(m["status"], "pending");
    assert_eq!(m["member_id"], "proj-b");
    // A second add is a conflict; members of a private image are refused.
    let again = alice.post(
        &format!("/image/v2/images/{shared}/members"),
        json!({"member": "proj-b"}),
    );
    assert_eq!(again.status(), 409);
    let r = alice.post(
        &format!("/image/v2/images/{private}/members"),
        json!({"member": "proj-b"}),
    );
    assert_eq!(r.status(), 403);

    let names = |api: &Api, q: &str| -> Vec<String> {
        api.json(&format!("/image/v2/images{q}"))["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    // Pending: visible by id, not in bob's default list.
    assert_eq!(bob.get(&format!("/image/v2/images/{shared}")).status(), 200);
    assert!(!names(&bob, "").contains(&"shared-one".to_owned()));
    assert!(names(&bob, "?member_status=pending").contains(&"shared-one".to_owned()));
    // The owner cannot accept for bob; bob can.
    let set = |api: &Api, status: &str| {
        api.put(
            &format!("/image/v2/images/{shared}/members/proj-b"),
            json!({"status": status}),
        )
    };
    assert_eq!(set(&alice, "accepted").status(), 403);
    let r = set(&bob, "accepted");
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["status"], "accepted");
    assert!(names(&bob, "").contains(&"shared-one".to_owned()));
    assert!(names(&bob, "?visibility=shared").contains(&"shared-one".to_owned()));
    assert_eq!(set(&bob, "maybe").status(), 400);
    // Member listings: the owner sees all, bob sees himself.
    let ms = alice.json(&format!("/image/v2/images/{shared}/members"));
    assert_eq!(ms["members"].as_array().unwrap().len(), 1);
    assert_eq!(
        bob.json(&format!("/image/v2/images/{shared}/members/proj-b"))["status"],
        "accepted"
    );
    // Removing the member hides the image again.
    assert_eq!(
        bob.delete(&format!("/image/v2/images/{shared}/members/proj-b"))
            .status(),
        403
    );
    assert_eq!(
        alice
            .delete(&format!("/image/v2/images/{shared}/members/proj-b"))
            .status(),
        204
    );
    assert_eq!(bob.get(&format!("/image/v2/images/{shared}")).status(), 404);

    // Default lists: alice sees hers and public, not bob-only things.
    let alice_list = names(&alice, "");
    assert!(alice_list.contains(&"mine".to_owned()) && alice_list.contains(&"pub".to_owned()));
    let bob_list = names(&bob, "");
    assert!(!bob_list.contains(&"mine".to_owned()));
    assert!(names(&bob, "?visibility=community").contains(&"com".to_owned()));

    // Protected images can't be deleted until unprotected.
    let r = alice.patch(
        &private,
        PATCH_21,
        json!([{"op": "replace", "path": "/protected", "value": true}]),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(
        alice
            .delete(&format!("/image/v2/images/{private}"))
            .status(),
        403
    );
    alice.patch(
        &private,
        PATCH_21,
        json!([{"op": "replace", "path": "/protected", "value": false}]),
    );
    assert_eq!(
        alice
            .delete(&format!("/image/v2/images/{private}"))
            .status(),
        204
    );
    assert_eq!(
        alice.get(&format!("/image/v2/images/{private}")).status(),
        404
    );
}

#[test]
fn deactivate_and_reactivate() {
    let g = Gateway::start();
    let admin = Api::new(&g, &g.admin_token());
    let alice = Api::new(&g, &g.user("alice", &["--project", "proj-a"]));
    let id = id_of(
        &alice.create_image(json!({"name": "d", "disk_format": "raw", "container_format": "bare"})),
    );
    assert_eq!(alice.upload(&id, data(1000)).status(), 204);
    let act = |api: &Api, what: &str| {
        api.req(
            reqwest::Method::POST,
            &format!("/image/v2/images/{id}/actions/{what}"),
        )
        .send()
        .unwrap()
        .status()
    };
    assert_eq!(act(&alice, "deactivate"), 403);
    assert_eq!(act(&admin, "deactivate"), 204);
    assert_eq!(
        alice.json(&format!("/image/v2/images/{id}"))["status"],
        "deactivated"
    );
    assert_eq!(
        alice.get(&format!("/image/v2/images/{id}/file")).status(),
        403
    );
    assert_eq!(
        admin.get(&format!("/image/v2/images/{id}/file")).status(),
        200
    );
    assert_eq!(act(&admin, "reactivate"), 204);
    assert_eq!(
        alice.get(&format!("/image/v2/images/{id}/file")).status(),
        200
    );
    // Queued images can't be deactivated.
    let q = id_of(&alice.create_image(json!({"name": "q"})));
    let r = admin
        .req(
            reqwest::Method::POST,
            &format!("/image/v2/images/{q}/actions/deactivate"),
        )
        .send()
        .unwrap();
    assert!(r.status().is_client_error());
}

#[test]
fn listing_filters_sorting_and_pages() {
    let g = Gateway::start();
    let a = Api::new(&g, &g.admin_token());
    let mut ids = Vec::new();
    for (i, name) in ["delta", "alpha", "echo", "charlie", "bravo"]
        .iter()
        .enumerate()
    {
        let img = a.create_image(json!({"name": name, "tags": [if i % 2 == 0 { "even" } else { "odd" }], "flavour": format!("f{}", i % 2)}));
        ids.push(id_of(&img));
        if i < 2 {
            assert_eq!(a.upload(&id_of(&img), data(100 * (i + 1))).status(), 204);
        }
    }
    let names = |q: &str| -> Vec<String> {
        a.json(&format!("/image/v2/images{q}"))["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names("?sort_key=name&sort_dir=asc"),
        ["alpha", "bravo", "charlie", "delta", "echo"]
    );
    assert_eq!(
        names("?sort=name:desc"),
        ["echo", "delta", "charlie", "bravo", "alpha"]
    );
    assert_eq!(
        names("?tag=even&sort_key=name&sort_dir=asc"),
        ["bravo", "delta", "echo"]
    );
    assert_eq!(
        names("?flavour=f1&sort_key=name&sort_dir=asc"),
        ["alpha", "charlie"]
    );
    assert_eq!(names("?name=echo"), ["echo"]);
    assert_eq!(
        names("?status=active&sort_key=size&sort_dir=asc"),
        ["delta", "alpha"]
    );
    assert_eq!(names("?size_min=150"), ["alpha"]);
    assert_eq!(names("?size_max=150"), ["delta"]);
    let alpha = a.json(&format!("/image/v2/images/{}", ids[1]));
    let md5 = alpha["checksum"].as_str().unwrap().to_owned();
    let sha = alpha["os_hash_value"].as_str().unwrap().to_owned();
    assert_eq!(names(&format!("?checksum={md5}")), ["alpha"]);
    assert_eq!(names(&format!("?os_hash_value={sha}")), ["alpha"]);
    assert_eq!(names("?created_at=gt:2000-01-01T00:00:00Z").len(), 5);
    assert!(names("?updated_at=lt:2000-01-01T00:00:00Z").is_empty());
    // Pages of two, following `next`.
    let mut seen = Vec::new();
    let mut url = "/image/v2/images?limit=2&sort_key=name&sort_dir=asc".to_owned();
    for _ in 0..10 {
        let page = a.json(&url);
        assert_eq!(page["schema"], "/v2/schemas/images");
        assert!(page["first"].as_str().unwrap().starts_with("/v2/images"));
        seen.extend(
            page["images"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["name"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => url = format!("/image{next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["alpha", "bravo", "charlie", "delta", "echo"]);
    // Bad parameters.
    for q in [
        "?sort_key=color",
        "?sort_dir=up",
        "?limit=x",
        "?created_at=yesterday",
        "?visibility=everyone",
        "?marker=nope",
    ] {
        let r = a.get(&format!("/image/v2/images{q}"));
        assert_eq!(r.status(), 400, "{q}");
    }
    // Hidden images are left out unless asked for.
    a.patch(
        &ids[0],
        PATCH_21,
        json!([{"op": "replace", "path": "/os_hidden", "value": true}]),
    );
    assert!(!names("").contains(&"delta".to_owned()));
    assert_eq!(names("?os_hidden=true"), ["delta"]);
}

#[test]
fn size_cap_quota_and_interrupted_uploads_keep_nothing() {
    let g = Gateway::start_with(
        Options::default()
            .env("CYCLADES_IMAGE_MAX_SIZE", "5000")
            .env("CYCLADES_IMAGE_QUOTA_BYTES", "8000"),
    );
    let a = Api::new(&g, &g.user("q", &["--project", "proj-q"]));
    let id = id_of(&a.create_image(json!({"name": "big"})));
    // Over the size cap.
    let r = a.upload(&id, data(6000));
    assert_eq!(r.status(), 413);
    assert_eq!(
        a.json(&format!("/image/v2/images/{id}"))["status"],
        "queued"
    );
    assert!(leftover_parts(&g).is_empty());
    // Fits.
    assert_eq!(a.upload(&id, data(4000)).status(), 204);
    // The quota has 4000 bytes left: 4500 is refused, nothing kept.
    let id2 = id_of(&a.create_image(json!({"name": "second"})));
    let r = a.upload(&id2, data(4500));
    assert_eq!(r.status(), 413);
    let body: Value = r.json().unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("quota"),
        "{body}"
    );
    assert_eq!(
        a.json(&format!("/image/v2/images/{id2}"))["status"],
        "queued"
    );

    // A client that goes away mid-upload leaves no half image, and the image can be
    // uploaded again.
    let addr = g.url.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "PUT /image/v2/images/{id2}/file HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: {}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 3000\r\n\r\n",
        a.token
    )
    .unwrap();
    s.write_all(&data(1000)).unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = a.json(&format!("/image/v2/images/{id2}"))["status"]
            .as_str()
            .unwrap()
            .to_owned();
        if st == "queued" && leftover_parts(&g).is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "status {st}, leftovers {:?}",
            leftover_parts(&g)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(a.upload(&id2, data(3000)).status(), 204);
    // A lying client: announced size differs from what arrives.
    let id3 = id_of(&a.create_image(json!({"name": "third"})));
    let r = a
        .req(
            reqwest::Method::PUT,
            &format!("/image/v2/images/{id3}/file"),
        )
        .header("Content-Type", "application/octet-stream")
        .header("x-openstack-image-size", "900")
        .body(data(500))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        a.json(&format!("/image/v2/images/{id3}"))["status"],
        "queued"
    );
}

#[test]
fn concurrent_uploads_to_one_image() {
    let g = Gateway::start();
    let a = Api::new(&g, &g.admin_token());
    let id = id_of(&a.create_image(json!({"name": "race"})));
    let url = g.url(&format!("/image/v2/images/{id}/file"));
    let token = a.token.clone();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    reqwest::blocking::Client::new()
                        .put(&url)
                        .header("X-Auth-Token", &token)
                        .header("Content-Type", "application/octet-stream")
                        .body(data(2 * 1024 * 1024))
                        .send()
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 204).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 204 || *s == 409),
        "{statuses:?}"
    );
    let mut body = Vec::new();
    a.get(&format!("/image/v2/images/{id}/file"))
        .read_to_end(&mut body)
        .unwrap();
    assert!(body == data(2 * 1024 * 1024), "stored bytes differ");
}

#[test]
fn property_protections_apply_everywhere() {
    let (_rules, g) = protected_gateway();
    let admin = Api::new(&g, &g.admin_token());
    let member = Api::new(&g, &g.user("m", &["--project", "admin"]));
    // The admin sets a billing code; the member of the same project cannot read it.
    let img =
        admin.create_image(json!({"name": "billed", "x_billing_code": "B-42", "os_type": "linux"}));
    let id = id_of(&img);
    assert_eq!(img["x_billing_code"], "B-42");
    let seen = member.json(&format!("/image/v2/images/{id}"));
    assert!(seen.get("x_billing_code").is_none(), "{seen}");
    assert_eq!(seen["os_type"], "linux");
    let listed = member.json("/image/v2/images");
    assert!(
        listed["images"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i.get("x_billing_code").is_none())
    );
    let meta = member.json(&format!("/compute/v2.0/images/{id}/metadata"));
    assert!(meta["metadata"].get("x_billing_code").is_none(), "{meta}");
    // The member can't create one either, nor delete os_*.
    let r = member.post(
        "/image/v2/images",
        json!({"name": "n", "x_billing_code": "free"}),
    );
    assert_eq!(r.status(), 403);
    let r = member.patch(&id, PATCH_21, json!([{"op": "remove", "path": "/os_type"}]));
    assert_eq!(r.status(), 403);
    assert_eq!(
        member
            .delete(&format!("/compute/v2.0/images/{id}/metadata/os_type"))
            .status(),
        403
    );
    // Updating os_* is allowed to members.
    let r = member.patch(
        &id,
        PATCH_21,
        json!([{"op": "replace", "path": "/os_type", "value": "bsd"}]),
    );
    assert_eq!(r.status(), 200);
    // The admin still can delete it.
    let r = admin.patch(&id, PATCH_21, json!([{"op": "remove", "path": "/os_type"}]));
    assert_eq!(r.status(), 200);
}

#[test]
fn compute_view_of_the_same_images() {
    let g = Gateway::start();
    let a = Api::new(&g, &g.admin_token());
    let img = a.create_image(
        json!({"name": "Ubuntu <12> & co", "os": "ubuntu", "users": "root", "min_ram": 256}),
    );
    let id = id_of(&img);
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let d = a.json(&format!("/compute/v2.0/images/{id}"));
    let i = &d["image"];
    assert_eq!(i["status"], "QUEUED");
    assert_eq!(i["progress"], 0);
    assert_eq!(i["metadata"], json!({"os": "ubuntu", "users": "root"}));
    assert_eq!(i["minRam"], 256);
    assert!(i["tenant_id"].is_string() && i["user_id"].is_string());
    assert_eq!(
        i["links"][0]["href"],
        format!("{}/compute/v2.0/images/{id}", g.url)
    );
    assert_eq!(a.upload(&id, data(100)).status(), 204);
    let listed = a.json("/compute/v2.0/images/detail");
    let found = listed["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == json!(id))
        .unwrap();
    assert_eq!(found["status"], "ACTIVE");
    assert_eq!(found["progress"], 100);
    let short = a.json("/compute/v2.0/images");
    let entry = short["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == json!(id))
        .unwrap();
    assert!(entry.get("metadata").is_none() && entry["name"] == "Ubuntu <12> & co");

    // XML, well-formed and escaped.
    for path in [
        format!("/compute/v2.0/images/{id}?xml"),
        "/compute/v2.0/images/detail?xml".into(),
        format!("/compute/v2.0/images/{id}/metadata?xml"),
    ] {
        let body = xml_body(a.get(&path), 200);
        assert!(body.contains("<meta key=\"os\">ubuntu</meta>"), "{body}");
    }
    assert!(
        a.get(&format!("/compute/v2.0/images/{id}?xml"))
            .text()
            .unwrap()
            .contains("name=\"Ubuntu &lt;12&gt; &amp; co\"")
    );

    // Metadata: merge (201), item put (201), item get, delete (204) — visible in v2 at once.
    let r = a.post(
        &format!("/compute/v2.0/images/{id}/metadata"),
        json!({"metadata": {"os": "xubuntu", "gui": "xfce"}}),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.json::<Value>().unwrap()["metadata"],
        json!({"os": "xubuntu", "users": "root", "gui": "xfce"})
    );
    let r = a.put(
        &format!("/compute/v2.0/images/{id}/metadata/kernel"),
        json!({"metadata": {"kernel": "3.2"}}),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(
        a.json(&format!("/compute/v2.0/images/{id}/metadata/kernel")),
        json!({"metadata": {"kernel": "3.2"}})
    );
    assert_eq!(a.json(&format!("/image/v2/images/{id}"))["gui"], "xfce");
    assert_eq!(
        a.delete(&format!("/compute/v2.0/images/{id}/metadata/gui"))
            .status(),
        204
    );
    assert_eq!(
        a.get(&format!("/compute/v2.0/images/{id}/metadata/gui"))
            .status(),
        404
    );
    assert_eq!(
        a.delete(&format!("/compute/v2.0/images/{id}/metadata/gui"))
            .status(),
        404
    );
    // Base attributes are not metadata; values must be strings; the key must match the URL.
    let r = a.post(
        &format!("/compute/v2.0/images/{id}/metadata"),
        json!({"metadata": {"name": "sneaky"}}),
    );
    assert_eq!(r.status(), 403);
    let r = a.post(
        &format!("/compute/v2.0/images/{id}/metadata"),
        json!({"metadata": {"n": 5}}),
    );
    assert_eq!(r.status(), 400);
    let r = a.put(
        &format!("/compute/v2.0/images/{id}/metadata/a"),
        json!({"metadata": {"b": "x"}}),
    );
    assert_eq!(r.status(), 400);

    // changes-since on updated_at.
    let since = before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let changed = a.json(&format!(
        "/compute/v2.0/images/detail?changes-since={since}"
    ));
    assert!(
        changed["images"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == json!(id))
    );
    let none = a.json("/compute/v2.0/images/detail?changes-since=2999-01-01T00:00:00Z");
    assert!(none["images"].as_array().unwrap().is_empty());
    let r = a.get("/compute/v2.0/images/detail?changes-since=yesterday");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().unwrap();
    assert!(
        body["badRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("ISO 8601"),
        "{body}"
    );

    // Delete through compute: gone from v2 too.
    assert_eq!(
        a.delete(&format!("/compute/v2.0/images/{id}")).status(),
        204
    );
    assert_eq!(a.get(&format!("/image/v2/images/{id}")).status(), 404);
    let r = a.get(&format!("/compute/v2.0/images/{id}"));
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().unwrap()["itemNotFound"].is_object());
}

#[test]
fn image_api_errors_and_schemas() {
    let g = Gateway::start();
    let a = Api::new(&g, &g.admin_token());
    // Token required, JSON errors.
    let r = g.client().get(g.url("/image/v2/images")).send().unwrap();
    assert_eq!(r.status(), 401);
    // Every top-level value is an object with a message (glanceclient relies on it).
    let body: Value = r.json().unwrap();
    assert_eq!(body["error"]["code"], 401);
    assert!(
        body.as_object()
            .unwrap()
            .values()
            .all(|v| v["message"].is_string()),
        "{body}"
    );
    let r = a.get("/image/v2/nothing-here");
    assert_eq!(r.status(), 404);
    // Schemas are what the server enforces.
    let schema = a.json("/image/v2/schemas/image");
    assert_eq!(schema["name"], "image");
    assert_eq!(schema["additionalProperties"], json!({"type": "string"}));
    for s in ["images", "members", "member"] {
        assert_eq!(a.get(&format!("/image/v2/schemas/{s}")).status(), 200);
    }
    let r = a.post(
        "/image/v2/images",
        json!({"name": "x", "container_format": "shoebox"}),
    );
    assert_eq!(r.status(), 400);
    let r = a.post("/image/v2/images", json!({"name": "x", "custom": 5}));
    assert_eq!(r.status(), 400);
    let r = a.post("/image/v2/images", json!({"name": "x", "status": "active"}));
    assert_eq!(r.status(), 403);
    assert_eq!(a.json("/image/v2/info/stores")["stores"][0]["id"], "local");
    assert!(a.json("/image/v2/info/import")["import-methods"].is_object());
}

#[test]
fn image_representations_snapshots() {
    let g = Gateway::start();
    let a = Api::new(&g, &g.admin_token());
    let id = id_of(&a.create_image(json!({"name": "snap <&>", "disk_format": "qcow2", "container_format": "bare", "tags": ["b", "a"], "os": "debian", "users": "root"})));
    assert_eq!(a.upload(&id, data(4096)).status(), 204);
    let r = a.post(
        &format!("/image/v2/images/{id}/members"),
        json!({"member": "proj-x"}),
    );
    let member: Value = serde_json::from_str(&common::stable(&g, &r.text().unwrap())).unwrap();
    insta::assert_json_snapshot!("image_member_json", member);
    for (path, name) in [
        (format!("/image/v2/images/{id}"), "image_v2_json"),
        (format!("/compute/v2.0/images/{id}"), "compute_image_json"),
        ("/compute/v2.0/images".to_owned(), "compute_images_json"),
        (
            format!("/compute/v2.0/images/{id}/metadata"),
            "compute_image_metadata_json",
        ),
    ] {
        let body = a.get(&path).text().unwrap();
        let v: Value = serde_json::from_str(&common::stable(&g, &body)).unwrap();
        insta::assert_json_snapshot!(name, v);
    }
    for (path, name) in [
        (
            format!("/compute/v2.0/images/{id}?xml"),
            "compute_image_xml",
        ),
        (
            "/compute/v2.0/images/detail?xml".to_owned(),
            "compute_images_detail_xml",
        ),
        (
            format!("/compute/v2.0/images/{id}/metadata/os?xml"),
            "compute_image_metadatum_xml",
        ),
    ] {
        let body = a.get(&path).text().unwrap();
        assert_well_formed(&body);
        insta::assert_snapshot!(name, common::stable(&g, &body));
    }
}

/// A tmpfs of `mib` MiB mounted for the test's life (the data dir of a gateway whose disk fills).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test needs to mount a small tmpfs (run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_keeps_nothing_and_leaves_the_image_queued() {
    let disk = SmallDisk::mount(16);
    let g = Gateway::start_in(disk.dir.path(), Options::default()).unwrap();
    let a = Api::new(&g, &g.admin_token());
    let id = id_of(&a.create_image(json!({"name": "too-big"})));
    // 32 MiB, chunked (no size announced), onto a 16 MiB disk.
    let body = reqwest::blocking::Body::new(std::io::Read::take(std::io::repeat(7), 32 << 20));
    let sent = a
        .req(reqwest::Method::PUT, &format!("/image/v2/images/{id}/file"))
        .header("Content-Type", "application/octet-stream")
        .body(body)
        .send();
    // The gateway answers as soon as the disk is full and stops reading, so the client may
    // see its connection closed before it has sent everything; when the answer gets through,
    // it is a 413 that says why.
    if let Ok(r) = sent {
        assert_eq!(r.status(), 413);
        let v: Value = r.json().unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().contains("full"),
            "{v}"
        );
    }
    assert_eq!(
        a.json(&format!("/image/v2/images/{id}"))["status"],
        "queued"
    );
    assert!(leftover_parts(&g).is_empty(), "{:?}", leftover_parts(&g));
    // The space is back: a small upload to the same image works.
    assert_eq!(a.upload(&id, data(4096)).status(), 204);
    assert_eq!(
        a.json(&format!("/image/v2/images/{id}"))["status"],
        "active"
    );
    drop(a);
    drop(g);
}
