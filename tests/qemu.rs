//! The QEMU compute backend, end to end: real virtual machines from the tiny guest that
//! `guest/build.sh` builds out of Debian packages. QEMU is installed by
//! `tests/clients/qemu_setup.sh`; a machine where that fails fails this test (no skip).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::compute::Api;
use common::{Gateway, Options};
use serde_json::{Value, json};

/// TCG on two shared cores: a boot takes 2–10 s, more when the machine is busy.
const BOOT_LIMIT: Duration = Duration::from_secs(180);
/// The ACPI timeout the gateway runs with here.
const ACPI_TIMEOUT_SECS: u64 = 6;
const BANNER: &str = "cyclades tiny guest";
const POWER_OFF: &str = "power button: powering off";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a repo script that must succeed, and returns its stdout.
fn script(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new("bash");
    cmd.args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run bash");
    assert!(
        out.status.success(),
        "{args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Installs QEMU and builds the tiny guest (both idempotent); returns the guest's build
/// directory.
fn prepare() -> PathBuf {
    script(&["tests/clients/qemu_setup.sh"], &[]);
    PathBuf::from(script(&["guest/build.sh", "build"], &[]).trim())
}

/// The flavor the tests boot (1 vCPU, 128 MiB, 1 GiB), made with the CLI on the gateway's
/// data dir.
fn tiny_flavor(g: &Gateway) -> String {
    common::cli_last_line(
        &g.data_dir,
        &[
            "flavor", "create", "--name", "tiny", "--vcpus", "1", "--ram", "128", "--disk", "1",
        ],
    )
}

fn qemu_options() -> Options {
    Options::default()
        .env("CYCLADES_BACKEND", "qemu")
        .env(
            "CYCLADES_QEMU_ACPI_TIMEOUT_SECS",
            &ACPI_TIMEOUT_SECS.to_string(),
        )
        .env("CYCLADES_STATS_INTERVAL_SECS", "1")
}

/// Registers the tiny guest with `guest/build.sh register`; returns the bootable image id.
fn register_guest(g: &Gateway, token: &str, name: &str, cmdline: &str) -> String {
    register_guest_all(g, token, name, cmdline)[0].clone()
}

/// The ids of the bootable image, its kernel and its ramdisk.
fn register_guest_all(g: &Gateway, token: &str, name: &str, cmdline: &str) -> [String; 3] {
    let out = script(
        &["guest/build.sh", "register", &g.url, token],
        &[("GUEST_NAME", name), ("GUEST_CMDLINE", cmdline)],
    );
    ["image ", "kernel ", "ramdisk "].map(|what| {
        out.lines()
            .find_map(|l| l.strip_prefix(what))
            .unwrap_or_else(|| panic!("no {what}id in {out}"))
            .trim()
            .to_owned()
    })
}

struct Vm {
    dir: PathBuf,
}

impl Vm {
    fn new(g: &Gateway, id: i64) -> Vm {
        Vm {
            dir: g.data_dir.join("qemu").join(id.to_string()),
        }
    }
    fn serial(&self) -> String {
        std::fs::read_to_string(self.dir.join("serial.log")).unwrap_or_default()
    }
    fn count(&self, what: &str) -> usize {
        self.serial().matches(what).count()
    }
    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("qemu.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
    /// Waits until the serial console shows `what` at least `n` times.
    fn wait_serial(&self, what: &str, n: usize) {
        let deadline = Instant::now() + BOOT_LIMIT;
        while self.count(what) < n {
            assert!(
                Instant::now() < deadline,
                "the guest never printed {what:?} {n} times; serial console:\n{}",
                self.serial()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Kills every QEMU of a data dir when dropped (a test that fails half-way must not leave
/// them running; the first test's data dir is its own, not the harness's).
struct Reaper(PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        common::kill_vms(&self.0);
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

fn wait_gone(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while alive(pid) {
        assert!(Instant::now() < deadline, "QEMU {pid} is still running");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_status(api: &Api, id: i64, want: &str) -> Value {
    let deadline = Instant::now() + BOOT_LIMIT;
    loop {
        let v = api.json(&format!("/compute/v2.0/servers/{id}"));
        if v["server"]["status"] == want {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "server {id} never became {want}: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn create(api: &Api, image: &str, flavor: &str, name: &str) -> i64 {
    let r = api.send(
        reqwest::Method::POST,
        "/compute/v2.0/servers",
        json!({"server": {"name": name, "imageRef": image, "flavorRef": flavor}}),
    );
    assert_eq!(r.status(), 202);
    r.json::<Value>().unwrap()["server"]["id"].as_i64().unwrap()
}

fn accepted(r: reqwest::blocking::Response) {
    let status = r.status();
    assert_eq!(status, 202, "{}", r.text().unwrap_or_default());
}

#[test]
fn servers_are_real_virtual_machines() {
    prepare();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let _reaper = Reaper(dir.to_path_buf());
    let g = Gateway::start_in(dir, qemu_options()).unwrap();
    assert!(
        g.banner
            .iter()
            .any(|l| l.starts_with("compute backend: qemu")),
        "{:?}",
        g.banner
    );
    let token = g.admin_token();
    let flavor = tiny_flavor(&g);
    let [image, kernel, ramdisk] = register_guest_all(&g, &token, "tiny", "");
    let api = Api {
        g: &g,
        token: token.clone(),
    };

    // Create: ACTIVE once QEMU runs, with the flavor's memory and the server's MAC; the
    // guest prints its banner on the serial console.
    let t0 = Instant::now();
    let id = create(&api, &image, &flavor, "vm");
    let v = wait_status(&api, id, "ACTIVE");
    let to_active = t0.elapsed();
    let vm = Vm::new(&g, id);
    vm.wait_serial(BANNER, 1);
    let to_banner = t0.elapsed();
    println!("boot: ACTIVE after {to_active:?}, banner after {to_banner:?}");
    let mac = v["server"]["attachments"][0]["mac_address"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| {
            v["server"]["addresses"]
                .as_object()
                .and_then(|a| a.values().next())
                .and_then(|l| l[0]["OS-EXT-IPS-MAC:mac_addr"].as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no MAC in {v}"));
    // Its screen is a VNC server on a unix socket, without a password of its own.
    {
        use std::io::Read;
        let mut vnc = std::os::unix::net::UnixStream::connect(vm.dir.join("vnc.sock")).unwrap();
        vnc.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut hello = [0u8; 12];
        vnc.read_exact(&mut hello).unwrap();
        assert_eq!(&hello, b"RFB 003.008\n");
        use std::io::Write;
        vnc.write_all(b"RFB 003.008\n").unwrap();
        let mut n = [0u8; 1];
        vnc.read_exact(&mut n).unwrap();
        let mut types = vec![0u8; usize::from(n[0])];
        vnc.read_exact(&mut types).unwrap();
        assert_eq!(types, vec![1], "security types (1 = None)");
    }
    let pid = vm.pid().expect("a pid file");
    let args = cmdline(pid);
    assert!(
        args.iter().any(|a| a.contains(&format!("mac={mac}"))),
        "{args:?}"
    );
    let m = args.iter().position(|a| a == "-m").expect("-m");
    assert_eq!(args[m + 1], "128", "{args:?}");
    assert!(vm.dir.join("disk.qcow2").is_file());
    let overlay = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(vm.dir.join("disk.qcow2"))
        .arg("-U")
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&overlay.stdout).unwrap();
    assert_eq!(info["virtual-size"], 1u64 << 30, "{info}");
    assert!(
        info["backing-filename"]
            .as_str()
            .is_some_and(|b| b.ends_with("/base")),
        "{info}"
    );

    // Deleting the images it booted from breaks no server: it keeps its own names for them
    // (the starts below boot from them again).
    for img in [&image, &kernel, &ramdisk] {
        let r = api.send(
            reqwest::Method::DELETE,
            &format!("/image/v2/images/{img}"),
            json!({}),
        );
        assert_eq!(r.status(), 204);
    }

    // Shutdown: the guest powers off through ACPI, QEMU exits, STOPPED. Right after the
    // banner: acpid may not listen yet, and the driver presses the button again until it
    // does.
    accepted(api.action(id, json!({"shutdown": {}})));
    wait_status(&api, id, "STOPPED");
    assert_eq!(vm.count(POWER_OFF), 1, "{}", vm.serial());
    wait_gone(pid, Duration::from_secs(10));

    // Start: a new process, a second boot.
    accepted(api.action(id, json!({"start": {}})));
    wait_status(&api, id, "ACTIVE");
    vm.wait_serial(BANNER, 2);
    let pid = vm.pid().expect("a pid file");
    assert!(alive(pid));

    // Soft reboot: ACPI power-off, then reset and continue in the same process (right
    // after the banner too).
    accepted(api.action(id, json!({"reboot": {"type": "SOFT"}})));
    vm.wait_serial(BANNER, 3);
    wait_status(&api, id, "ACTIVE");
    assert_eq!(vm.count(POWER_OFF), 2, "{}", vm.serial());
    assert_eq!(vm.pid(), Some(pid));

    // Hard reboot: a reset, no power-off.
    accepted(api.action(id, json!({"reboot": {"type": "HARD"}})));
    wait_status(&api, id, "ACTIVE");
    vm.wait_serial(BANNER, 4);
    assert_eq!(vm.count(POWER_OFF), 2, "{}", vm.serial());
    assert_eq!(vm.pid(), Some(pid));

    // SIGKILL the gateway: QEMU runs on; a new gateway re-attaches and controls it.
    let gw = g.pid();
    let killed = Command::new("kill")
        .args(["-KILL", &gw.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    drop(g);
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(pid), "QEMU died with the gateway");
    let g = Gateway::start_in(dir, qemu_options()).unwrap();
    let api = Api {
        g: &g,
        token: token.clone(),
    };
    assert_eq!(api.status(id), "ACTIVE");
    accepted(api.action(id, json!({"reboot": {"type": "HARD"}})));
    wait_status(&api, id, "ACTIVE");
    vm.wait_serial(BANNER, 5);
    assert_eq!(vm.pid(), Some(pid));

    // A guest that ignores ACPI still stops: the timeout, then a hard power-off.
    let deaf = register_guest(&g, &token, "deaf", "guest.acpi=ignore");
    let id2 = create(&api, &deaf, &flavor, "deaf");
    wait_status(&api, id2, "ACTIVE");
    let vm2 = Vm::new(&g, id2);
    vm2.wait_serial(BANNER, 1);
    assert!(vm2.serial().contains("ignoring ACPI"), "{}", vm2.serial());
    let pid2 = vm2.pid().expect("a pid file");
    let t = Instant::now();
    accepted(api.action(id2, json!({"shutdown": {}})));
    wait_status(&api, id2, "STOPPED");
    assert!(
        t.elapsed() >= Duration::from_secs(ACPI_TIMEOUT_SECS),
        "stopped after {:?}",
        t.elapsed()
    );
    assert_eq!(vm2.count(POWER_OFF), 0);
    wait_gone(pid2, Duration::from_secs(10));

    // Delete: the process and the overlay are gone.
    for (server, dir) in [(id, &vm.dir), (id2, &vm2.dir)] {
        let r = api.send(
            reqwest::Method::DELETE,
            &format!("/compute/v2.0/servers/{server}"),
            json!({}),
        );
        assert_eq!(r.status(), 204);
        let deadline = Instant::now() + Duration::from_secs(30);
        while dir.exists() {
            assert!(
                Instant::now() < deadline,
                "{} is still there",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    wait_gone(pid, Duration::from_secs(10));
    let (status, _) = g.stop();
    assert!(status.success());
}

#[test]
fn a_shutdown_while_the_guest_boots_still_powers_it_off_through_acpi() {
    prepare();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let _reaper = Reaper(dir.to_path_buf());
    // Time enough for the boot to finish: the guest's acpid starts with its banner.
    let g = Gateway::start_in(
        dir,
        qemu_options().env("CYCLADES_QEMU_ACPI_TIMEOUT_SECS", "120"),
    )
    .unwrap();
    let token = g.admin_token();
    let flavor = tiny_flavor(&g);
    let image = register_guest(&g, &token, "tiny", "");
    let api = Api {
        g: &g,
        token: token.clone(),
    };
    let id = create(&api, &image, &flavor, "early");
    wait_status(&api, id, "ACTIVE");
    let vm = Vm::new(&g, id);
    let pid = vm.pid().expect("a pid file");
    // At ACTIVE QEMU runs and the guest is in its firmware or early kernel: no press can
    // reach acpid yet. The driver presses again until one does.
    assert_eq!(vm.count(BANNER), 0, "booted already: {}", vm.serial());
    accepted(api.action(id, json!({"shutdown": {}})));
    wait_status(&api, id, "STOPPED");
    assert_eq!(vm.count(POWER_OFF), 1, "{}", vm.serial());
    wait_gone(pid, Duration::from_secs(10));
    let (status, _) = g.stop();
    assert!(status.success());
}

#[test]
fn a_qemu_that_dies_makes_an_error_with_its_log() {
    prepare();
    let g = Gateway::start_with(qemu_options());
    let token = g.admin_token();
    let flavor = tiny_flavor(&g);
    let image = register_guest(&g, &token, "tiny", "");
    let api = Api { g: &g, token };
    // Personality files reach the guest on the config drive; its /init prints /etc/motd.
    use base64::Engine;
    let motd = "greetings from the config drive 7f3a\n";
    let r = api.send(
        reqwest::Method::POST,
        "/compute/v2.0/servers",
        json!({"server": {"name": "doomed", "imageRef": image, "flavorRef": flavor,
            "personality": [{"path": "/etc/motd",
                "contents": base64::engine::general_purpose::STANDARD.encode(motd)}]}}),
    );
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().unwrap()["server"]["id"].as_i64().unwrap();
    wait_status(&api, id, "ACTIVE");
    let vm = Vm::new(&g, id);
    vm.wait_serial(BANNER, 1);
    let serial = vm.serial();
    assert!(
        serial.contains("config drive /dev/vdb: 1 personality file(s)"),
        "{serial}"
    );
    assert!(
        serial.contains("greetings from the config drive 7f3a"),
        "{serial}"
    );
    // Boot progress in the diagnostics: QEMU's start, then the guest's settled console.
    let deadline = Instant::now() + BOOT_LIMIT;
    let diags = loop {
        let d = api.json(&format!("/compute/v2.0/servers/{id}/diagnostics"));
        if d.to_string().contains("boot output settled") {
            break d;
        }
        assert!(Instant::now() < deadline, "no boot diagnostics: {d}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let entry = |message: &str| {
        diags
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} in {diags}"))
            .clone()
    };
    assert!(
        entry("QEMU started.")["details"]
            .as_str()
            .unwrap()
            .contains("128 MiB")
    );
    let settled = entry("The guest's boot output settled.");
    assert!(
        settled["details"].as_str().unwrap().contains(BANNER),
        "{settled}"
    );
    assert_eq!(settled["source"], "guest-console");
    let pid = vm.pid().unwrap();
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    wait_status(&api, id, "ERROR");
    let diags = api.json(&format!("/compute/v2.0/servers/{id}/diagnostics"));
    let text = diags.to_string();
    assert!(text.contains("killed by signal 9"), "{text}");
    assert!(text.contains("serial console"), "{text}");
    // An ERROR server that was built can be started again.
    accepted(api.action(id, json!({"start": {}})));
    wait_status(&api, id, "ACTIVE");
    vm.wait_serial(BANNER, 2);
    let r = api.send(
        reqwest::Method::DELETE,
        &format!("/compute/v2.0/servers/{id}"),
        json!({}),
    );
    assert_eq!(r.status(), 204);
    let deadline = Instant::now() + Duration::from_secs(30);
    while vm.dir.exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
}

const WHOLE_DISK_BANNER: &str = "cyclades whole-disk boot sector";

/// A 1 MiB raw disk whose MBR boot sector prints `banner` on COM1 (port 0x3f8) and halts:
/// cli; xor ax,ax; mov ds,ax; mov si,msg; mov dx,0x3f8;
/// next: lodsb; or al,al; jz done; out dx,al; jmp next; done: hlt; jmp done; msg: db banner,13,10,0
fn whole_disk(banner: &str) -> Vec<u8> {
    let mut code: Vec<u8> = vec![
        0xFA, 0x31, 0xC0, 0x8E, 0xD8, 0xBE, 0x16, 0x7C, 0xBA, 0xF8, 0x03, 0xAC, 0x08, 0xC0, 0x74,
        0x03, 0xEE, 0xEB, 0xF8, 0xF4, 0xEB, 0xFD,
    ];
    assert_eq!(code.len(), 0x16, "the message starts at 0x7c16");
    code.extend_from_slice(banner.as_bytes());
    code.extend_from_slice(b"\r\n\0");
    let mut disk = vec![0u8; 1 << 20];
    disk[..code.len()].copy_from_slice(&code);
    disk[510] = 0x55;
    disk[511] = 0xAA;
    disk
}

/// POSTs an image record and uploads `file` as its data; returns its id.
fn upload_image(api: &Api, body: Value, file: &Path) -> String {
    let r = api.send(reqwest::Method::POST, "/image/v2/images", body);
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api
        .req(reqwest::Method::PUT, &format!("/image/v2/images/{id}/file"))
        .header("Content-Type", "application/octet-stream")
        .body(std::fs::read(file).unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    id
}

#[test]
fn qcow2_and_whole_disk_images_boot_and_unbootable_ones_are_refused() {
    let guest = prepare();
    let g = Gateway::start_with(qemu_options());
    let token = g.admin_token();
    let flavor = tiny_flavor(&g);
    let out = script(&["guest/build.sh", "register", &g.url, &token], &[]);
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .trim()
            .to_owned()
    };
    let (kernel, ramdisk) = (field("kernel"), field("ramdisk"));
    let api = Api { g: &g, token };

    // A qcow2 disk image with kernel_id/ramdisk_id: the overlay's backing file is qcow2.
    let tmp = tempfile::tempdir().unwrap();
    let qcow2 = tmp.path().join("disk.qcow2");
    let converted = Command::new("qemu-img")
        .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
        .arg(guest.join("disk.raw"))
        .arg(&qcow2)
        .status()
        .unwrap();
    assert!(converted.success());
    let image = upload_image(
        &api,
        json!({"name": "tiny-qcow2", "disk_format": "qcow2", "container_format": "bare",
            "kernel_id": kernel, "ramdisk_id": ramdisk,
            "os_command_line": "console=ttyS0 no_timer_check"}),
        &qcow2,
    );
    let id = create(&api, &image, &flavor, "q");
    wait_status(&api, id, "ACTIVE");
    let vm = Vm::new(&g, id);
    vm.wait_serial(BANNER, 1);
    let info = Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(vm.dir.join("disk.qcow2"))
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["backing-filename-format"], "qcow2", "{info}");
    let args = cmdline(vm.pid().unwrap());
    assert!(
        args.iter().any(|a| a == "console=ttyS0 no_timer_check"),
        "{args:?}"
    );

    // A whole-disk image: the BIOS boots its disk. Its boot sector (hand-assembled, below)
    // writes a line to the first serial port and halts.
    let disk = tmp.path().join("whole.raw");
    std::fs::write(&disk, whole_disk(WHOLE_DISK_BANNER)).unwrap();
    let whole = upload_image(
        &api,
        json!({"name": "whole-disk", "disk_format": "raw", "container_format": "bare"}),
        &disk,
    );
    let w = create(&api, &whole, &flavor, "whole");
    wait_status(&api, w, "ACTIVE");
    let wvm = Vm::new(&g, w);
    wvm.wait_serial(WHOLE_DISK_BANNER, 1);
    let wargs = cmdline(wvm.pid().unwrap());
    assert!(!wargs.iter().any(|a| a == "-kernel"), "{wargs:?}");

    // A kernel_id that names no image: the create is refused before a server exists.
    let orphan = upload_image(
        &api,
        json!({"name": "orphan", "disk_format": "raw", "container_format": "bare",
            "kernel_id": "00000000-0000-4000-8000-000000000000"}),
        &guest.join("disk.raw"),
    );
    let r = api.send(
        reqwest::Method::POST,
        "/compute/v2.0/servers",
        json!({"server": {"name": "x", "imageRef": orphan, "flavorRef": flavor}}),
    );
    assert_eq!(r.status(), 400);
    let fault: Value = r.json().unwrap();
    assert!(
        fault["badRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("kernel_id"),
        "{fault}"
    );

    // An ISO can't be a disk here: the build fails with a diagnostics entry that says why.
    let iso = upload_image(
        &api,
        json!({"name": "cd", "disk_format": "iso", "container_format": "bare"}),
        &guest.join("disk.raw"),
    );
    let bad = create(&api, &iso, &flavor, "cd");
    wait_status(&api, bad, "ERROR");
    let diags = api
        .json(&format!("/compute/v2.0/servers/{bad}/diagnostics"))
        .to_string();
    assert!(diags.contains("disk_format 'iso' cannot boot"), "{diags}");

    for server in [id, bad, w] {
        let r = api.send(
            reqwest::Method::DELETE,
            &format!("/compute/v2.0/servers/{server}"),
            json!({}),
        );
        assert_eq!(r.status(), 204);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while vm.dir.exists() {
        assert!(
            Instant::now() < deadline,
            "{} is still there",
            vm.dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn auto_falls_back_to_the_simulated_backend_and_qemu_without_qemu_refuses_to_start() {
    let missing = "/nonexistent/cyclades-test/qemu-system-x86_64";
    let g = Gateway::start_with(
        Options::default()
            .env("CYCLADES_BACKEND", "auto")
            .env("CYCLADES_QEMU_BINARY", missing),
    );
    assert!(
        g.banner.iter().any(|l| l == "compute backend: simulated"),
        "{:?}",
        g.banner
    );
    let tmp = tempfile::tempdir().unwrap();
    let err = Gateway::start_in(
        tmp.path(),
        Options::default()
            .env("CYCLADES_BACKEND", "qemu")
            .env("CYCLADES_QEMU_BINARY", missing),
    )
    .err()
    .expect("a gateway without QEMU");
    assert!(
        err.contains(missing) && err.contains("not installed"),
        "{err}"
    );
}

/// The diagnostics entry of server `id` whose message is `message`, once there.
fn wait_diag(api: &Api, id: i64, message: &str) -> Value {
    let deadline = Instant::now() + BOOT_LIMIT;
    loop {
        let d = api.json(&format!("/compute/v2.0/servers/{id}/diagnostics"));
        if let Some(e) = d
            .as_array()
            .and_then(|l| l.iter().find(|e| e["message"] == message))
        {
            return e.clone();
        }
        assert!(Instant::now() < deadline, "no {message:?} in {d}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A new private network, once it is ACTIVE.
fn network(api: &Api, name: &str) -> String {
    let r = api.send(
        reqwest::Method::POST,
        "/compute/v2.0/networks",
        json!({"network": {"name": name, "type": "CUSTOM"}}),
    );
    assert_eq!(r.status(), 202);
    let net = r.json::<Value>().unwrap()["network"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.json(&format!("/compute/v2.0/networks/{net}"))["network"]["status"] != "ACTIVE" {
        assert!(Instant::now() < deadline, "network {net} never ACTIVE");
        std::thread::sleep(Duration::from_millis(50));
    }
    net
}

/// The attachment (NIC) of server `id` on network `net`, as the API shows it.
fn attachment_on(api: &Api, id: i64, net: &str) -> Option<Value> {
    let v = api.json(&format!("/compute/v2.0/servers/{id}"));
    v["server"]["attachments"]
        .as_array()?
        .iter()
        .find(|a| a["network_id"] == net)
        .cloned()
}

/// The id and MAC of server `id`'s NIC on network `net`.
fn nic_on(api: &Api, id: i64, net: &str) -> Option<(String, String)> {
    attachment_on(api, id, net).map(|a| {
        (
            a["id"].as_str().unwrap().to_owned(),
            a["mac_address"].as_str().unwrap().to_owned(),
        )
    })
}

#[test]
fn nics_connected_and_disconnected_are_hot_plugged_and_kept() {
    prepare();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let _reaper = Reaper(dir.to_path_buf());
    let g = Gateway::start_in(dir, qemu_options()).unwrap();
    let token = g.admin_token();
    let flavor = tiny_flavor(&g);
    let image = register_guest(&g, &token, "tiny", "");
    let api = Api {
        g: &g,
        token: token.clone(),
    };
    let id = create(&api, &image, &flavor, "plug");
    wait_status(&api, id, "ACTIVE");
    let vm = Vm::new(&g, id);
    // Booted: the guest's ACPI answers the hot-plug controller from now on.
    vm.wait_serial(BANNER, 1);
    let pid = vm.pid().expect("a pid file");

    let nets = ["lan-a", "lan-b"].map(|name| network(&api, name));
    let action = |net: &str, body: Value| {
        let r = api.send(
            reqwest::Method::POST,
            &format!("/compute/v2.0/networks/{net}/action"),
            body,
        );
        assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    };

    // Connect: the running QEMU gets a NIC with the new MAC, as QEMU itself reports it.
    let mut plugged = Vec::new();
    for net in &nets {
        let t = Instant::now();
        action(net, json!({"add": {"serverRef": id}}));
        let (nic, mac) = nic_on(&api, id, net).expect("a NIC on the new network");
        let e = wait_diag(&api, id, &format!("NIC {mac} plugged."));
        println!("hot-plug: {mac} plugged after {:?}", t.elapsed());
        assert!(
            e["details"]
                .as_str()
                .is_some_and(|d| d.contains(&format!("virtio-net-pci mac {mac}"))),
            "{e}"
        );
        plugged.push((nic, mac));
    }
    assert_eq!(vm.pid(), Some(pid), "plugging needs no restart");

    // Disconnect: the guest releases the device (ACPI eject), QEMU deletes it.
    let (nic_a, mac_a) = plugged[0].clone();
    let t = Instant::now();
    action(&nets[0], json!({"remove": {"attachment": nic_a}}));
    assert!(nic_on(&api, id, &nets[0]).is_none());
    let e = wait_diag(&api, id, &format!("NIC {mac_a} unplugged."));
    println!("hot-plug: {mac_a} unplugged after {:?}", t.elapsed());
    assert!(
        e["details"].as_str().is_some_and(|d| d.contains("deleted")),
        "{e}"
    );
    assert_eq!(vm.pid(), Some(pid));

    // A NIC connected while the server is stopped waits for its next start.
    accepted(api.action(id, json!({"shutdown": {}})));
    wait_status(&api, id, "STOPPED");
    wait_gone(pid, Duration::from_secs(10));
    action(&nets[0], json!({"add": {"serverRef": id}}));
    let (_, mac_c) = nic_on(&api, id, &nets[0]).expect("a NIC on lan-a again");
    let e = wait_diag(
        &api,
        id,
        "The server's NICs changed; its next start has them.",
    );
    assert!(
        e["details"].as_str().is_some_and(|d| d.contains(&mac_c)),
        "{e}"
    );

    // The next boot has the server's NICs as they are now: b and c, not a.
    accepted(api.action(id, json!({"start": {}})));
    wait_status(&api, id, "ACTIVE");
    let pid = vm.pid().expect("a pid file");
    let args = cmdline(pid).join(" ");
    let mac_b = &plugged[1].1;
    assert!(args.contains(&format!("mac={mac_b}")), "{args}");
    assert!(args.contains(&format!("mac={mac_c}")), "{args}");
    assert!(!args.contains(&format!("mac={mac_a}")), "{args}");

    // A NIC connected while the server builds reaches it once the build is done (the
    // build's spec was made before the connect).
    let id2 = create(&api, &image, &flavor, "plug2");
    action(&nets[1], json!({"add": {"serverRef": id2}}));
    let (_, mac_d) = nic_on(&api, id2, &nets[1]).expect("a NIC on lan-b");
    wait_status(&api, id2, "ACTIVE");
    wait_diag(&api, id2, &format!("NIC {mac_d} plugged."));
    let vm2 = Vm::new(&g, id2);
    let pid2 = vm2.pid().expect("a pid file");

    // A floating IP attached through a port (kamaki's `ip attach`) is a NIC plugged in
    // too, and its detach (DELETE /ports) unplugs it.
    vm2.wait_serial(BANNER, 1);
    let r = api.send(
        reqwest::Method::POST,
        "/network/v2.0/floatingips",
        json!({"floatingip": {"floating_network_id": "public"}}),
    );
    assert_eq!(r.status(), 200);
    let fip = r.json::<Value>().unwrap()["floatingip"]["floating_ip_address"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api.send(
        reqwest::Method::POST,
        "/network/v2.0/ports",
        json!({"port": {"network_id": "public", "device_id": id2.to_string(),
            "fixed_ips": [{"ip_address": fip}]}}),
    );
    assert_eq!(r.status(), 201);
    let port = r.json::<Value>().unwrap()["port"].clone();
    let mac_f = port["mac_address"].as_str().unwrap().to_owned();
    wait_diag(&api, id2, &format!("NIC {mac_f} plugged."));
    let r = api.send(
        reqwest::Method::DELETE,
        &format!("/network/v2.0/ports/{}", port["id"].as_str().unwrap()),
        json!({}),
    );
    assert_eq!(r.status(), 204);
    wait_diag(&api, id2, &format!("NIC {mac_f} unplugged."));
    assert_eq!(vm2.pid(), Some(pid2));

    for (server, pid) in [(id, pid), (id2, pid2)] {
        let r = api.send(
            reqwest::Method::DELETE,
            &format!("/compute/v2.0/servers/{server}"),
            json!({}),
        );
        assert_eq!(r.status(), 204);
        wait_gone(pid, Duration::from_secs(30));
    }
    let (status, _) = g.stop();
    assert!(status.success());
}

/// The IPv6 link-local address a NIC with this MAC takes (EUI-64), as ping6 prints it.
fn link_local(mac: &str) -> String {
    let b: Vec<u16> = mac
        .split(':')
        .map(|x| u16::from_str_radix(x, 16).unwrap())
        .collect();
    std::net::Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        ((b[0] ^ 2) << 8) | b[1],
        (b[2] << 8) | 0xff,
        0xfe00 | b[3],
        (b[4] << 8) | b[5],
    )
    .to_string()
}

/// The addresses whose echo replies the guest's ping6 on NIC `mac` printed.
fn repliers(vm: &Vm, mac: &str) -> Vec<String> {
    repliers_since(vm, mac, 0)
}

/// Likewise, in what the serial console got after its first `from` bytes.
fn repliers_since(vm: &Vm, mac: &str, from: usize) -> Vec<String> {
    let prefix = format!("ping6 {}: ", mac.to_ascii_lowercase());
    let serial = vm.serial();
    let mut out: Vec<String> = serial
        .get(from..)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix(&prefix))
        .filter_map(|l| l.split_once(" bytes from ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once(": ").map(|(addr, _)| addr.to_owned()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The two rates a bar graph of the server's stats shows, in its unit: received and sent
/// (`netBar`), or read and written (`diskBar`).
fn bar_rates(api: &Api, id: i64, graph: &str) -> (f64, f64) {
    let stats = api.json(&format!("/compute/v2.0/servers/{id}/stats"));
    let url = stats["stats"][graph].as_str().unwrap();
    let svg = reqwest::blocking::get(url).unwrap().text().unwrap();
    let mut reader = quick_xml::Reader::from_str(&svg);
    let mut values = Vec::new();
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Text(t)) => {
                let t = t.unescape().unwrap().trim().to_owned();
                // A bar's value: "12.5 KiB/s" (the axis says "rate (KiB/s)").
                if let Some((n, unit)) = t.split_once(' ')
                    && unit.ends_with("B/s")
                    && let Ok(v) = n.parse::<f64>()
                {
                    values.push(v);
                }
            }
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("malformed SVG ({e}): {svg}"),
        }
    }
    assert_eq!(values.len(), 2, "two bars' values in {svg}");
    (values[0], values[1])
}

#[test]
fn guests_reach_their_networks_only_and_their_traffic_is_sampled() {
    prepare();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let _reaper = Reaper(dir.to_path_buf());
    let g = Gateway::start_in(dir, qemu_options()).unwrap();
    let token = g.admin_token();
    let flavor = tiny_flavor(&g);
    let image = register_guest(&g, &token, "pinger", "guest.ping6 guest.diskload");
    let api = Api {
        g: &g,
        token: token.clone(),
    };
    let [lan_a, lan_b] = ["lan-a", "lan-b"].map(|name| network(&api, name));
    // a and b on lan-a, c on lan-b; every server also has its NIC on the public network.
    // b and c first: a pings their IPv4 addresses (a personality file lists them), which
    // the guests take from their config drives' network_data.json.
    let make = |name: &str, net: &str, personality: Value| {
        let r = api.send(
            reqwest::Method::POST,
            "/compute/v2.0/servers",
            json!({"server": {"name": name, "imageRef": image, "flavorRef": flavor,
                "networks": [{"uuid": net}], "personality": personality}}),
        );
        assert_eq!(r.status(), 202);
        r.json::<Value>().unwrap()["server"]["id"].as_i64().unwrap()
    };
    let id_b = make("b", &lan_a, json!([]));
    let id_c = make("c", &lan_b, json!([]));
    let ipv4_on = |id: i64, net: &str| {
        let a = attachment_on(&api, id, net);
        a.as_ref()
            .and_then(|a| a["ipv4"].as_str())
            .filter(|ip| !ip.is_empty())
            .unwrap_or_else(|| panic!("no IPv4 address on {net}: {a:?}"))
            .to_owned()
    };
    let (ip_b, ip_c_public) = (ipv4_on(id_b, &lan_a), ipv4_on(id_c, "public"));
    use base64::Engine;
    let targets =
        base64::engine::general_purpose::STANDARD.encode(format!("{ip_b} {ip_c_public}\n"));
    let id_a = make(
        "a",
        &lan_a,
        json!([{"path": "/etc/cyclades-ping", "contents": targets}]),
    );
    let ids = [id_a, id_b, id_c];
    for id in ids {
        wait_status(&api, id, "ACTIVE");
    }
    let [a, b, c] = ids.map(|id| Vm::new(&g, id));
    let [(_, mac_a), (_, mac_b), (_, mac_c)] =
        [(ids[0], &lan_a), (ids[1], &lan_a), (ids[2], &lan_b)]
            .map(|(id, net)| nic_on(&api, id, net).expect("a NIC on its private network"));
    let [pub_a, pub_c] =
        [ids[0], ids[2]].map(|id| nic_on(&api, id, "public").expect("a public NIC").1);
    let deadline = Instant::now() + BOOT_LIMIT;
    let t0 = Instant::now();
    // a and b answer each other's echo requests on lan-a; a and c on the public network.
    let heard = |vm: &Vm, mac: &str, other: &str| repliers(vm, mac).contains(&link_local(other));
    while !(heard(&a, &mac_a, &mac_b) && heard(&b, &mac_b, &mac_a) && heard(&a, &pub_a, &pub_c)) {
        assert!(
            Instant::now() < deadline,
            "the guests never heard each other; a:\n{}\nb:\n{}",
            a.serial(),
            b.serial()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "network: lan-a's guests heard each other after {:?}",
        t0.elapsed()
    );
    // c pings on lan-b too, and hears the others on the public network, but nobody on
    // lan-b: no frame crosses from lan-a.
    let pinging = format!("ping6 {}: PING ff02::1", mac_c.to_ascii_lowercase());
    while !(c.serial().contains(&pinging) && heard(&c, &pub_c, &pub_a)) {
        assert!(
            Instant::now() < deadline,
            "c's ping6 never ran or never heard a; c:\n{}",
            c.serial()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // IPv4 too, at the addresses the API shows: b's on lan-a, c's on the public network.
    let answered = |ip: &str| {
        a.serial().lines().any(|l| {
            l.trim()
                .starts_with(&format!("ping {ip}: 64 bytes from {ip}:"))
        })
    };
    while !(answered(&ip_b) && answered(&ip_c_public)) {
        assert!(
            Instant::now() < deadline,
            "a never had IPv4 echo replies from {ip_b} and {ip_c_public}; a:\n{}",
            a.serial()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A few more rounds for a frame to leak, if it would.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(repliers(&c, &mac_c), Vec::<String>::new(), "{}", c.serial());
    for (vm, mac) in [(&a, &mac_a), (&b, &mac_b)] {
        let heard = repliers(vm, mac);
        assert!(!heard.contains(&link_local(&mac_c)), "{heard:?}");
        assert!(!heard.contains(&link_local(&pub_c)), "{heard:?}");
    }

    // The traffic is in the server's samples (bars of the last second): what its NICs
    // sent and received through the switch, what it read from and wrote to its disk.
    for graph in ["netBar", "diskBar"] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (a_in, a_out) = bar_rates(&api, ids[0], graph);
            if a_in > 0.0 && a_out > 0.0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no traffic in a's {graph}: {a_in} {a_out}; {}",
                a.serial()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    // A gateway killed with SIGKILL drops the switch; its successor makes the ports again
    // at the paths QEMU sends to, and lan-a carries a's and b's frames again.
    let killed = Command::new("kill")
        .args(["-KILL", &g.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    drop(g);
    std::thread::sleep(Duration::from_millis(300));
    let from = a.serial().len();
    let g = Gateway::start_in(dir, qemu_options()).unwrap();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(60);
    while !repliers_since(&a, &mac_a, from).contains(&link_local(&mac_b)) {
        assert!(
            Instant::now() < deadline,
            "after the restart a never heard b again; a:\n{}",
            a.serial()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "network: lan-a carried frames again {:?} after the restart",
        t0.elapsed()
    );
    let (status, _) = g.stop();
    assert!(status.success());
}
