//! Compatibility tests with the real kamaki 0.16 CLI (Synnefo's own client, Python 2.7).
//!
//! `tests/clients/kamaki_setup.sh` installs kamaki into `.venv-kamaki/` once (the first run
//! needs PyPI); every test then starts its own gateway, writes a kamaki config into a
//! throw-away HOME and runs `kamaki` commands against it, asserting on what kamaki prints.
//! What kamaki sends and expects is written down in `../shared/CLIENTS.md`.

mod common;

use common::{Gateway, cli_last_line};
use serde_json::{Value, json};

use common::kamaki::{Kamaki, block, block_has};

/// A user in its own project; returns (token, project id).
fn user(g: &Gateway, name: &str) -> (String, String) {
    let project = format!("{name}-project");
    (g.user(name, &["--project", &project]), project)
}

fn image_api(g: &Gateway, token: &str) -> ImageApi {
    ImageApi {
        client: g.client().clone(),
        base: g.url.clone(),
        token: token.to_owned(),
    }
}

/// Plain HTTP to `/image/v2`, to make images and to check what kamaki changed.
struct ImageApi {
    client: reqwest::blocking::Client,
    base: String,
    token: String,
}

impl ImageApi {
    /// Creates an image with `props` and uploads a few bytes, so it is active.
    fn create(&self, name: &str, props: &[(&str, &str)]) -> String {
        let mut body = json!({"name": name, "disk_format": "raw", "container_format": "bare"});
        for (k, v) in props {
            body[*k] = json!(v);
        }
        let r = self
            .client
            .post(format!("{}/image/v2/images", self.base))
            .header("X-Auth-Token", &self.token)
            .json(&body)
            .send()
            .expect("POST /image/v2/images");
        assert_eq!(r.status(), 201, "create image: {}", r.text().unwrap());
        let id = r.json::<Value>().unwrap()["id"]
            .as_str()
            .expect("image id")
            .to_owned();
        let r = self
            .client
            .put(format!("{}/image/v2/images/{id}/file", self.base))
            .header("X-Auth-Token", &self.token)
            .header("Content-Type", "application/octet-stream")
            .body(vec![7u8; 4096])
            .send()
            .expect("PUT file");
        assert_eq!(r.status(), 204, "upload: {}", r.text().unwrap());
        id
    }

    fn get(&self, id: &str) -> reqwest::blocking::Response {
        self.client
            .get(format!("{}/image/v2/images/{id}", self.base))
            .header("X-Auth-Token", &self.token)
            .send()
            .expect("GET image")
    }

    fn image(&self, id: &str) -> Value {
        let r = self.get(id);
        assert_eq!(r.status(), 200, "GET /image/v2/images/{id}");
        r.json().unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// flavors

#[test]
fn flavor_list_shows_ids_and_names() {
    let g = Gateway::start();
    let (token, _) = user(&g, "flo");
    let id = cli_last_line(
        &g.data_dir,
        &[
            "flavor",
            "create",
            "--name",
            "kamaki-c3",
            "--vcpus",
            "3",
            "--ram",
            "3072",
            "--disk",
            "30",
        ],
    );
    let k = Kamaki::new(&g, &token);
    let r = k.run(&["flavor", "list"]).ok();
    assert!(r.has_line(&format!("{id} kamaki-c3")), "{}", r.report());
    // Without -l kamaki prints only `id name` lines (it drops the links itself).
    assert!(!r.stdout.contains("ram:"), "{}", r.report());
    // The same listing as JSON carries every flavor the compute API lists.
    let listed = k.run(&["flavor", "list", "--output-format", "json"]).ok();
    let ids: Vec<String> = listed
        .json()
        .as_array()
        .expect("a JSON list")
        .iter()
        .map(|f| f["id"].to_string().trim_matches('"').to_owned())
        .collect();
    assert!(ids.contains(&id), "{ids:?}\n{}", listed.report());
}

#[test]
fn flavor_list_detail_shows_ram_vcpus_disk_and_disk_template() {
    let g = Gateway::start();
    let (token, _) = user(&g, "fld");
    let id = cli_last_line(
        &g.data_dir,
        &[
            "flavor",
            "create",
            "--name",
            "kamaki-big",
            "--vcpus",
            "6",
            "--ram",
            "6144",
            "--disk",
            "60",
            "--disk-template",
            "drbd",
        ],
    );
    let k = Kamaki::new(&g, &token);
    let r = k.run(&["flavor", "list", "-l"]).ok();
    let header = format!("{id} kamaki-big");
    for want in [
        "ram: 6144",
        "vcpus: 6",
        "disk: 60",
        "SNF:disk_template: drbd",
    ] {
        block_has(&r, &header, want);
    }
}

#[test]
fn flavor_info_shows_the_flavor() {
    let g = Gateway::start();
    let (token, _) = user(&g, "fli");
    let id = cli_last_line(
        &g.data_dir,
        &[
            "flavor",
            "create",
            "--name",
            "kamaki-info",
            "--vcpus",
            "2",
            "--ram",
            "1536",
            "--disk",
            "15",
            "--disk-template",
            "plain",
        ],
    );
    let k = Kamaki::new(&g, &token);
    let r = k.run(&["flavor", "info", &id]).ok();
    for want in [
        format!("id: {id}"),
        "name: kamaki-info".to_owned(),
        "ram: 1536".to_owned(),
        "vcpus: 2".to_owned(),
        "disk: 15".to_owned(),
        "SNF:disk_template: plain".to_owned(),
    ] {
        assert!(r.has_line(&want), "no line {want:?}\n{}", r.report());
    }
    // An unknown flavor is reported, not a crash.
    let r = k.run(&["flavor", "info", "999999"]).failed();
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("404"), "{}", r.report());
}

// ---------------------------------------------------------------------------------------
// compute images

#[test]
fn imagecompute_list_shows_ids_and_names() {
    let g = Gateway::start();
    let (token, _) = user(&g, "ilo");
    let api = image_api(&g, &token);
    let a = api.create("kamaki-alpha", &[("os", "debian")]);
    let b = api.create("kamaki-beta", &[]);
    let k = Kamaki::new(&g, &token);
    let r = k.run(&["imagecompute", "list"]).ok();
    assert!(r.has_line(&format!("{a} kamaki-alpha")), "{}", r.report());
    assert!(r.has_line(&format!("{b} kamaki-beta")), "{}", r.report());
    // `--name-like` filters on kamaki's side.
    let r = k.run(&["imagecompute", "list", "--name-like", "BETA"]).ok();
    assert!(r.has_line(&format!("{b} kamaki-beta")), "{}", r.report());
    assert!(!r.stdout.contains(&a), "{}", r.report());
}

#[test]
fn imagecompute_list_detail_shows_metadata_and_owner_names() {
    let g = Gateway::start();
    let (token, project) = user(&g, "ild");
    let api = image_api(&g, &token);
    let id = api.create("kamaki-detailed", &[("os", "debian"), ("users", "root")]);
    let k = Kamaki::new(&g, &token);
    // kamaki 0.16 (cli/cmds/image.py, imagecompute_list._add_name) resolves both `tenant_id`
    // and `user_id` of every image through POST /account/v1.0/user_catalogs and indexes the
    // answer with them: an id the catalog leaves out crashes the command with a KeyError.
    let r = k.run(&["imagecompute", "list", "-l"]).ok();
    let header = format!("{id} kamaki-detailed");
    block_has(&r, &header, "status: ACTIVE");
    block_has(&r, &header, "os: debian");
    block_has(&r, &header, "users: root");
    let b = block(&r, &header);
    let tenant = b
        .iter()
        .find_map(|l| l.trim().strip_prefix("tenant_id: "))
        .unwrap_or_else(|| panic!("no tenant_id\n{}", r.report()));
    assert!(
        tenant.starts_with(&format!("{project} (")) && tenant.ends_with(')'),
        "tenant_id should read '{project} (NAME)': {tenant:?}\n{}",
        r.report()
    );
    let owner = b
        .iter()
        .find_map(|l| l.trim().strip_prefix("user_id: "))
        .unwrap_or_else(|| panic!("no user_id\n{}", r.report()));
    assert!(
        owner.contains(" (") && owner.ends_with(')'),
        "user_id should read 'ID (NAME)': {owner:?}\n{}",
        r.report()
    );
}

#[test]
fn imagecompute_info_shows_the_image() {
    let g = Gateway::start();
    let (token, project) = user(&g, "iin");
    let api = image_api(&g, &token);
    let id = api.create(
        "kamaki-info-image",
        &[("os", "ubuntu"), ("osfamily", "linux")],
    );
    let k = Kamaki::new(&g, &token);
    // kamaki 0.16 (cli/cmds/image.py, imagecompute_info._run) looks the image's `user_id` up
    // through POST /account/v1.0/user_catalogs and prints `user_id: ID (NAME)`.
    let r = k.run(&["imagecompute", "info", &id]).ok();
    for want in [
        format!("id: {id}"),
        "name: kamaki-info-image".to_owned(),
        "status: ACTIVE".to_owned(),
        format!("tenant_id: {project}"),
    ] {
        assert!(r.has_line(&want), "no line {want:?}\n{}", r.report());
    }
    let meta = block(&r, "metadata:");
    for want in ["os: ubuntu", "osfamily: linux"] {
        assert!(
            meta.iter().any(|l| l.trim() == want),
            "no {want:?} in metadata {meta:?}\n{}",
            r.report()
        );
    }
    let owner = r
        .lines()
        .into_iter()
        .find_map(|l| l.strip_prefix("user_id: "))
        .unwrap_or_else(|| panic!("no user_id\n{}", r.report()));
    assert!(
        owner.contains(" (") && owner.ends_with(')'),
        "user_id should read 'ID (NAME)': {owner:?}\n{}",
        r.report()
    );
    // An unknown image is reported as such, not a crash.
    let r = k.run(&["imagecompute", "info", "no-such-image"]).failed();
    assert!(
        r.stderr.contains("No image with id no-such-image found") && r.stderr.contains("404"),
        "{}",
        r.report()
    );
}

#[test]
fn imagecompute_modify_adds_and_deletes_properties() {
    let g = Gateway::start();
    let (token, _) = user(&g, "imo");
    let api = image_api(&g, &token);
    let id = api.create("kamaki-modify", &[("os", "debian")]);
    let k = Kamaki::new(&g, &token);

    k.run(&[
        "imagecompute",
        "modify",
        &id,
        "--property-add",
        "color=blue",
        "--property-add",
        "users=root",
    ])
    .ok();
    let img = api.image(&id);
    assert_eq!(img["color"], "blue", "{img:#}");
    assert_eq!(img["users"], "root", "{img:#}");
    assert_eq!(img["os"], "debian", "{img:#}");
    assert_eq!(img["name"], "kamaki-modify", "{img:#}");
    // kamaki filters on metadata itself (from /images/detail).
    let r = k
        .run(&["imagecompute", "list", "--metadata", "color=blue"])
        .ok();
    assert!(r.has_line(&format!("{id} kamaki-modify")), "{}", r.report());

    k.run(&["imagecompute", "modify", &id, "--property-del", "color"])
        .ok();
    let img = api.image(&id);
    assert!(img.get("color").is_none(), "color still there: {img:#}");
    assert_eq!(img["users"], "root", "{img:#}");
    assert_eq!(img["os"], "debian", "{img:#}");
    let r = k
        .run(&["imagecompute", "list", "--metadata", "color=blue"])
        .ok();
    assert!(!r.stdout.contains(&id), "{}", r.report());

    // Deleting a property that is not there is reported (404), not a crash.
    let r = k
        .run(&["imagecompute", "modify", &id, "--property-del", "color"])
        .failed();
    assert!(r.stderr.contains("404"), "{}", r.report());
}

#[test]
fn imagecompute_delete_removes_the_image() {
    let g = Gateway::start();
    let (token, _) = user(&g, "ide");
    let api = image_api(&g, &token);
    let id = api.create("kamaki-doomed", &[]);
    let keep = api.create("kamaki-kept", &[]);
    let k = Kamaki::new(&g, &token);

    k.run(&["imagecompute", "delete", &id]).ok();
    assert_eq!(
        api.get(&id).status(),
        404,
        "the image is still in /image/v2"
    );
    assert_eq!(api.get(&keep).status(), 200);
    let r = k.run(&["imagecompute", "list"]).ok();
    assert!(!r.stdout.contains(&id), "{}", r.report());
    assert!(r.has_line(&format!("{keep} kamaki-kept")), "{}", r.report());

    // A second delete finds nothing, and kamaki says so.
    let r = k.run(&["imagecompute", "delete", &id]).failed();
    assert!(
        r.stderr.contains(&format!("No image with id {id} found")) && r.stderr.contains("404"),
        "{}",
        r.report()
    );
}

// ---------------------------------------------------------------------------------------
// authentication

#[test]
fn bad_token_is_reported_not_crashed() {
    let g = Gateway::start();
    let k = Kamaki::new(&g, "not-a-valid-token");
    for args in [&["flavor", "list"][..], &["imagecompute", "list"][..]] {
        // kamaki authenticates first (POST /identity/v2.0/tokens answers 401) and gives up
        // with a hint to set a new token (cli/__init__.py, _init_session).
        let r = k.run(args).failed();
        assert!(
            r.stderr.contains("failed to authenticate")
                && r.stderr.contains("Failed to initialize an identity client")
                && r.stderr
                    .contains("kamaki config set cloud.test.token NEW_TOKEN"),
            "{}",
            r.report()
        );
        assert!(!r.stdout.contains("C1R512D5"), "{}", r.report());
    }
}

#[test]
fn revoked_token_is_reported_not_crashed() {
    let g = Gateway::start();
    let (token, _) = user(&g, "rev");
    let k = Kamaki::new(&g, &token);
    k.run(&["flavor", "list"]).ok();
    let out = common::cli(&g.data_dir, &["token", "revoke", &token]);
    assert!(
        out.status.success(),
        "cyclades token revoke: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = k.run(&["flavor", "list"]).failed();
    assert!(
        r.stderr.contains("failed to authenticate"),
        "{}",
        r.report()
    );
}
