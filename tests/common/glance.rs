//! The real python-glanceclient CLI (`glance`), installed by `tests/clients/setup.sh` into
//! `.venv-clients/`, run against one gateway in a throw-away HOME, with its prettytable
//! output parsed. Shared by the Image API and metadefs client tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::Gateway;

/// The glanceclient/openstacksdk venv's `bin/` directory, installed once per test binary.
pub fn venv_bin() -> &'static Path {
    let probe = super::client_install("setup.sh", ".venv-clients/bin/glance");
    probe.parent().unwrap_or(probe)
}

/// What one `glance` run printed.
pub struct Run {
    pub cmd: String,
    pub code: Option<i32>,
    pub stdout_bytes: Vec<u8>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Everything needed to understand a failed assertion.
    pub fn report(&self) -> String {
        format!(
            "command: {}\nexit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }

    pub fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "glance failed\n{}", self.report());
        self
    }

    /// A refusal the CLI reports as an error: exit code 1, the server's message on stderr,
    /// no crash while reading the error response.
    pub fn refused(self, message: &str) -> Run {
        assert_eq!(
            self.code,
            Some(1),
            "glance should have reported an error\n{}",
            self.report()
        );
        assert!(
            !self.stderr.contains("has no attribute") && !self.stderr.contains("Traceback"),
            "glance crashed reading the server's error response instead of reporting it \
             (glanceclient's exc.from_response expects every top-level value of a JSON error \
             body to be an object with a \"message\")\n{}",
            self.report()
        );
        assert!(
            self.stderr.contains(message),
            "glance's error should carry the server's message {message:?}\n{}",
            self.report()
        );
        self
    }

    /// The `Property | Value` table of `image-show`, `image-create` and `image-update`.
    /// Values that the CLI wrapped over several rows (long hashes) are joined back.
    pub fn props(&self) -> BTreeMap<String, String> {
        let rows = table_rows(&self.stdout);
        assert!(
            rows.first()
                .is_some_and(|h| h.len() == 2 && h[0] == "Property" && h[1] == "Value"),
            "no Property/Value table\n{}",
            self.report()
        );
        let mut map = BTreeMap::new();
        let mut last: Option<String> = None;
        for row in &rows[1..] {
            assert_eq!(row.len(), 2, "odd row {row:?}\n{}", self.report());
            if row[0].is_empty() {
                let k = last.clone().expect("continuation row first");
                map.entry(k)
                    .and_modify(|v: &mut String| v.push_str(&row[1]));
            } else {
                map.insert(row[0].clone(), row[1].clone());
                last = Some(row[0].clone());
            }
        }
        map
    }

    /// A list table as one map per row, keyed by the column headers.
    pub fn list(&self) -> Vec<BTreeMap<String, String>> {
        let rows = table_rows(&self.stdout);
        let Some((head, body)) = rows.split_first() else {
            panic!("no table\n{}", self.report());
        };
        body.iter()
            .map(|r| {
                assert_eq!(r.len(), head.len(), "odd row {r:?}\n{}", self.report());
                head.iter().cloned().zip(r.iter().cloned()).collect()
            })
            .collect()
    }

    /// The values of one column of a list table.
    pub fn column(&self, name: &str) -> Vec<String> {
        self.list()
            .into_iter()
            .map(|r| {
                r.get(name)
                    .cloned()
                    .unwrap_or_else(|| panic!("no column {name}\n{}", self.report()))
            })
            .collect()
    }
}

/// The cells of every `| a | b |` row of a prettytable, trimmed; border lines are skipped.
pub fn table_rows(s: &str) -> Vec<Vec<String>> {
    s.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('|') && l.ends_with('|') && l.len() >= 2)
        .map(|l| {
            l[1..l.len() - 1]
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

/// The `glance` CLI pointed at one gateway, in its own HOME (glanceclient caches the schemas
/// under `~/.cache/glanceclient`).
pub struct Glance {
    pub home: tempfile::TempDir,
    pub url: String,
    pub bin: PathBuf,
}

impl Glance {
    pub fn new(g: &Gateway) -> Glance {
        Glance {
            home: tempfile::tempdir().expect("tempdir"),
            url: format!("{}/image", g.url),
            bin: venv_bin().join("glance"),
        }
    }

    /// Runs `glance --os-image-url=… --os-auth-token=TOKEN ARGS…` (bounded to two minutes).
    /// The `=` form matters: tokens are base64url and may start with `-`, which argparse
    /// would otherwise take for an option.
    pub fn run(&self, token: &str, args: &[&str]) -> Run {
        let mut cmd = Command::new(&self.bin);
        cmd.arg(format!("--os-image-url={}", self.url))
            .arg(format!("--os-auth-token={token}"))
            .args(args);
        super::python_client_env(&mut cmd, self.home.path());
        let shown = format!(
            "glance --os-image-url={} --os-auth-token={token} {}",
            self.url,
            args.join(" ")
        );
        let (status, stdout_bytes, stderr) =
            super::output_bounded(&mut cmd, &shown, Duration::from_secs(120));
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        let run = Run {
            cmd: shown,
            code: status.and_then(|s| s.code()),
            stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
            stdout_bytes,
            stderr,
        };
        assert!(
            status.is_some(),
            "glance did not finish in 120 s\n{}",
            run.report()
        );
        run
    }

    /// A file in this HOME with `data` in it.
    pub fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.home.path().join(name);
        std::fs::write(&p, data).expect("write image file");
        p
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }
}
