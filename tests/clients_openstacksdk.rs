//! Compatibility test with the real openstacksdk 4.x image proxy against the Image API v2.
//!
//! `tests/clients/setup.sh` installs openstacksdk (and python-glanceclient) into
//! `.venv-clients/` once (the first run needs PyPI). The test starts a gateway and runs
//! `tests/clients/sdk_images.py` with the venv's python: it connects with the `admin_token`
//! plugin and `image_endpoint_override` as `../shared/CLIENTS.md` says, creates and uploads an
//! image, finds it, downloads it (the SDK verifies the hash) and deletes it, then prints a JSON
//! summary that is checked here.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::Gateway;
use serde_json::Value;

/// The glanceclient/openstacksdk venv's `bin/` directory, installed once per test binary.
fn venv_bin() -> &'static Path {
    let probe = common::client_install("setup.sh", ".venv-clients/bin/python");
    probe.parent().unwrap_or(probe)
}

/// Runs `sdk_images.py ENDPOINT TOKEN WORKDIR` (bounded to three minutes) and returns its JSON
/// summary; a non-zero exit fails with everything the script printed.
fn run_sdk_script(endpoint: &str, token: &str) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/clients/sdk_images.py");
    let work = tempfile::tempdir().expect("tempdir");
    let python = venv_bin().join("python");
    let mut cmd = Command::new(&python);
    cmd.arg(&script).arg(endpoint).arg(token).arg(work.path());
    common::python_client_env(&mut cmd, work.path());
    let shown = format!(
        "{} {} {endpoint} {token} {}",
        python.display(),
        script.display(),
        work.path().display()
    );
    let (status, stdout, stderr) =
        common::output_bounded(&mut cmd, &shown, Duration::from_secs(180));
    let stdout = String::from_utf8_lossy(&stdout);
    let stderr = String::from_utf8_lossy(&stderr);
    let report = format!(
        "command: {shown}\nexit: {status:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "sdk_images.py failed\n{report}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("sdk_images.py printed no JSON summary ({e})\n{report}"))
}

#[test]
fn openstacksdk_create_upload_list_download_delete() {
    let g = Gateway::start();
    let alice = g.user("alice", &["--project", "p1"]);
    let endpoint = format!("{}/image", g.url);
    let s = run_sdk_script(&endpoint, &alice);
    let pretty = serde_json::to_string_pretty(&s).unwrap();
    let str_of = |k: &str| -> String {
        s[k].as_str()
            .unwrap_or_else(|| panic!("{k} is not a string in\n{pretty}"))
            .to_owned()
    };

    // Created and uploaded: active, with the hashes of the bytes the script wrote.
    assert_eq!(str_of("status"), "active", "\n{pretty}");
    assert_eq!(str_of("name"), "sdk-image", "\n{pretty}");
    assert_eq!(str_of("disk_format"), "qcow2", "\n{pretty}");
    assert_eq!(str_of("container_format"), "bare", "\n{pretty}");
    assert_eq!(s["size"], s["expected_size"], "\n{pretty}");
    assert_eq!(str_of("checksum"), str_of("expected_md5"), "\n{pretty}");
    assert_eq!(str_of("hash_algo"), "sha512", "\n{pretty}");
    assert_eq!(
        str_of("hash_value"),
        str_of("expected_sha512"),
        "\n{pretty}"
    );
    // The SDK's own properties, with dots in their names, are stored and returned.
    assert_eq!(
        str_of("owner_specified_md5"),
        str_of("expected_md5"),
        "\n{pretty}"
    );
    assert_eq!(
        str_of("owner_specified_sha256"),
        str_of("expected_sha256"),
        "\n{pretty}"
    );
    assert_eq!(
        str_of("owner_specified_object"),
        "images/sdk-image",
        "\n{pretty}"
    );
    assert_eq!(str_of("os_distro"), "cirros", "\n{pretty}");
    assert_eq!(str_of("sdk_note"), "made by sdk_images.py", "\n{pretty}");

    // Listed, found by name, filtered by a property.
    let id = str_of("id");
    assert_eq!(s["listed"], 1, "\n{pretty}");
    assert_eq!(str_of("found_by_name"), id, "\n{pretty}");
    assert_eq!(
        s["filtered_by_property"],
        serde_json::json!([id]),
        "\n{pretty}"
    );
    assert_eq!(
        s["filtered_out_by_property"],
        serde_json::json!([]),
        "\n{pretty}"
    );

    // Downloaded (to a file and into memory) with the SDK's hash check: the same bytes.
    assert_eq!(s["download_matches"], true, "\n{pretty}");
    assert_eq!(s["download_size"], s["expected_size"], "\n{pretty}");
    assert_eq!(s["in_memory_matches"], true, "\n{pretty}");

    // Deleted: gone, and a lookup is a clean 404 carrying the server's message.
    assert_eq!(s["found_after_delete"], Value::Null, "\n{pretty}");
    assert_eq!(s["listed_after_delete"], 0, "\n{pretty}");
    let missing = str_of("missing_error");
    assert!(missing.contains(&id), "\n{pretty}");

    // How it talked: version discovery on the unversioned root without /v2 guessing, then
    // POST /v2/images, the data with PUT …/file (204), GET …/file, DELETE (204).
    let calls: Vec<String> = s["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .map(|c| c.as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        calls
            .first()
            .is_some_and(|c| c == "GET /image 300" || c == "GET /image 200"),
        "version discovery first\n{pretty}"
    );
    for want in [
        "POST /image/v2/images 201".to_owned(),
        format!("PUT /image/v2/images/{id}/file 204"),
        format!("GET /image/v2/images/{id}/file 200"),
        format!("DELETE /image/v2/images/{id} 204"),
    ] {
        assert!(calls.contains(&want), "no {want:?} in\n{pretty}");
    }
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("/import") || c.contains("/stage")),
        "the SDK should upload with PUT …/file, not the import workflow\n{pretty}"
    );

    // The gateway agrees: the image is gone.
    let status = g.get(&format!("/image/v2/images/{id}"), &alice).status();
    assert_eq!(status.as_u16(), 404);
}
