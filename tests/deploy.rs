//! Keeps the deploy files and the configuration reference honest: the sample configuration
//! is accepted by the binary and names every key, the docs list every key, and the systemd
//! unit and proxy example keep the settings the gateway depends on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use cyclades::config::Config;

const BIN: &str = env!("CARGO_BIN_EXE_cyclades");

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_file(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// Every key of the configuration, from the struct itself.
fn config_keys() -> BTreeSet<String> {
    let v = serde_json::to_value(Config::default()).expect("serialize Config");
    v.as_object()
        .expect("Config serializes to an object")
        .keys()
        .cloned()
        .collect()
}

/// A `cyclades` command without the caller's `CYCLADES_*` variables.
fn cyclades() -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CYCLADES_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

#[test]
fn the_binary_accepts_the_sample_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = cyclades()
        .arg("--config")
        .arg(repo_file("deploy/cyclades.toml"))
        .arg("routes")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run cyclades");
    assert!(
        out.status.success(),
        "cyclades rejects deploy/cyclades.toml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty(), "no routes printed");
}

#[test]
fn the_binary_rejects_unknown_keys() {
    // What makes the check above meaningful: a misspelt key is an error, not ignored.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("typo.toml");
    std::fs::write(&file, "regoin = \"x\"\n").expect("write");
    let out = cyclades()
        .arg("--config")
        .arg(&file)
        .arg("routes")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run cyclades");
    assert!(
        !out.status.success(),
        "a config with an unknown key was accepted"
    );
}

#[test]
fn the_sample_config_names_every_key() {
    let text = read("deploy/cyclades.toml");
    let table: toml::Table = toml::from_str(&text).expect("deploy/cyclades.toml is TOML");
    let mut named: BTreeSet<String> = table.keys().cloned().collect();
    // Keys without a value to show (`Option`s left unset) appear commented out: `# key = …`.
    for line in text.lines() {
        if let Some(rest) = line.trim().strip_prefix('#')
            && let Some((key, _)) = rest.split_once('=')
        {
            let key = key.trim();
            if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                named.insert(key.to_owned());
            }
        }
    }
    let keys = config_keys();
    let missing: Vec<_> = keys.difference(&named).collect();
    assert!(missing.is_empty(), "deploy/cyclades.toml lacks {missing:?}");
    let unknown: Vec<_> = named.difference(&keys).collect();
    assert!(
        unknown.is_empty(),
        "deploy/cyclades.toml names unknown keys {unknown:?}"
    );
}

#[test]
fn the_configuration_reference_documents_every_key() {
    let doc = read("api-docs/configuration.md");
    let missing: Vec<_> = config_keys()
        .into_iter()
        .filter(|k| !doc.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "api-docs/configuration.md lacks {missing:?}"
    );
}

/// `KEY=VALUE` of a systemd unit (the last one wins, as in systemd).
fn unit_value(unit: &str, key: &str) -> Option<String> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().to_owned())
        .next_back()
}

fn seconds(v: &str) -> u64 {
    let v = v.trim();
    if let Some(m) = v.strip_suffix("min") {
        return m.trim().parse::<u64>().expect("minutes") * 60;
    }
    v.trim_end_matches('s')
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("cannot read '{v}' as seconds"))
}

#[test]
fn the_unit_runs_serve_and_outlasts_the_shutdown_grace() {
    let unit = read("deploy/cyclades.service");
    let exec = unit_value(&unit, "ExecStart").expect("ExecStart");
    assert!(
        exec.ends_with("cyclades serve --config /etc/cyclades/cyclades.toml"),
        "{exec}"
    );
    assert_eq!(unit_value(&unit, "KillSignal").as_deref(), Some("SIGTERM"));
    assert_eq!(unit_value(&unit, "Restart").as_deref(), Some("on-failure"));
    assert_eq!(
        unit_value(&unit, "StateDirectory").as_deref(),
        Some("cyclades")
    );
    assert_eq!(
        unit_value(&unit, "ProtectSystem").as_deref(),
        Some("strict")
    );
    let user = unit_value(&unit, "User").expect("a dedicated User=");
    assert_ne!(user, "root");

    let sample: toml::Table = toml::from_str(&read("deploy/cyclades.toml")).expect("TOML");
    let grace = sample
        .get("shutdown_grace_secs")
        .and_then(toml::Value::as_integer)
        .map(|g| g as u64)
        .unwrap_or(Config::default().shutdown_grace_secs);
    let stop = seconds(&unit_value(&unit, "TimeoutStopSec").expect("TimeoutStopSec"));
    assert!(
        stop > grace,
        "TimeoutStopSec ({stop} s) must exceed shutdown_grace_secs ({grace} s)"
    );
    // The state directory is where the sample config keeps the data.
    assert_eq!(
        sample.get("data_dir").and_then(toml::Value::as_str),
        Some("/var/lib/cyclades")
    );
}

#[test]
fn the_proxy_example_streams_images_and_upgrades_the_console() {
    let conf = read("deploy/nginx.conf");
    let directives: Vec<String> = conf
        .lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|l| !l.is_empty())
        .collect();
    for needed in [
        "client_max_body_size 0;",
        "proxy_request_buffering off;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header Upgrade $http_upgrade;",
        "location /console/ {",
        "location /image/ {",
        "proxy_http_version 1.1;",
    ] {
        assert!(
            directives.iter().any(|d| d == needed),
            "deploy/nginx.conf lacks `{needed}`"
        );
    }
}

#[test]
fn docs_and_deploy_files_name_no_machine_paths() {
    // Built at run time so that this file does not contain the strings it looks for.
    let forbidden = [format!("/{}/", "tmp"), format!("/{}/", "work")];
    for rel in [
        "api-docs/openapi.json",
        "api-docs/README.md",
        "api-docs/compute.md",
        "api-docs/configuration.md",
        "deploy/README.md",
        "deploy/cyclades.service",
        "deploy/cyclades.toml",
        "deploy/nginx.conf",
    ] {
        let text = read(rel);
        for f in &forbidden {
            assert!(
                !text.contains(f.as_str()),
                "{rel} names a machine path ({f})"
            );
        }
    }
}
