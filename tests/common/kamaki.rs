//! Running the real kamaki 0.16 CLI (Python 2.7) from tests: the install, one throw-away
//! HOME with a kamaki configuration per gateway and token, and what a run printed.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use super::Gateway;

/// kamaki 0.16 in its Python 2.7 venv, installed once per test binary.
pub fn kamaki_bin() -> &'static Path {
    super::client_install("kamaki_setup.sh", ".venv-kamaki/bin/kamaki")
}

/// What one kamaki run printed.
pub struct Run {
    pub cmd: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(cmd: String, out: Output) -> Run {
        Run {
            cmd,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Everything needed to understand a failed assertion.
    pub fn report(&self) -> String {
        format!(
            "command: {}\nexit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }

    pub fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "kamaki failed\n{}", self.report());
        self.no_traceback()
    }

    pub fn failed(self) -> Run {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "kamaki should have failed\n{}",
            self.report()
        );
        self.no_traceback()
    }

    /// kamaki prints a Python traceback only when it crashes (or with `-d`).
    pub fn no_traceback(self) -> Run {
        for s in [&self.stdout, &self.stderr] {
            assert!(
                !s.contains("Traceback") && !s.contains("exceptions."),
                "kamaki crashed instead of reporting an error\n{}",
                self.report()
            );
        }
        self
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    pub fn has_line(&self, want: &str) -> bool {
        self.stdout.lines().any(|l| l.trim_end() == want)
    }

    /// Panics unless stdout has the line `want` (trailing blanks ignored).
    pub fn expect_line(&self, want: &str) {
        assert!(self.has_line(want), "no line {want:?}\n{}", self.report());
    }

    /// Panics unless stderr has the line `want` (kamaki writes its notices there).
    pub fn expect_err_line(&self, want: &str) {
        assert!(
            self.stderr.lines().any(|l| l.trim_end() == want),
            "no line {want:?} on stderr\n{}",
            self.report()
        );
    }

    /// The value of the first top-level `key: value` line of a `print_dict` output.
    pub fn field(&self, key: &str) -> &str {
        let prefix = format!("{key}: ");
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map(str::trim_end)
            .unwrap_or_else(|| panic!("no top-level {key:?}\n{}", self.report()))
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("kamaki printed no JSON ({e})\n{}", self.report()))
    }
}

/// A kamaki configuration in its own HOME, pointing at one gateway with one token.
pub struct Kamaki {
    pub home: tempfile::TempDir,
    pub bin: &'static Path,
}

impl Kamaki {
    pub fn new(g: &Gateway, token: &str) -> Kamaki {
        let k = Kamaki {
            home: tempfile::tempdir().expect("tempdir"),
            bin: kamaki_bin(),
        };
        let url = format!("{}/identity/v2.0", g.url);
        k.run(&["config", "set", "cloud.test.url", &url]).ok();
        k.run(&["config", "set", "cloud.test.token", token]).ok();
        k.run(&["config", "set", "default_cloud", "test"]).ok();
        let rc = std::fs::read_to_string(k.home.path().join(".kamakirc")).expect(".kamakirc");
        assert!(
            rc.contains("[cloud \"test\"]") && rc.contains(&url) && rc.contains(token),
            "unexpected ~/.kamakirc:\n{rc}"
        );
        k
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = Command::new(self.bin)
            .args(args)
            .env("HOME", self.home.path())
            .env_remove("KAMAKI_CONFIG")
            .env_remove("PYTHONPATH")
            .env_remove("PYTHONHOME")
            .env("PYTHONIOENCODING", "utf-8")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .expect("run kamaki");
        Run::from(format!("kamaki {}", args.join(" ")), out)
    }

    /// A file in this HOME, for `-p` personality.
    pub fn file(&self, name: &str, contents: &str) -> String {
        let p = self.home.path().join(name);
        std::fs::write(&p, contents).expect("write personality file");
        p.to_string_lossy().into_owned()
    }
}

/// The lines of the block kamaki prints under `header` (a list entry of `list -l`, or a key
/// of `info` such as `metadata:`): the indented lines that follow it up to the next entry.
pub fn block<'a>(r: &'a Run, header: &str) -> Vec<&'a str> {
    let lines = r.lines();
    let start = lines
        .iter()
        .position(|l| l.trim() == header)
        .unwrap_or_else(|| panic!("no entry {header:?} in the output\n{}", r.report()));
    lines[start + 1..]
        .iter()
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .copied()
        .collect()
}

/// Asserts that the block under `header` has the line `want` (trimmed).
pub fn block_has(r: &Run, header: &str, want: &str) {
    let b = block(r, header);
    assert!(
        b.iter().any(|l| l.trim() == want),
        "no {want:?} under {header:?}: {b:#?}\n{}",
        r.report()
    );
}
