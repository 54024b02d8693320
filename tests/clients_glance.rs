//! Compatibility tests with the real python-glanceclient 4.x CLI (`glance`) against the Image
//! API v2.
//!
//! `tests/clients/setup.sh` installs python-glanceclient and openstacksdk into `.venv-clients/`
//! once (the first run needs PyPI); every test then starts its own gateway and runs `glance`
//! with `--os-image-url {gateway}/image --os-auth-token TOKEN` in a throw-away HOME, asserting
//! on the exit code and on what the CLI prints (its tables are parsed). What glanceclient sends
//! and expects is written down in `../shared/CLIENTS.md`.

mod common;

use std::collections::BTreeMap;

use common::glance::Glance;
use common::{Gateway, cli};
use md5::{Digest as _, Md5};
use sha2::Sha512;

/// `len` reproducible pseudo-random bytes (xorshift), different per `seed`.
fn image_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn md5_hex(b: &[u8]) -> String {
    hex::encode(Md5::digest(b))
}

fn sha512_hex(b: &[u8]) -> String {
    hex::encode(Sha512::digest(b))
}

fn is_uuid(s: &str) -> bool {
    regex::Regex::new(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        .unwrap()
        .is_match(s)
}

/// The project id of a user made with `g.user` (image owners and members are project ids).
fn project_of(g: &Gateway, user: &str) -> String {
    let out = cli(&g.data_dir, &["user", "list"]);
    assert!(out.status.success(), "cyclades user list failed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.len() >= 3 && w[1] == user)
        .map(|w| w[2].to_owned())
        .unwrap_or_else(|| panic!("no user {user} in:\n{text}"))
}

/// `image-create … --file` and check the active image it prints; returns its id.
fn create_with_file(
    glance: &Glance,
    token: &str,
    name: &str,
    data: &[u8],
    extra: &[&str],
) -> String {
    let file = glance.file(&format!("{name}.img"), data);
    let file = file.to_str().expect("utf-8 path");
    let mut args = vec![
        "image-create",
        "--name",
        name,
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--file",
        file,
    ];
    args.extend_from_slice(extra);
    let run = glance.run(token, &args).ok();
    let p = run.props();
    assert_eq!(
        p.get("status").map(String::as_str),
        Some("active"),
        "\n{}",
        run.report()
    );
    assert_eq!(
        p.get("name").map(String::as_str),
        Some(name),
        "\n{}",
        run.report()
    );
    let id = p.get("id").cloned().unwrap_or_default();
    assert!(is_uuid(&id), "image-create printed no id\n{}", run.report());
    id
}

fn get(p: &BTreeMap<String, String>, k: &str) -> String {
    p.get(k)
        .cloned()
        .unwrap_or_else(|| panic!("no {k} in {p:#?}"))
}

#[test]
fn create_upload_show_download_delete() {
    let g = Gateway::start();
    let alice = g.user("alice", &["--project", "p1"]);
    let project = project_of(&g, "alice");
    let glance = Glance::new(&g);
    let data = image_bytes(1024 * 1024 + 4321, 1);
    let file = glance.file("cirros.img", &data);

    // Create and upload in one command (POST /v2/images, then chunked PUT …/file).
    let run = glance
        .run(
            &alice,
            &[
                "image-create",
                "--name",
                "cirros",
                "--disk-format",
                "qcow2",
                "--container-format",
                "bare",
                "--property",
                "os_distro=cirros",
                "--min-ram",
                "64",
                "--file",
                file.to_str().unwrap(),
            ],
        )
        .ok();
    let p = run.props();
    let id = get(&p, "id");
    assert!(is_uuid(&id), "{}", run.report());
    let want = [
        ("name", "cirros".to_owned()),
        ("status", "active".to_owned()),
        ("disk_format", "qcow2".to_owned()),
        ("container_format", "bare".to_owned()),
        ("size", data.len().to_string()),
        ("checksum", md5_hex(&data)),
        ("os_hash_algo", "sha512".to_owned()),
        ("os_hash_value", sha512_hex(&data)),
        ("os_distro", "cirros".to_owned()),
        ("min_ram", "64".to_owned()),
        ("min_disk", "0".to_owned()),
        ("owner", project.clone()),
        ("protected", "False".to_owned()),
        ("os_hidden", "False".to_owned()),
        ("tags", "[]".to_owned()),
    ];
    for (k, v) in &want {
        assert_eq!(p.get(*k), Some(v), "image-create: {k}\n{}", run.report());
    }

    // Show: the same record.
    let run = glance.run(&alice, &["image-show", &id]).ok();
    let shown = run.props();
    for (k, v) in &want {
        assert_eq!(shown.get(*k), Some(v), "image-show: {k}\n{}", run.report());
    }
    assert_eq!(get(&shown, "id"), id);
    assert_eq!(
        get(&shown, "visibility"),
        "shared",
        "Glance's default visibility"
    );

    // It is listed.
    let run = glance.run(&alice, &["image-list"]).ok();
    assert_eq!(run.column("ID"), vec![id.clone()], "\n{}", run.report());
    assert_eq!(run.column("Name"), vec!["cirros".to_owned()]);

    // Download to a file (glanceclient verifies os_hash_value / checksum) and to stdout.
    let out = glance.path("out.img");
    glance
        .run(
            &alice,
            &["image-download", "--file", out.to_str().unwrap(), &id],
        )
        .ok();
    let got = std::fs::read(&out).expect("downloaded file");
    assert!(
        got == data,
        "downloaded {} bytes that differ from the upload",
        got.len()
    );
    let run = glance.run(&alice, &["image-download", &id]).ok();
    assert!(
        run.stdout_bytes == data,
        "image-download to stdout gave {} bytes that differ from the upload",
        run.stdout_bytes.len()
    );

    // The explicit API version gives the same answers.
    let run = glance
        .run(&alice, &["--os-image-api-version", "2", "image-show", &id])
        .ok();
    assert_eq!(get(&run.props(), "checksum"), md5_hex(&data));

    // Delete: gone from the list and from the API.
    let run = glance.run(&alice, &["image-delete", &id]).ok();
    assert!(run.stderr.trim().is_empty(), "\n{}", run.report());
    let run = glance.run(&alice, &["image-list"]).ok();
    assert!(
        run.list().is_empty(),
        "deleted image still listed\n{}",
        run.report()
    );
    let status = g.get(&format!("/image/v2/images/{id}"), &alice).status();
    assert_eq!(status.as_u16(), 404);
}

#[test]
fn list_with_filters_sorting_and_pages() {
    let g = Gateway::start();
    let alice = g.user("alice", &["--project", "p1"]);
    let project = project_of(&g, "alice");
    let glance = Glance::new(&g);
    let a = create_with_file(
        &glance,
        &alice,
        "img-b",
        &image_bytes(1000, 2),
        &["--property", "os_distro=cirros", "--tags", "t1", "t2"],
    );
    let b = create_with_file(
        &glance,
        &alice,
        "img-a",
        &image_bytes(2000, 3),
        &["--property", "os_distro=debian", "--tags", "t1"],
    );
    let c = create_with_file(
        &glance,
        &alice,
        "img-c",
        &image_bytes(3000, 4),
        &["--visibility", "private"],
    );
    let ids = |args: &[&str]| -> Vec<String> {
        let mut v = glance.run(&alice, args).ok().column("ID");
        v.sort();
        v
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };

    assert_eq!(
        ids(&["image-list"]),
        sorted(vec![a.clone(), b.clone(), c.clone()])
    );
    assert_eq!(
        ids(&["image-list", "--property-filter", "os_distro=cirros"]),
        vec![a.clone()]
    );
    assert_eq!(
        ids(&["image-list", "--property-filter", "os_distro=none"]),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&["image-list", "--tag", "t1"]),
        sorted(vec![a.clone(), b.clone()])
    );
    assert_eq!(
        ids(&["image-list", "--tag", "t1", "--tag", "t2"]),
        vec![a.clone()]
    );
    assert_eq!(ids(&["image-list", "--tag", "t3"]), Vec::<String>::new());
    assert_eq!(
        ids(&["image-list", "--visibility", "private"]),
        vec![c.clone()]
    );
    assert_eq!(
        ids(&["image-list", "--visibility", "shared"]),
        sorted(vec![a.clone(), b.clone()])
    );
    assert_eq!(
        ids(&["image-list", "--visibility", "public"]),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&["image-list", "--owner", &project]),
        sorted(vec![a.clone(), b.clone(), c.clone()])
    );
    assert_eq!(
        ids(&["image-list", "--owner", "nobody"]),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&["image-list", "--hidden", "True"]),
        Vec::<String>::new()
    );

    // Sorting, and following `next` links one image per page.
    let run = glance
        .run(
            &alice,
            &["image-list", "--sort-key", "name", "--sort-dir", "asc"],
        )
        .ok();
    assert_eq!(
        run.column("Name"),
        vec!["img-a", "img-b", "img-c"],
        "\n{}",
        run.report()
    );
    let run = glance
        .run(&alice, &["image-list", "--sort", "name:desc"])
        .ok();
    assert_eq!(
        run.column("Name"),
        vec!["img-c", "img-b", "img-a"],
        "\n{}",
        run.report()
    );
    let run = glance
        .run(
            &alice,
            &[
                "image-list",
                "--page-size",
                "1",
                "--sort-key",
                "name",
                "--sort-dir",
                "asc",
            ],
        )
        .ok();
    assert_eq!(
        run.column("Name"),
        vec!["img-a", "img-b", "img-c"],
        "\n{}",
        run.report()
    );
    let run = glance
        .run(
            &alice,
            &[
                "image-list",
                "--limit",
                "2",
                "--sort-key",
                "name",
                "--sort-dir",
                "asc",
            ],
        )
        .ok();
    assert_eq!(
        run.column("Name"),
        vec!["img-a", "img-b"],
        "\n{}",
        run.report()
    );
}

/// `--checksum` and `--hash` are image-list filters of glanceclient (Glance filters on
/// `checksum` and `os_hash_value`).
#[test]
fn list_filtered_by_checksum_and_hash() {
    let g = Gateway::start();
    let alice = g.user("alice", &["--project", "p1"]);
    let glance = Glance::new(&g);
    let data = image_bytes(5000, 5);
    let a = create_with_file(&glance, &alice, "one", &data, &[]);
    create_with_file(&glance, &alice, "two", &image_bytes(6000, 6), &[]);
    let run = glance
        .run(&alice, &["image-list", "--checksum", &md5_hex(&data)])
        .ok();
    assert_eq!(
        run.column("ID"),
        vec![a.clone()],
        "GET /v2/images?checksum=…\n{}",
        run.report()
    );
    let run = glance
        .run(&alice, &["image-list", "--hash", &sha512_hex(&data)])
        .ok();
    assert_eq!(
        run.column("ID"),
        vec![a],
        "GET /v2/images?os_hash_value=…\n{}",
        run.report()
    );
}

#[test]
fn update_properties_and_tags() {
    let g = Gateway::start();
    let alice = g.user("alice", &["--project", "p1"]);
    let glance = Glance::new(&g);
    let data = image_bytes(10_000, 7);
    let id = create_with_file(
        &glance,
        &alice,
        "base",
        &data,
        &["--property", "os_distro=cirros"],
    );

    // Base attributes are patched with `replace`, new properties with `add` (JSON Patch 2.1).
    let run = glance
        .run(
            &alice,
            &[
                "image-update",
                "--name",
                "renamed",
                "--min-disk",
                "2",
                "--property",
                "k1=v1",
                "--property",
                "os_version=1.0",
                "--property",
                "owner_specified.openstack.object=images/renamed",
                "--property",
                "os_distro=debian",
                &id,
            ],
        )
        .ok();
    let p = run.props();
    for (k, v) in [
        ("name", "renamed"),
        ("min_disk", "2"),
        ("k1", "v1"),
        ("os_version", "1.0"),
        ("owner_specified.openstack.object", "images/renamed"),
        ("os_distro", "debian"),
        ("status", "active"),
    ] {
        assert_eq!(
            p.get(k).map(String::as_str),
            Some(v),
            "image-update: {k}\n{}",
            run.report()
        );
    }
    assert_eq!(get(&p, "checksum"), md5_hex(&data), "data untouched");

    let run = glance
        .run(&alice, &["image-update", "--remove-property", "k1", &id])
        .ok();
    let p = run.props();
    assert!(!p.contains_key("k1"), "k1 not removed\n{}", run.report());
    assert_eq!(get(&p, "os_version"), "1.0");
    let run = glance.run(&alice, &["image-show", &id]).ok();
    let p = run.props();
    assert!(!p.contains_key("k1"), "\n{}", run.report());
    assert_eq!(get(&p, "name"), "renamed");
    assert_eq!(get(&p, "os_distro"), "debian");

    // Tags.
    let run = glance.run(&alice, &["image-tag-update", &id, "blue"]).ok();
    assert_eq!(run.column("ID"), vec![id.clone()], "\n{}", run.report());
    assert_eq!(run.column("Tags"), vec!["['blue']"], "\n{}", run.report());
    let run = glance.run(&alice, &["image-tag-update", &id, "green"]).ok();
    assert_eq!(
        run.column("Tags"),
        vec!["['blue', 'green']"],
        "\n{}",
        run.report()
    );
    let run = glance.run(&alice, &["image-list", "--tag", "green"]).ok();
    assert_eq!(run.column("ID"), vec![id.clone()], "\n{}", run.report());
    let run = glance.run(&alice, &["image-tag-delete", &id, "blue"]).ok();
    assert!(run.stdout.trim().is_empty(), "\n{}", run.report());
    let run = glance.run(&alice, &["image-show", &id]).ok();
    assert_eq!(
        get(&run.props(), "tags"),
        r#"["green"]"#,
        "\n{}",
        run.report()
    );
    let run = glance.run(&alice, &["image-list", "--tag", "blue"]).ok();
    assert!(run.list().is_empty(), "\n{}", run.report());
}

#[test]
fn deactivate_and_reactivate_as_admin() {
    let g = Gateway::start();
    let admin = g.admin_token();
    let alice = g.user("alice", &["--project", "p1"]);
    let glance = Glance::new(&g);
    let data = image_bytes(20_000, 8);
    let id = create_with_file(&glance, &alice, "deact", &data, &[]);

    let run = glance.run(&admin, &["image-deactivate", &id]).ok();
    assert!(run.stdout.trim().is_empty(), "\n{}", run.report());
    let run = glance.run(&alice, &["image-show", &id]).ok();
    assert_eq!(
        get(&run.props(), "status"),
        "deactivated",
        "\n{}",
        run.report()
    );
    // Admins may still read the data of a deactivated image.
    let out = glance.path("admin.img");
    glance
        .run(
            &admin,
            &["image-download", "--file", out.to_str().unwrap(), &id],
        )
        .ok();
    assert!(std::fs::read(&out).expect("download") == data);

    let run = glance.run(&admin, &["image-reactivate", &id]).ok();
    assert!(run.stdout.trim().is_empty(), "\n{}", run.report());
    let run = glance.run(&alice, &["image-show", &id]).ok();
    assert_eq!(get(&run.props(), "status"), "active", "\n{}", run.report());
    let out = glance.path("alice.img");
    glance
        .run(
            &alice,
            &["image-download", "--file", out.to_str().unwrap(), &id],
        )
        .ok();
    assert!(std::fs::read(&out).expect("download") == data);
}

#[test]
fn members_share_accept_and_remove() {
    let g = Gateway::start();
    let alice = g.user("alice", &["--project", "proj-a"]);
    let bob = g.user("bob", &["--project", "proj-b"]);
    let bob_project = project_of(&g, "bob");
    assert_ne!(bob_project, project_of(&g, "alice"));
    let glance = Glance::new(&g);
    let data = image_bytes(30_000, 9);
    let id = create_with_file(
        &glance,
        &alice,
        "shared-img",
        &data,
        &["--visibility", "shared"],
    );

    // Not bob's to see yet.
    let run = glance.run(&bob, &["image-list"]).ok();
    assert!(run.list().is_empty(), "\n{}", run.report());

    // The owner adds bob's project: pending.
    let run = glance
        .run(&alice, &["member-create", &id, &bob_project])
        .ok();
    let rows = run.list();
    assert_eq!(rows.len(), 1, "\n{}", run.report());
    assert_eq!(get(&rows[0], "Image ID"), id);
    assert_eq!(get(&rows[0], "Member ID"), bob_project);
    assert_eq!(get(&rows[0], "Status"), "pending");
    let run = glance.run(&bob, &["image-list"]).ok();
    assert!(
        run.list().is_empty(),
        "a pending image is not in the default list\n{}",
        run.report()
    );
    let run = glance
        .run(&bob, &["image-list", "--member-status", "pending"])
        .ok();
    assert_eq!(run.column("ID"), vec![id.clone()], "\n{}", run.report());

    // Bob accepts: the image is in his list, he can show and download it.
    let run = glance
        .run(&bob, &["member-update", &id, &bob_project, "accepted"])
        .ok();
    let rows = run.list();
    assert_eq!(rows.len(), 1, "\n{}", run.report());
    assert_eq!(get(&rows[0], "Member ID"), bob_project);
    assert_eq!(get(&rows[0], "Status"), "accepted");
    let run = glance.run(&bob, &["image-list"]).ok();
    assert_eq!(run.column("ID"), vec![id.clone()], "\n{}", run.report());
    let run = glance.run(&bob, &["image-show", &id]).ok();
    assert_eq!(get(&run.props(), "owner"), project_of(&g, "alice"));
    let out = glance.path("bob.img");
    glance
        .run(
            &bob,
            &["image-download", "--file", out.to_str().unwrap(), &id],
        )
        .ok();
    assert!(std::fs::read(&out).expect("download") == data);

    // The owner sees the membership.
    let run = glance.run(&alice, &["member-list", "--image-id", &id]).ok();
    let rows = run.list();
    assert_eq!(rows.len(), 1, "\n{}", run.report());
    assert_eq!(get(&rows[0], "Member ID"), bob_project);
    assert_eq!(get(&rows[0], "Status"), "accepted");

    // Removed: gone from bob's list.
    glance
        .run(&alice, &["member-delete", &id, &bob_project])
        .ok();
    let run = glance.run(&bob, &["image-list"]).ok();
    assert!(run.list().is_empty(), "\n{}", run.report());
    let run = glance.run(&alice, &["member-list", "--image-id", &id]).ok();
    assert!(run.list().is_empty(), "\n{}", run.report());
}

/// The CLI turns the server's refusals into an error message and exit code 1 (it must be able
/// to read the error bodies).
#[test]
fn refusals_are_reported_by_the_cli() {
    let g = Gateway::start();
    let alice = g.user("alice", &["--project", "proj-a"]);
    let bob = g.user("bob", &["--project", "proj-b"]);
    let admin = g.admin_token();
    let glance = Glance::new(&g);
    let id = create_with_file(&glance, &alice, "mine", &image_bytes(4000, 10), &[]);

    // 403: only administrators deactivate.
    glance
        .run(&alice, &["image-deactivate", &id])
        .refused("only administrators may deactivate or reactivate images");
    // 404: another project's image, and a missing one.
    glance.run(&bob, &["image-show", &id]).refused(&id);
    let missing = "00000000-0000-4000-8000-000000000000";
    glance
        .run(&alice, &["image-show", missing])
        .refused(missing);
    // 403: a deactivated image's data is for administrators only.
    glance.run(&admin, &["image-deactivate", &id]).ok();
    let out = glance.path("nope.img");
    glance
        .run(
            &alice,
            &["image-download", "--file", out.to_str().unwrap(), &id],
        )
        .refused("deactivated");
}
