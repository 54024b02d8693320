//! The one helper every black-box test uses: start the real `cyclades` binary on port 0
//! with a throw-away data dir, talk HTTP to it, stop it with SIGTERM.

#![allow(dead_code)]

pub mod compute;
pub mod glance;
pub mod kamaki;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_cyclades");

/// Runs a `cyclades` subcommand against `data_dir`.
pub fn cli(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("CYCLADES_LOG", "warn")
        .output()
        .expect("run cyclades")
}

/// Runs a subcommand that must succeed and returns the last line of its stdout.
pub fn cli_last_line(data_dir: &Path, args: &[&str]) -> String {
    let out = cli(data_dir, args);
    assert!(
        out.status.success(),
        "cyclades {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

pub struct Gateway {
    child: Option<Child>,
    pub url: String,
    pub data_dir: PathBuf,
    /// Lines the gateway printed on stdout before `listening on`.
    pub banner: Vec<String>,
    /// The rest of stdout, as it arrives.
    stdout_rest: mpsc::Receiver<String>,
    _tmp: Option<tempfile::TempDir>,
    client: reqwest::blocking::Client,
}

pub struct Options {
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            // Tests run on the simulated backend unless they ask for another: `auto` would
            // pick QEMU on a machine that has it.
            env: vec![
                ("CYCLADES_LOG".into(), "warn".into()),
                ("CYCLADES_BACKEND".into(), "simulated".into()),
            ],
            args: Vec::new(),
        }
    }
}

impl Options {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
}

impl Gateway {
    /// A gateway on a fresh data dir.
    pub fn start() -> Gateway {
        Self::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Gateway {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut g = Self::start_in(&dir, opts).unwrap_or_else(|e| panic!("{e}"));
        g._tmp = Some(tmp);
        g
    }

    /// A gateway on an existing data dir; `Err` carries its stderr if it did not start.
    pub fn start_in(dir: &Path, opts: Options) -> Result<Gateway, String> {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(&opts.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (etx, erx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = etx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut banner = Vec::new();
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        break url.trim().to_owned();
                    }
                    banner.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let err: Vec<String> = erx.try_iter().collect();
                    return Err(format!(
                        "gateway did not start: stdout {banner:?}, stderr:\n{}",
                        err.join("\n")
                    ));
                }
            }
        };
        Ok(Gateway {
            child: Some(child),
            url,
            data_dir: dir.to_path_buf(),
            banner,
            stdout_rest: rx,
            _tmp: None,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        })
    }

    /// The admin token printed at the first start of a data dir.
    pub fn admin_token(&self) -> String {
        self.banner
            .iter()
            .find_map(|l| l.strip_prefix("admin token: "))
            .expect("admin token in banner")
            .trim()
            .to_owned()
    }

    /// Creates a user through the CLI (while the gateway runs) and returns its token.
    pub fn user(&self, name: &str, extra: &[&str]) -> String {
        let mut args = vec!["user", "create", name];
        args.extend_from_slice(extra);
        cli_last_line(&self.data_dir, &args)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    pub fn client(&self) -> &reqwest::blocking::Client {
        &self.client
    }

    pub fn get(&self, path: &str, token: &str) -> reqwest::blocking::Response {
        self.client
            .get(self.url(path))
            .header("X-Auth-Token", token)
            .send()
            .expect("GET")
    }

    /// Sends SIGTERM and waits (bounded) for the process to end; returns its status and
    /// the stdout lines printed after `listening on`.
    pub fn stop(mut self) -> (ExitStatus, Vec<String>) {
        let mut child = self.child.take().expect("running");
        terminate(&child);
        let status = wait_bounded(&mut child, Duration::from_secs(30));
        let rest = self.stdout_rest.try_iter().collect();
        (status, rest)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }
}

fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&child);
            wait_bounded(&mut child, Duration::from_secs(10));
        }
        if self._tmp.is_some() {
            kill_vms(&self.data_dir);
        }
    }
}

/// Kills the QEMU processes of a data dir that is about to be deleted. The QEMU backend's
/// VMs outlive the gateway by design; with their data dir gone nothing could re-attach to
/// them, so a test that ends (or fails) without deleting its servers must not leave them
/// running. Only processes whose command line names the dir's own QMP socket are killed.
pub fn kill_vms(data_dir: &Path) {
    let Ok(dirs) = std::fs::read_dir(data_dir.join("qemu")) else {
        return;
    };
    for d in dirs.flatten() {
        let qmp = d.path().join("qmp.sock").display().to_string();
        let pid = std::fs::read_to_string(d.path().join("qemu.pid")).unwrap_or_default();
        let Ok(pid) = pid.trim().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&qmp) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// Prepares a Python client's command: `home` as its HOME and working dir, UTF-8 output,
/// and none of the caller's `PYTHONPATH`, `PYTHONHOME` or `OS_*` settings.
pub fn python_client_env(cmd: &mut Command, home: &Path) {
    cmd.current_dir(home)
        .env("HOME", home)
        .env("PYTHONIOENCODING", "utf-8")
        .env("LC_ALL", "C.UTF-8")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME");
    for (k, _) in std::env::vars() {
        if k.starts_with("OS_") {
            cmd.env_remove(k);
        }
    }
}

/// Runs `cmd` with nothing on stdin (a client would upload whatever a pipe holds) and its
/// stdout and stderr collected, killing it after `limit`: the status (`None` when killed),
/// stdout, stderr. `shown` names the command in a panic when it cannot start.
pub fn output_bounded(
    cmd: &mut Command,
    shown: &str,
    limit: Duration,
) -> (Option<ExitStatus>, Vec<u8>, Vec<u8>) {
    use std::io::Read;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for the client") {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        t_out.join().unwrap_or_default(),
        t_err.join().unwrap_or_default(),
    )
}

/// Replaces the gateway's real address in `s` so snapshots do not depend on the port.
pub fn normalize(g: &Gateway, s: &str) -> String {
    s.replace(&g.url, "http://GATEWAY")
}

/// Checks that `xml` is well-formed by reading it to the end with a parser.
pub fn assert_well_formed(xml: &str) {
    let mut r = quick_xml::Reader::from_str(xml);
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("malformed XML ({e}): {xml}"),
        }
    }
}

/// The body of an XML response that must have answered `status`: its media type is XML and
/// it is well-formed.
pub fn xml_body(r: reqwest::blocking::Response, status: u16) -> String {
    let url = r.url().to_string();
    assert_eq!(r.status(), status, "{url}");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml"),
        "{url}"
    );
    let body = r.text().unwrap();
    assert_well_formed(&body);
    body
}

/// Attributes of every element named `tag` in `xml`, in document order.
pub fn xml_elements(xml: &str, tag: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == tag.as_bytes() => {
                out.push(
                    e.attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            (
                                String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                                a.unescape_value().unwrap().into_owned(),
                            )
                        })
                        .collect(),
                );
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

/// Replaces what changes from run to run — the gateway's address, UUIDs, 32-hex ids, tokens,
/// timestamps — with stable placeholders, for snapshots.
pub fn stable(g: &Gateway, s: &str) -> String {
    let s = normalize(g, s);
    let uuid =
        regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    let hex32 = regex::Regex::new(r"\b[0-9a-f]{32}\b").unwrap();
    let ts = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)").unwrap();
    let s = uuid.replace_all(&s, "UUID");
    let s = hex32.replace_all(&s, "HEX32");
    ts.replace_all(&s, "TIMESTAMP").into_owned()
}

/// Runs `tests/clients/{script}` once per test binary — it installs a real client into a
/// virtualenv inside the repo, idempotently — and returns `{repo}/{probe}`, a file the install
/// must have produced. A failed install panics with the script's output: a client test never
/// skips silently.
pub fn client_install(script: &str, probe: &str) -> &'static Path {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    static DONE: Mutex<BTreeMap<String, Result<&'static Path, String>>> =
        Mutex::new(BTreeMap::new());
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    let res = done
        .entry(format!("{script}\0{probe}"))
        .or_insert_with(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let path = root.join("tests/clients").join(script);
            let out = Command::new("bash")
                .arg(&path)
                .current_dir(root)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "{} failed ({}):\nstdout:\n{}\nstderr:\n{}",
                    path.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let probe = root.join(probe);
            if probe.is_file() {
                // Kept for the life of the test binary, like the venv itself.
                Ok(Box::leak(probe.into_boxed_path()))
            } else {
                Err(format!(
                    "{script} succeeded but {} is missing",
                    probe.display()
                ))
            }
        })
        .clone();
    match res {
        Ok(p) => p,
        Err(e) => panic!("client setup: {e}"),
    }
}
