#!/usr/bin/env bash
# Verify ringlog's kernel TLS (kTLS) path on a kernel that has it, under qemu. Developer-run, not
# CI: the development VMs' kernel has no kTLS (tcp_available_ulp lists only mptcp), so the
# broker's kTLS tests skip there; this boots Debian's stock kernel (CONFIG_TLS=m) with the
# project's release binaries in a throw-away initramfs and runs them inside:
#   1. insmod tls.ko and the kernel's GCM and ChaCha20-Poly1305 modules (and what they depend
#      on), show tcp_available_ulp;
#   2. `ringlog probe`, which must report "kernel TLS (kTLS): available (...)";
#   3. the broker's kTLS unit tests (tls::ktls), whose round-trip test does a real handshake
#      over loopback TCP, hands the keys to the kernel (TLS_TX/TLS_RX) and exchanges bytes that
#      the kernel encrypts and decrypts, for AES-GCM-128/256, ChaCha20-Poly1305 and TLS 1.2;
#   4. the TLS wire tests (tests/tls.rs) against an in-process broker, both drivers: with kTLS
#      the broker hands every session to the kernel, and the SSL test checks that the Fetch bytes
#      went by the zero-copy paths (sendfile) rather than through user-space encryption.
#
# Needs (Debian/Ubuntu host, root or sudo for apt-get):
#   - qemu-system-x86_64           apt-get install qemu-system-x86
#   - busybox (static)             apt-get install busybox-static
#   - cpio, gzip, xz-utils, zstd, dpkg-deb, apt-get, depmod (kmod)
#   - network access to Debian's package archive (apt-get download of one linux-image package,
#     about 100 MB) and the Rust toolchain the project builds with.
# Time: the release builds (a few minutes on 2 cores, once), the kernel download (once, cached
# in $KTLS_QEMU_DIR), then the boot and tests: about 1 minute with KVM, 3-8 minutes under
# software emulation (TCG). The VM is stopped after 15 minutes whatever happens.
#
# Usage: scripts/ktls-qemu.sh            (from the repository root)
# Env:   KTLS_QEMU_DIR  work directory (default: target/ktls-qemu)
#        KERNEL_PKG     a specific linux-image package (default: what linux-image-amd64 names)
#        KTLS_QEMU_ACCEL    kvm or tcg (default: kvm where /dev/kvm is writable; inside a VM
#                       whose nested KVM hangs the guest after the BIOS, set tcg)
#        KTLS_QEMU_PROFILE  release (default) or dev: dev uses the debug builds, which a developer
#                       who just ran the tests already has (no release build of the test deps)
# Exit status 0 only when the probe said "available" and the tests passed inside the VM.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${KTLS_QEMU_DIR:-$ROOT/target/ktls-qemu}"
VM_TIMEOUT_SECS=900
VM_MEMORY_MB=2048

die() { echo "ktls-qemu: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "needs $1 ($2)"; }

need qemu-system-x86_64 "apt-get install qemu-system-x86"
need cpio "apt-get install cpio"
need dpkg-deb "a Debian-based host"
need apt-get "a Debian-based host"
# The initramfs has no C library for busybox: it must be the static build.
BUSYBOX=""
for candidate in /bin/busybox /usr/bin/busybox "$(command -v busybox || true)"; do
    # ldd fails on a static binary: under pipefail only grep's answer may count.
    if [ -x "$candidate" ] && { ldd "$candidate" 2>&1 || true; } | grep -q "not a dynamic"; then
        BUSYBOX="$candidate"
        break
    fi
done
[ -n "$BUSYBOX" ] || die "needs a statically linked busybox (apt-get install busybox-static)"

mkdir -p "$WORK"
cd "$ROOT"

PROFILE="${KTLS_QEMU_PROFILE:-release}"
case "$PROFILE" in
    release) CARGO_PROFILE=(--release); PROFILE_DIR=release ;;
    dev) CARGO_PROFILE=(); PROFILE_DIR=debug ;;
    *) die "KTLS_QEMU_PROFILE must be release or dev, not $PROFILE" ;;
esac
echo "== building $PROFILE binaries"
cargo build "${CARGO_PROFILE[@]}" --bin ringlog
RINGLOG_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE_DIR/ringlog"
TEST_BIN="$(cargo test "${CARGO_PROFILE[@]}" -p ringlog-broker --lib --no-run 2>&1 \
    | sed -n 's/.*Executable unittests src\/lib.rs (\(.*\))/\1/p' | tail -1)"
[ -n "$TEST_BIN" ] && [ -x "$TEST_BIN" ] || die "could not find the broker's unit-test binary"
TEST_BIN="$(realpath "$TEST_BIN")"
WIRE_BIN="$(cargo test "${CARGO_PROFILE[@]}" --test tls --no-run 2>&1 \
    | sed -n 's/.*Executable tests\/tls.rs (\(.*\))/\1/p' | tail -1)"
[ -n "$WIRE_BIN" ] && [ -x "$WIRE_BIN" ] || die "could not find the TLS wire-test binary"
WIRE_BIN="$(realpath "$WIRE_BIN")"

echo "== fetching a Debian kernel"
cd "$WORK"
if [ -z "${KERNEL_PKG:-}" ]; then
    KERNEL_PKG="$(apt-cache depends linux-image-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1)"
    [ -n "$KERNEL_PKG" ] || die "apt-cache knows no linux-image-amd64 (run apt-get update, or set KERNEL_PKG)"
fi
if ! ls "$WORK"/"$KERNEL_PKG"_*.deb >/dev/null 2>&1; then
    apt-get download "$KERNEL_PKG"
fi
DEB="$(ls "$WORK"/"$KERNEL_PKG"_*.deb | head -1)"
rm -rf "$WORK/kernel" && mkdir -p "$WORK/kernel"
dpkg-deb -x "$DEB" "$WORK/kernel"
VMLINUZ="$(ls "$WORK"/kernel/boot/vmlinuz-* | head -1)"
KVER="${VMLINUZ##*/vmlinuz-}"
MODDIR="$WORK/kernel/lib/modules/$KVER"
[ -d "$MODDIR" ] || MODDIR="$WORK/kernel/usr/lib/modules/$KVER"
# The package ships no modules.dep (its postinst runs depmod): make it.
if [ ! -f "$MODDIR/modules.dep" ]; then
    need depmod "apt-get install kmod"
    depmod -b "$WORK/kernel" "$KVER" 2>/dev/null || depmod -b "$WORK/kernel/usr" "$KVER"
fi
[ -f "$MODDIR/modules.dep" ] || die "no modules.dep for $KVER in $DEB (depmod made none)"
grep -q '^CONFIG_TLS=[my]' "$WORK"/kernel/boot/config-"$KVER" \
    || die "$KERNEL_PKG was built without CONFIG_TLS"

echo "== building the initramfs (kernel $KVER)"
INITRD_DIR="$WORK/initramfs"
rm -rf "$INITRD_DIR"
mkdir -p "$INITRD_DIR"/{bin,dev,proc,sys,tmp,modules}
cp "$BUSYBOX" "$INITRD_DIR/bin/busybox"
for applet in sh mount insmod cat ip poweroff echo tail grep; do
    ln -s busybox "$INITRD_DIR/bin/$applet"
done

# tls.ko, the AEAD modules, and their dependencies, in load order (dependencies first),
# decompressed (busybox insmod takes plain .ko files). Built-in ones are not in modules.dep.
modules_in_order() {
    local mod="$1" line dep
    line="$(grep -E "^(kernel/)?(.*/)?${mod}(\.ko(\.xz|\.zst|\.gz)?):" "$MODDIR/modules.dep" | head -1)"
    [ -n "$line" ] || return 0
    for dep in ${line#*:}; do
        modules_in_order "$(basename "$dep" | sed -E 's/\.ko(\.xz|\.zst|\.gz)?$//')"
    done
    echo "${line%%:*}"
}
if grep -q '^CONFIG_TLS=m' "$WORK"/kernel/boot/config-"$KVER"; then
    n=0
    # tls.ko, and the crypto templates its ciphers need: the kernel would request_module them
    # through modprobe, which the initramfs does not have (without them TLS_TX fails, ENOENT).
    for rel in $(for m in tls ghash-generic ctr gcm chacha_generic poly1305_generic chacha20poly1305; do
        modules_in_order "$m"
    done | awk '!seen[$0]++'); do
        src="$MODDIR/$rel"
        n=$((n + 1))
        dst="$INITRD_DIR/modules/$(printf '%02d' "$n")-$(basename "$rel" | sed -E 's/\.(xz|zst|gz)$//')"
        case "$src" in
            *.xz) xz -dc "$src" >"$dst" ;;
            *.zst) zstd -dcq "$src" >"$dst" ;;
            *.gz) gzip -dc "$src" >"$dst" ;;
            *) cp "$src" "$dst" ;;
        esac
    done
    [ "$n" -gt 0 ] || die "tls module not found in $MODDIR/modules.dep"
fi

# The two binaries and the shared libraries they load.
cp "$RINGLOG_BIN" "$INITRD_DIR/ringlog"
cp "$TEST_BIN" "$INITRD_DIR/broker-tests"
cp "$WIRE_BIN" "$INITRD_DIR/tls-wire-tests"
for bin in "$INITRD_DIR/ringlog" "$INITRD_DIR/broker-tests" "$INITRD_DIR/tls-wire-tests"; do
    # The initramfs lives in the VM's memory: debug info would fill it (hundreds of MB).
    if command -v strip >/dev/null 2>&1; then strip --strip-debug "$bin"; fi
    ldd "$bin" | grep -oE '/[^ ]+' | while read -r lib; do
        mkdir -p "$INITRD_DIR$(dirname "$lib")"
        cp -L "$lib" "$INITRD_DIR$lib"
    done
done

cat >"$INITRD_DIR/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
ip link set lo up
for m in /modules/*.ko; do
    [ -e "$m" ] && insmod "$m" && echo "loaded $m"
done
echo "tcp_available_ulp: $(cat /proc/sys/net/ipv4/tcp_available_ulp)"
/ringlog probe | tail -1
/ringlog probe | tail -1 | grep -q '^kernel TLS (kTLS): available' && echo "KTLS-QEMU-PROBE: available"
cd /tmp
TMPDIR=/tmp /broker-tests --test-threads=1 --nocapture tls::
echo "KTLS-QEMU-TESTS: $?"
TMPDIR=/tmp /tls-wire-tests --test-threads=1 --nocapture
echo "KTLS-QEMU-WIRE: $?"
poweroff -f
INIT
chmod +x "$INITRD_DIR/init"
(cd "$INITRD_DIR" && find . | cpio -o -H newc --quiet | gzip -1) >"$WORK/initrd.gz"

echo "== booting (log: $WORK/vm.log)"
ACCEL="${KTLS_QEMU_ACCEL:-}"
if [ -z "$ACCEL" ]; then
    ACCEL=tcg
    if [ -w /dev/kvm ]; then ACCEL=kvm; fi
fi
timeout "$VM_TIMEOUT_SECS" qemu-system-x86_64 \
    -accel "$ACCEL" -m "$VM_MEMORY_MB" -smp 2 \
    -kernel "$VMLINUZ" -initrd "$WORK/initrd.gz" \
    -append "console=ttyS0 panic=-1 rdinit=/init" \
    -nographic -no-reboot -nic none \
    | tee "$WORK/vm.log" || true

echo "== result"
ok=1
grep -q "KTLS-QEMU-PROBE: available" "$WORK/vm.log" || { echo "probe did not report kTLS available"; ok=0; }
grep -q "KTLS-QEMU-TESTS: 0" "$WORK/vm.log" || { echo "tls tests failed or did not run"; ok=0; }
grep -q "kTLS round trip ok" "$WORK/vm.log" || { echo "no kTLS round trip ran"; ok=0; }
grep -q "KTLS-QEMU-WIRE: 0" "$WORK/vm.log" || { echo "TLS wire tests failed or did not run"; ok=0; }
grep -q "kTLS available: Fetch bytes by path" "$WORK/vm.log" \
    || { echo "the broker's SSL test did not see kTLS"; ok=0; }
if [ "$ok" = 1 ]; then
    echo "kTLS verified on Debian kernel $KVER ($ACCEL)"
    exit 0
fi
exit 1
