#!/usr/bin/env bash
# Builds the cyclades tiny guest from Debian packages, and optionally registers it with a
# running gateway through the Image API.
#
#   guest/build.sh build                 builds into $GUEST_DIR (default target/guest), prints it
#   guest/build.sh register URL TOKEN    builds if needed, then registers three images:
#                                        kernel (aki), ramdisk (ari), and a bootable raw disk
#                                        image whose kernel_id/ramdisk_id properties point at them
#
# The guest: Debian's cloud kernel (linux-image-*-cloud-amd64) and busybox-static, fetched with
# `apt-get download` (nothing is installed on the host, nothing comes from outside the Debian
# archive), unpacked with dpkg-deb, and an initramfs whose /init is guest/init, packed with
# busybox cpio and gzip. Idempotent: a stamp keyed by the package versions and guest/init makes a
# second build return at once. Serialized with flock. Quiet unless something fails.
#
# Environment: GUEST_DIR overrides the output dir; GUEST_NAME the bootable image's name;
# GUEST_CMDLINE extra kernel arguments baked into the bootable image (os_command_line).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${GUEST_DIR:-$root/target/guest}"

die() {
    echo "guest/build.sh: error: $*" >&2
    exit 1
}

log="$(mktemp "${TMPDIR:-/tmp}/guest-build.XXXXXX")"
trap 'rm -f "$log"' EXIT
run() {
    local what="$1"
    shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        die "$what failed: $*"
    fi
}

# The kernel package the cloud meta-package of the default release points at (bookworm's 6.1,
# whatever backports carries).
kernel_package() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n 1
}

build() {
    command -v apt-get >/dev/null || die "apt-get is needed to download the Debian packages"
    command -v dpkg-deb >/dev/null || die "dpkg-deb is needed to unpack the Debian packages"
    mkdir -p "$out"
    exec 8>"$out/.lock"
    flock 8
    local kpkg
    kpkg="$(kernel_package)"
    if [[ -z "$kpkg" ]]; then
        # Package lists not fetched yet on a fresh machine.
        run "apt-get update" apt-get update -q
        kpkg="$(kernel_package)"
    fi
    [[ -n "$kpkg" ]] || die "no linux-image-*-cloud-amd64 package is known to apt"
    local kver bver tag
    kver="$(apt-cache policy "$kpkg" | sed -n 's/^ *Candidate: //p')"
    bver="$(apt-cache policy busybox-static | sed -n 's/^ *Candidate: //p')"
    tag="$kpkg=$kver busybox-static=$bver init=$(sha256sum "$here/init" | cut -c1-16) v2"
    if [[ -f "$out/stamp" && "$(cat "$out/stamp")" == "$tag" && -f "$out/vmlinuz" &&
        -f "$out/initramfs.cpio.gz" && -f "$out/disk.raw" ]]; then
        return 0
    fi
    rm -f "$out/stamp"
    local work="$out/work"
    rm -rf "$work"
    mkdir -p "$work/debs" "$work/pkg" "$work/initramfs"
    # apt-get download writes into the current directory, as the _apt user when it can.
    chmod 777 "$work/debs"
    (cd "$work/debs" && run "apt-get download $kpkg busybox-static" apt-get download -q "$kpkg" busybox-static)
    for deb in "$work"/debs/*.deb; do
        run "unpacking $deb" dpkg-deb -x "$deb" "$work/pkg"
    done
    local vmlinuz busybox kmods
    vmlinuz="$(ls "$work"/pkg/boot/vmlinuz-* | head -n 1)"
    busybox="$work/pkg/bin/busybox"
    [[ -f "$vmlinuz" ]] || die "$kpkg has no /boot/vmlinuz-*"
    [[ -x "$busybox" ]] || die "busybox-static has no /bin/busybox"
    kmods="$(ls -d "$work"/pkg/lib/modules/*/kernel | head -n 1)"

    local r="$work/initramfs"
    mkdir -p "$r"/{bin,sbin,etc/acpi/PWRF,proc,sys,dev,tmp,mnt,root,lib/modules}
    cp "$busybox" "$r/bin/busybox"
    # Applets as symlinks, made from the host side so that no emulation is needed.
    for applet in $("$busybox" --list); do
        [[ "$applet" == busybox ]] || ln -sf busybox "$r/bin/$applet"
    done
    for m in virtio/virtio_ring virtio/virtio virtio/virtio_pci_modern_dev \
        virtio/virtio_pci_legacy_dev virtio/virtio_pci block/virtio_blk net/failover \
        net/net_failover net/virtio_net acpi/button input/evdev; do
        local f
        f="$(ls "$kmods/drivers/$m.ko"* 2>/dev/null | head -n 1 || true)"
        [[ -n "$f" ]] || f="$(find "$kmods" -name "$(basename "$m").ko*" | head -n 1)"
        [[ -n "$f" ]] || die "$kpkg has no module $m"
        cp "$f" "$r/lib/modules/"
    done
    for m in fat vfat nls_cp437 nls_ascii nls_iso8859-1; do
        local f
        f="$(find "$kmods/fs" -name "$m.ko*" | head -n 1)"
        [[ -n "$f" ]] && cp "$f" "$r/lib/modules/"
    done
    cp "$here/init" "$r/init"
    chmod 755 "$r/init"
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
    printf 'root::19000:0:99999:7:::\n' >"$r/etc/shadow"
    printf 'root:x:0:\n' >"$r/etc/group"
    # busybox acpid: the power button (event PWRF) runs /etc/acpi/PWRF/00000080. The gateway
    # presses it again while the guest is not off: the first press powers off, later ones
    # find the directory made and do nothing.
    printf 'PWRF PWRF/00000080\n' >"$r/etc/acpid.conf"
    printf '#!/bin/sh\nmkdir /tmp/.powering-off 2>/dev/null || exit 0\necho "cyclades-guest: power button: powering off" >/dev/console\npoweroff -f\n' \
        >"$r/etc/acpi/PWRF/00000080"
    chmod 755 "$r/etc/acpi/PWRF/00000080"
    (cd "$r" && find . | "$busybox" cpio -o -H newc 2>/dev/null | gzip -9 >"$out/initramfs.cpio.gz.new")
    mv "$out/initramfs.cpio.gz.new" "$out/initramfs.cpio.gz"
    cp "$vmlinuz" "$out/vmlinuz"
    # The bootable image's own disk: empty (the guest lives in its initramfs); each server
    # gets a qcow2 overlay over it, sized to its flavor.
    rm -f "$out/disk.raw"
    truncate -s 16M "$out/disk.raw"
    rm -rf "$work"
    echo "$tag" >"$out/stamp"
}

# POST /v2/images with a JSON body, then PUT its file; prints the new image's id.
upload() {
    local url="$1" token="$2" body="$3" file="$4"
    local created id
    created="$(curl -sS --fail-with-body -X POST "$url/image/v2/images" -H "X-Auth-Token: $token" \
        -H 'Content-Type: application/json' -d "$body")" || die "creating an image failed: $created"
    id="$(printf '%s' "$created" | sed -n 's/.*"id" *: *"\([0-9a-f-]*\)".*/\1/p' | head -n 1)"
    [[ -n "$id" ]] || die "the gateway's answer has no image id: $created"
    curl -sS --fail-with-body -X PUT "$url/image/v2/images/$id/file" -H "X-Auth-Token: $token" \
        -H 'Content-Type: application/octet-stream' --data-binary "@$file" >"$log" 2>&1 ||
        die "uploading $file failed: $(cat "$log")"
    echo "$id"
}

case "${1:-}" in
build)
    build
    echo "$out"
    ;;
register)
    [[ $# -eq 3 ]] || die "usage: guest/build.sh register URL TOKEN"
    command -v curl >/dev/null || die "curl is needed to register the guest"
    url="${2%/}"
    token="$3"
    build
    name="${GUEST_NAME:-cyclades-tiny-guest}"
    kernel="$(upload "$url" "$token" "{\"name\": \"$name-kernel\", \"disk_format\": \"aki\", \"container_format\": \"aki\"}" "$out/vmlinuz")"
    ramdisk="$(upload "$url" "$token" "{\"name\": \"$name-ramdisk\", \"disk_format\": \"ari\", \"container_format\": \"ari\"}" "$out/initramfs.cpio.gz")"
# no_timer_check: on a busy host a TCG guest's IO-APIC timer check can fail and panic the
# kernel ("IO-APIC + timer doesn't work!").
    cmdline="console=tty0 console=ttyS0 quiet no_timer_check${GUEST_CMDLINE:+ $GUEST_CMDLINE}"
    image="$(upload "$url" "$token" "{\"name\": \"$name\", \"disk_format\": \"raw\", \"container_format\": \"bare\", \"kernel_id\": \"$kernel\", \"ramdisk_id\": \"$ramdisk\", \"os_command_line\": \"$cmdline\", \"os\": \"linux\", \"users\": \"root\"}" "$out/disk.raw")"
    echo "kernel $kernel"
    echo "ramdisk $ramdisk"
    echo "image $image"
    ;;
*)
    die "usage: guest/build.sh build | guest/build.sh register URL TOKEN"
    ;;
esac
