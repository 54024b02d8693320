//! What a server's QEMU is started with, and where its files are: pure, so that the
//! argument list is unit-tested without QEMU.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What the driver keeps of a server between boots and across gateway restarts, in the
/// server's `vm.json`: everything a start needs (the build's spec is gone by then).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmFile {
    pub id: i64,
    pub name: String,
    pub vcpus: u32,
    pub ram_mib: u64,
    pub macs: Vec<String>,
    /// The network of each NIC, by MAC (lower case): the switch port the NIC gets. Absent
    /// from the files of earlier versions, whose NICs then reach nothing.
    #[serde(default)]
    pub networks: BTreeMap<String, String>,
    /// `-kernel`/`-initrd`/`-append`, from the image's `kernel_id`/`ramdisk_id`/
    /// `os_command_line`; without a kernel the disk boots through the BIOS.
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    pub cmdline: Option<String>,
    /// A config drive (`config.img`) is attached as the second disk.
    pub config_drive: bool,
}

/// The files of one server, all in its own directory under the driver's.
#[derive(Debug, Clone)]
pub struct VmPaths {
    pub dir: PathBuf,
}

impl VmPaths {
    pub fn new(root: &Path, id: i64) -> VmPaths {
        VmPaths {
            dir: root.join(id.to_string()),
        }
    }
    pub fn file(&self) -> PathBuf {
        self.dir.join("vm.json")
    }
    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk.qcow2")
    }
    pub fn config_drive(&self) -> PathBuf {
        self.dir.join("config.img")
    }
    pub fn qmp(&self) -> PathBuf {
        self.dir.join("qmp.sock")
    }
    pub fn vnc(&self) -> PathBuf {
        self.dir.join("vnc.sock")
    }
    pub fn serial_log(&self) -> PathBuf {
        self.dir.join("serial.log")
    }
    pub fn qemu_log(&self) -> PathBuf {
        self.dir.join("qemu.log")
    }
    pub fn pid(&self) -> PathBuf {
        self.dir.join("qemu.pid")
    }
    /// The NIC's socket in QEMU (`-netdev dgram`'s `local`): where the switch sends the
    /// guest's frames.
    pub fn nic_vm(&self, ids: &NicIds) -> PathBuf {
        self.dir.join(format!("{}.vm", ids.netdev))
    }
    /// The switch's socket for the NIC (`remote`): where QEMU sends the guest's frames.
    pub fn nic_gw(&self, ids: &NicIds) -> PathBuf {
        self.dir.join(format!("{}.gw", ids.netdev))
    }
}

/// The kernel command line when an image with a kernel gives none: both consoles, so that
/// the banner reaches the serial log and the VNC screen, and no IO-APIC timer check (under
/// TCG on a busy host it fails and panics the kernel).
pub const DEFAULT_CMDLINE: &str = "console=tty0 console=ttyS0 no_timer_check";

/// Every NIC's device model: a PCI device, which the `pc` (i440fx) machine's ACPI PCI
/// hot-plug takes and gives back while the guest runs.
pub const NIC_MODEL: &str = "virtio-net-pci";
/// Every NIC's netdev kind: a unix datagram socket pair with the gateway's switch
/// ([`super::switch`]), one Ethernet frame per datagram.
pub const NETDEV_KIND: &str = "dgram";

/// The QEMU names of one NIC, derived from its MAC address alone: the same at boot and
/// when plugged in later, and stable across the NIC list's changes (an index would shift).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicIds {
    pub netdev: String,
    pub device: String,
}

impl NicIds {
    pub fn of(mac: &str) -> NicIds {
        let hex: String = mac
            .chars()
            .filter(char::is_ascii_hexdigit)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        NicIds {
            netdev: format!("net-{hex}"),
            device: format!("nic-{hex}"),
        }
    }
}

/// What changes in a running machine when its NIC list goes from `old` to `new`: the MACs
/// to unplug and the MACs to plug, each in list order. MACs compare without case.
pub fn nic_diff(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>) {
    let has = |list: &[String], mac: &String| list.iter().any(|m| m.eq_ignore_ascii_case(mac));
    let unplug = old.iter().filter(|m| !has(new, m)).cloned().collect();
    let plug = new.iter().filter(|m| !has(old, m)).cloned().collect();
    (unplug, plug)
}

/// QEMU's arguments for one server.
pub fn args(vm: &VmFile, paths: &VmPaths, kvm: bool) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |s: &str| a.push(s.into());
    push("-name");
    push(&format!("cyclades-{},process=cyclades-{}", vm.id, vm.id));
    // No default devices (QEMU's default NIC makes iPXE try DHCP for seconds, and a default
    // CD-ROM and floppy would be the guest's): every device is given below.
    push("-nodefaults");
    push("-machine");
    push("pc");
    push("-accel");
    push(if kvm { "kvm" } else { "tcg" });
    push("-m");
    push(&vm.ram_mib.to_string());
    push("-smp");
    push(&vm.vcpus.max(1).to_string());
    push("-vga");
    push("std");
    push("-display");
    push("none");
    // No VNC password: the console proxy authenticates viewers itself.
    push("-vnc");
    push(&format!("unix:{}", paths.vnc().display()));
    push("-qmp");
    push(&format!(
        "unix:{},server=on,wait=off",
        paths.qmp().display()
    ));
    push("-chardev");
    push(&format!(
        "file,id=serial0,path={},append=on",
        paths.serial_log().display()
    ));
    push("-serial");
    push("chardev:serial0");
    push("-pidfile");
    push(&paths.pid().display().to_string());
    // A guest power-off leaves the process (status `shutdown`): a soft reboot resets and
    // continues it, anything else quits it.
    push("-no-shutdown");
    push("-drive");
    push(&format!(
        "file={},format=qcow2,if=virtio,index=0",
        paths.disk().display()
    ));
    if vm.config_drive {
        push("-drive");
        push(&format!(
            "file={},format=raw,if=virtio,index=1,readonly=on",
            paths.config_drive().display()
        ));
    }
    for mac in &vm.macs {
        // A datagram socket pair with the gateway's switch, which carries the frames to
        // the other NICs of the network and nowhere else (no host network). `romfile=`
        // keeps iPXE out of the boot. The ids come from the MAC, so that a NIC plugged in
        // later (over QMP, see [`NicIds`]) is named alike and can be unplugged whichever
        // way it came.
        let ids = NicIds::of(mac);
        push("-netdev");
        push(&format!(
            "{NETDEV_KIND},id={},local.type=unix,local.path={},remote.type=unix,remote.path={}",
            ids.netdev,
            paths.nic_vm(&ids).display(),
            paths.nic_gw(&ids).display()
        ));
        push("-device");
        push(&format!(
            "{NIC_MODEL},netdev={},id={},mac={mac},romfile=",
            ids.netdev, ids.device
        ));
    }
    match &vm.kernel {
        Some(kernel) => {
            push("-kernel");
            push(&kernel.display().to_string());
            if let Some(initrd) = &vm.initrd {
                push("-initrd");
                push(&initrd.display().to_string());
            }
            push("-append");
            push(vm.cmdline.as_deref().unwrap_or(DEFAULT_CMDLINE));
        }
        None => {
            push("-boot");
            push("order=c");
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm() -> VmFile {
        VmFile {
            id: 7,
            name: "web".into(),
            vcpus: 2,
            ram_mib: 256,
            macs: vec!["aa:00:00:12:34:56".into(), "aa:00:00:12:34:57".into()],
            networks: BTreeMap::new(),
            kernel: Some("/img/k".into()),
            initrd: Some("/img/r".into()),
            cmdline: None,
            config_drive: true,
        }
    }

    fn joined(v: &VmFile, kvm: bool) -> String {
        let p = VmPaths::new(Path::new("/d"), v.id);
        args(v, &p, kvm)
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn flavor_nics_and_kernel_become_arguments() {
        let s = joined(&vm(), false);
        assert!(s.contains("-accel tcg"), "{s}");
        assert!(s.contains("-m 256 -smp 2"), "{s}");
        assert!(s.contains("-vnc unix:/d/7/vnc.sock"), "{s}");
        assert!(
            s.contains("-qmp unix:/d/7/qmp.sock,server=on,wait=off"),
            "{s}"
        );
        assert!(s.contains("mac=aa:00:00:12:34:56"), "{s}");
        assert!(
            s.contains(
                "-netdev dgram,id=net-aa0000123457,\
                 local.type=unix,local.path=/d/7/net-aa0000123457.vm,\
                 remote.type=unix,remote.path=/d/7/net-aa0000123457.gw \
                 -device virtio-net-pci,netdev=net-aa0000123457,id=nic-aa0000123457,mac=aa:00:00:12:34:57,romfile="
            ),
            "{s}"
        );
        assert!(
            s.contains("-kernel /img/k -initrd /img/r -append console=tty0 console=ttyS0"),
            "{s}"
        );
        assert!(s.contains("file=/d/7/config.img,format=raw,if=virtio,index=1,readonly=on"));
        assert!(!s.contains("-boot"), "{s}");
    }

    #[test]
    fn a_whole_disk_image_boots_from_its_disk_and_kvm_is_a_switch() {
        let mut v = vm();
        v.kernel = None;
        v.config_drive = false;
        v.macs.clear();
        let s = joined(&v, true);
        assert!(s.contains("-accel kvm"), "{s}");
        assert!(s.contains("-boot order=c"), "{s}");
        assert!(!s.contains("-kernel") && !s.contains("config.img") && !s.contains("-netdev"));
    }

    #[test]
    fn nic_names_come_from_the_mac() {
        let a = NicIds::of("AA:00:00:12:34:56");
        assert_eq!(a.netdev, "net-aa0000123456");
        assert_eq!(a.device, "nic-aa0000123456");
        assert_ne!(NicIds::of("aa:00:00:12:34:57").netdev, a.netdev);
        let p = VmPaths::new(Path::new("/d"), 7);
        assert_eq!(p.nic_vm(&a), Path::new("/d/7/net-aa0000123456.vm"));
        assert_eq!(p.nic_gw(&a), Path::new("/d/7/net-aa0000123456.gw"));
    }

    #[test]
    fn files_of_earlier_versions_have_no_networks() {
        let mut v = serde_json::to_value(vm()).unwrap();
        v.as_object_mut().unwrap().remove("networks");
        let back: VmFile = serde_json::from_value(v).unwrap();
        assert!(back.networks.is_empty());
        assert_eq!(back.macs, vm().macs);
    }

    #[test]
    fn the_nic_diff_names_what_to_unplug_and_plug() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let old = l(&["aa:00:00:00:00:01", "aa:00:00:00:00:02"]);
        assert_eq!(
            nic_diff(&old, &l(&["aa:00:00:00:00:02", "aa:00:00:00:00:03"])),
            (l(&["aa:00:00:00:00:01"]), l(&["aa:00:00:00:00:03"]))
        );
        assert_eq!(nic_diff(&old, &old), (vec![], vec![]));
        assert_eq!(
            nic_diff(&old, &l(&["AA:00:00:00:00:01", "aa:00:00:00:00:02"])),
            (vec![], vec![])
        );
        assert_eq!(nic_diff(&[], &old), (vec![], old.clone()));
        assert_eq!(nic_diff(&old, &[]), (old.clone(), vec![]));
    }
}
