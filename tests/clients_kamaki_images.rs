//! The real kamaki 0.16 CLI against the real gateway: the plain `image` commands, which speak
//! Plankton (`/image/v1.0`, Glance v1 style). Every test makes its images through the Image
//! API v2, runs `kamaki image …` in a throw-away HOME, asserts on what kamaki prints, and
//! checks through `/image/v2` and compute `/images` that the change is in the one record.
//!
//! kamaki quirks these tests pin (see `domain::image::plankton` and api-docs/plankton.md):
//! - `image modify -p k=v` sends every property it read plus `K` (upper-cased) with the new
//!   value; the server takes the value that differs.
//! - `image modify --property-del k` sets `K` to None, which kamaki then leaves out, and still
//!   sends `k` with its old value: the request cannot be told from a no-op, so the property
//!   stays. `imagecompute modify --property-del` (or v2 PATCH) removes it.
//! - `image register` needs Pithos+; with `--no-metafile-upload` it reaches the gateway, whose
//!   400 kamaki prints.

mod common;

use common::Gateway;
use common::kamaki::{Kamaki, Run, block, block_has};
use reqwest::Method;
use serde_json::{Value, json};

struct Api<'a> {
    g: &'a Gateway,
    token: String,
}

impl<'a> Api<'a> {
    fn new(g: &'a Gateway, token: &str) -> Api<'a> {
        Api {
            g,
            token: token.to_owned(),
        }
    }

    fn send(&self, m: Method, path: &str, ct: &str, body: String) -> (u16, Value) {
        let r = self
            .g
            .client()
            .request(m.clone(), self.g.url(path))
            .header("X-Auth-Token", &self.token)
            .header("Content-Type", ct)
            .body(body)
            .send()
            .unwrap_or_else(|e| panic!("{m} {path}: {e}"));
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.send(Method::GET, path, "application/json", String::new())
    }

    fn ok(&self, path: &str) -> Value {
        let (status, v) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    fn create(&self, body: Value) -> String {
        let (status, v) = self.send(
            Method::POST,
            "/image/v2/images",
            "application/json",
            body.to_string(),
        );
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().unwrap().to_owned()
    }

    fn upload(&self, id: &str, data: &str) {
        let (status, v) = self.send(
            Method::PUT,
            &format!("/image/v2/images/{id}/file"),
            "application/octet-stream",
            data.to_owned(),
        );
        assert_eq!(status, 204, "{v}");
    }

    fn v2(&self, id: &str) -> Value {
        self.ok(&format!("/image/v2/images/{id}"))
    }

    fn compute(&self, id: &str) -> Value {
        self.ok(&format!("/compute/v2.0/images/{id}"))["image"].clone()
    }
}

fn all_output(r: &Run) -> String {
    format!("{}\n{}", r.stdout, r.stderr)
}

#[test]
fn image_list_list_detail_and_info() {
    let g = Gateway::start();
    let token = g.user("alice", &["--project", "proj-a"]);
    let api = Api::new(&g, &token);
    let a = api.create(json!({"name": "Débian Base", "disk_format": "raw",
        "container_format": "bare", "os_distro": "debian", "notes": "two\nlines"}));
    api.upload(&a, "hello world");
    let b = api.create(json!({"name": "empty one"}));
    let k = Kamaki::new(&g, &token);

    // `image list`: GET /images/?sort_dir=asc, oldest first.
    let r = k.run(&["image", "list"]).ok();
    let lines = r.lines();
    let pa = lines.iter().position(|l| *l == format!("{a} Débian Base"));
    let pb = lines.iter().position(|l| *l == format!("{b} empty one"));
    assert!(
        pa.is_some() && pb.is_some() && pa < pb,
        "both images, oldest first\n{}",
        r.report()
    );
    let header = format!("{a} Débian Base");
    block_has(&r, &header, "status: active");
    block_has(&r, &header, "size: 11B");
    block_has(&r, &format!("{b} empty one"), "status: queued");
    // kamaki's own filters ride on the server's.
    let r = k.run(&["image", "list", "--status", "queued"]).ok();
    assert!(r.has_line(&format!("{b} empty one")), "{}", r.report());
    assert!(!r.stdout.contains(&a), "{}", r.report());
    let r = k.run(&["image", "list", "--disk-format", "raw"]).ok();
    assert!(
        r.has_line(&header) && !r.stdout.contains(&b),
        "{}",
        r.report()
    );

    // `image list -l`: GET /images/detail, owners resolved to names, properties.
    let r = k.run(&["image", "list", "-l"]).ok();
    block_has(&r, &header, "owner: proj-a (proj-a)");
    block_has(&r, &header, "is_public: False");
    block_has(&r, &header, "os_distro: debian");
    block_has(&r, &header, "disk_format: raw");
    let listed = k
        .run(&["image", "list", "-l", "--output-format", "json"])
        .ok()
        .json();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == a.as_str())
        .unwrap_or_else(|| panic!("{listed:#}"));
    assert_eq!(entry["properties"]["notes"], "two\nlines");
    assert_eq!(entry["checksum"], api.v2(&a)["checksum"]);

    // `image info`: HEAD, metadata in headers; kamaki URL-decodes the name and properties.
    let r = k.run(&["image", "info", &a]).ok();
    assert_eq!(r.field("id"), a);
    assert_eq!(r.field("name"), "Débian Base");
    assert_eq!(r.field("status"), "active");
    assert_eq!(r.field("size"), "11B");
    assert_eq!(r.field("is-public"), "False");
    assert_eq!(r.field("owner"), "proj-a (proj-a)");
    assert_eq!(
        r.field("checksum"),
        api.v2(&a)["checksum"].as_str().unwrap()
    );
    let props = block(&r, "properties:");
    assert!(
        props.iter().any(|l| l.trim() == "os_distro: debian"),
        "{props:?}\n{}",
        r.report()
    );
    let info = k
        .run(&["image", "info", &a, "--output-format", "json"])
        .ok()
        .json();
    assert_eq!(info["properties"]["notes"], "two\nlines", "{info:#}");
    assert_eq!(info["container-format"], "bare");

    let r = k.run(&["image", "info", "no-such-image"]).failed();
    let out = all_output(&r);
    assert!(
        out.contains("No image with id no-such-image") && out.contains("404"),
        "{}",
        r.report()
    );
}

#[test]
fn image_modify_name_and_properties_show_in_every_view() {
    let g = Gateway::start();
    let token = g.user("alice", &["--project", "proj-a"]);
    let api = Api::new(&g, &token);
    let id = api.create(json!({"name": "before", "os_distro": "debian",
        "owner_specified.openstack.md5": "abc", "Mixed_Case": "m"}));
    let k = Kamaki::new(&g, &token);

    k.run(&[
        "image",
        "modify",
        &id,
        "--name",
        "After ü",
        "-p",
        "os_distro=ubuntu",
        "-p",
        "release=24.04 LTS",
    ])
    .ok();
    let r = k.run(&["image", "info", &id]).ok();
    assert_eq!(r.field("name"), "After ü");
    let props = block(&r, "properties:");
    for want in [
        "os_distro: ubuntu",
        "release: 24.04 LTS",
        "owner_specified.openstack.md5: abc",
        "mixed_case: m",
    ] {
        assert!(
            props.iter().any(|l| l.trim() == want),
            "no {want:?} in {props:?}\n{}",
            r.report()
        );
    }
    // The one record: v2 and compute see the same, the other properties as they were.
    let v2 = api.v2(&id);
    assert_eq!(v2["name"], "After ü");
    assert_eq!(v2["os_distro"], "ubuntu");
    assert_eq!(v2["release"], "24.04 LTS");
    assert_eq!(v2["owner_specified.openstack.md5"], "abc");
    assert_eq!(v2["Mixed_Case"], "m");
    let c = api.compute(&id);
    assert_eq!(c["name"], "After ü");
    assert_eq!(c["metadata"]["os_distro"], "ubuntu");
    assert_eq!(c["metadata"]["release"], "24.04 LTS");

    // kamaki 0.16's --property-del still sends the property (module doc): nothing changes.
    k.run(&["image", "modify", &id, "--property-del", "release"])
        .ok();
    assert_eq!(api.v2(&id)["release"], "24.04 LTS");
    // Removing it through the compute view shows here at once.
    k.run(&["imagecompute", "modify", &id, "--property-del", "release"])
        .ok();
    let r = k.run(&["image", "info", &id]).ok();
    assert!(
        !block(&r, "properties:")
            .iter()
            .any(|l| l.contains("release")),
        "{}",
        r.report()
    );
    assert!(api.v2(&id).get("release").is_none());

    // Publishing is for admins: kamaki reports the 403.
    let r = k.run(&["image", "modify", &id, "--public"]).failed();
    assert!(
        all_output(&r).contains("Only an admin may make an image public"),
        "{}",
        r.report()
    );
    assert_eq!(api.v2(&id)["visibility"], "shared");
    let admin = Kamaki::new(&g, &g.admin_token());
    admin.run(&["image", "modify", &id, "--public"]).ok();
    assert_eq!(api.v2(&id)["visibility"], "public");
    assert_eq!(
        k.run(&["image", "info", &id]).ok().field("is-public"),
        "True"
    );
    admin.run(&["image", "modify", &id, "--private"]).ok();
    assert_eq!(api.v2(&id)["visibility"], "shared");
}

#[test]
fn image_members_add_list_and_remove() {
    let g = Gateway::start();
    let token = g.user("alice", &["--project", "proj-a"]);
    let bob = g.user("bob", &["--project", "proj-b"]);
    g.user("carol", &["--project", "proj-c"]);
    let api = Api::new(&g, &token);
    let id = api.create(json!({"name": "to share", "visibility": "private"}));
    let k = Kamaki::new(&g, &token);

    k.run(&[
        "image",
        "modify",
        &id,
        "--member-add",
        "proj-b",
        "--member-add",
        "proj-c",
    ])
    .ok();
    // `image list --members-of`: member ids with their names from user_catalogs.
    let r = k.run(&["image", "list", "--members-of", &id]).ok();
    r.expect_line("proj-b (proj-b)");
    r.expect_line("proj-c (proj-c)");
    block_has(&r, "proj-b (proj-b)", "can_share: False");
    // The v2 memberships: pending until the member accepts; the image is now shared.
    let v2 = api.ok(&format!("/image/v2/images/{id}/members"));
    let members: Vec<(&str, &str)> = v2["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["member_id"].as_str().unwrap(),
                m["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(members, [("proj-b", "pending"), ("proj-c", "pending")]);
    assert_eq!(api.v2(&id)["visibility"], "shared");
    // bob, a member, sees it by id.
    let kb = Kamaki::new(&g, &bob);
    assert_eq!(
        kb.run(&["image", "info", &id]).ok().field("name"),
        "to share"
    );

    k.run(&["image", "modify", &id, "--member-del", "proj-c"])
        .ok();
    let r = k.run(&["image", "list", "--members-of", &id]).ok();
    r.expect_line("proj-b (proj-b)");
    assert!(!r.stdout.contains("proj-c"), "{}", r.report());
    let v2 = api.ok(&format!("/image/v2/images/{id}/members"));
    assert_eq!(v2["members"].as_array().unwrap().len(), 1, "{v2}");
    // Removing a project that is no member is reported.
    k.run(&["image", "modify", &id, "--member-del", "proj-c"])
        .failed();
}

#[test]
fn image_unregister_and_register() {
    let g = Gateway::start();
    let token = g.user("alice", &["--project", "proj-a"]);
    let api = Api::new(&g, &token);
    let id = api.create(json!({"name": "doomed"}));
    api.upload(&id, "bytes");
    let keep = api.create(json!({"name": "kept", "protected": true}));
    let k = Kamaki::new(&g, &token);

    k.run(&["image", "unregister", &id]).ok();
    assert_eq!(api.get(&format!("/image/v2/images/{id}")).0, 404);
    assert_eq!(api.get(&format!("/compute/v2.0/images/{id}")).0, 404);
    let r = k.run(&["image", "list"]).ok();
    assert!(!r.stdout.contains(&id), "{}", r.report());
    k.run(&["image", "info", &id]).failed();

    // Protected: kamaki reports the 403 and the image stays.
    let r = k.run(&["image", "unregister", &keep]).failed();
    assert!(all_output(&r).contains("protected"), "{}", r.report());
    assert_eq!(api.v2(&keep)["name"], "kept");

    // `image register` points at Pithos+, which this gateway does not have: kamaki prints the
    // gateway's 400, which says where to upload instead.
    let r = k
        .run(&[
            "image",
            "register",
            "--name",
            "from pithos",
            "--location",
            "/pithos/debian.diskdump",
            "--no-metafile-upload",
        ])
        .failed();
    let out = all_output(&r);
    assert!(
        out.contains("no object store") && out.contains("/image/v2/images"),
        "{}",
        r.report()
    );
    let r = k.run(&["image", "list"]).ok();
    assert!(!r.stdout.contains("from pithos"), "{}", r.report());
}
