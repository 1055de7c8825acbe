#!/usr/bin/env bash
# Builds Sol's Debian packages with cargo-deb and checks what is inside them.
#
#   cross/deb/ci.sh          arm64 .deb from aarch64-unknown-linux-musl (stable Rust, Debian's
#                            gcc-aarch64-linux-gnu as linker): about 2 minutes once cargo-deb is there
#   cross/deb/ci.sh --all    also the armhf .deb from the ARMv6 build arm-unknown-linux-musleabihf
#                            (runs on every Pi, Zero/1 included): nightly + -Zbuild-std + cargo-zigbuild,
#                            several minutes more, so CI runs it only on request
#
# Installs what it needs (apt packages, the rustup target, a pinned cargo-deb; for --all the
# nightly rust-src and ziglang + cargo-zigbuild in a venv). Needs systemd/sol.service,
# sol.sysusers, sol.tmpfiles and sol.conf. The packages land in $SOL_DEB_OUT (default:
# target/debian under the cargo target dir); each check prints `ok`/`FAIL`, the last line is
# `N passed, N failed`, and the exit status is non-zero if any check failed.
set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO_DEB_VERSION=3.8.0
PROFILE=release-z
ARM64_TARGET=aarch64-unknown-linux-musl
ARMHF_TARGET=arm-unknown-linux-musleabihf

all=false
case "${1:-}" in
'') ;;
--all) all=true ;;
*)
    echo "usage: $0 [--all]" >&2
    exit 2
    ;;
esac

step() { printf '\n=== %s ===\n' "$*"; }

passed=0
failed=0
ok() {
    passed=$((passed + 1))
    printf 'ok   %s\n' "$*"
}
fail() {
    failed=$((failed + 1))
    printf 'FAIL %s\n' "$*"
}
# check DESCRIPTION COMMAND...: one assertion.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
matches() { [[ $1 =~ $2 ]]; }
# line_of PATTERN FILE: number of the first line with PATTERN outside a comment (0 if none).
line_of() { grep -n -m1 -e "^[^#]*$1" "$2" | cut -d: -f1 | grep . || echo 0; }
# in_order FILE PATTERN...: each PATTERN first matches after the previous one.
in_order() {
    local file=$1 prev=0 n
    shift
    for p in "$@"; do
        n=$(line_of "$p" "$file")
        [ "$n" -gt "$prev" ] || return 1
        prev=$n
    done
}
# postrm_purges_state POSTRM: the packaged postrm, run with DPKG_ROOT pointing at a scratch
# root and stubs for the systemd tools it calls, removes var/lib/sol (the store) on purge,
# also when it is already gone, and keeps it for every other postrm argument.
postrm_purges_state() {
    local postrm=$1 root arg tool rc=0
    root=$(mktemp -d)
    mkdir -p "$root/stubs" "$root/var/lib/sol"
    : >"$root/var/lib/sol/sol.db"
    for tool in systemctl deb-systemd-helper deb-systemd-invoke; do
        printf '#!/bin/sh\nexit 0\n' >"$root/stubs/$tool"
        chmod 755 "$root/stubs/$tool"
    done
    run_postrm() { DPKG_ROOT=$root PATH="$root/stubs:$PATH" sh "$postrm" "$1" >/dev/null; }
    for arg in remove upgrade failed-upgrade abort-install abort-upgrade disappear; do
        run_postrm "$arg" || { echo "postrm $arg failed"; rc=1; }
        [ -f "$root/var/lib/sol/sol.db" ] || { echo "postrm $arg removed var/lib/sol"; rc=1; }
    done
    run_postrm purge || { echo "postrm purge failed"; rc=1; }
    [ ! -e "$root/var/lib/sol" ] || { echo "postrm purge left var/lib/sol"; rc=1; }
    run_postrm purge || { echo "postrm purge failed without var/lib/sol"; rc=1; }
    rm -rf "$root"
    return "$rc"
}
# prints_version SOL QEMU...: the binary, run under QEMU, prints `sol VERSION`.
prints_version() {
    local sol=$1
    shift
    [ "$("$@" "$sol" --version)" = "sol $version" ]
}

step "deb: install build dependencies"
for f in systemd/sol.service systemd/sol.sysusers systemd/sol.tmpfiles systemd/sol.conf; do
    [ -f "$f" ] || {
        echo "missing $f: the package ships it" >&2
        exit 1
    }
done
need_apt=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need_apt+=(gcc-aarch64-linux-gnu)
command -v file >/dev/null 2>&1 || need_apt+=(file)
command -v qemu-aarch64-static >/dev/null 2>&1 || need_apt+=(qemu-user-static)
if $all; then
    command -v readelf >/dev/null 2>&1 || need_apt+=(binutils)
    python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
rustup target add "$ARM64_TARGET" >/dev/null
if [ "$(cargo deb --version 2>/dev/null || true)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    # cargo-deb 3.8 knows sysusers files and generates the systemd-sysusers postinst step
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --force
fi
cargo deb --version

# Linker for aarch64 musl: .cargo/config.toml has it once the cross-build work is merged.
if ! grep -qs '^\[target\.aarch64-unknown-linux-musl\]' .cargo/config.toml; then
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_musl=aarch64-linux-gnu-ar
fi

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
out=${SOL_DEB_OUT:-$target_dir/debian}
mkdir -p "$out"
version=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["packages"][0]["version"])')

# inspect_deb DEB ARCH FILE_REGEX QEMU...: the assertions on one package.
inspect_deb() {
    local deb=$1 arch=$2 file_re=$3
    shift 3
    local dir
    dir=$(mktemp -d)
    step "deb: inspect $(basename "$deb")"
    dpkg-deb --info "$deb"
    dpkg-deb --contents "$deb" | tee "$dir/contents"
    local contents=$dir/contents

    check "Package is sol" [ "$(dpkg-deb --field "$deb" Package)" = sol ]
    check "Architecture is $arch" [ "$(dpkg-deb --field "$deb" Architecture)" = "$arch" ]
    check "Version is $version" [ "$(dpkg-deb --field "$deb" Version)" = "$version-1" ]
    check "Section is net" [ "$(dpkg-deb --field "$deb" Section)" = net ]
    check "Priority is optional" [ "$(dpkg-deb --field "$deb" Priority)" = optional ]
    check "Maintainer is set" [ -n "$(dpkg-deb --field "$deb" Maintainer)" ]
    check "Depends names systemd-sysusers' providers" \
        [ "$(dpkg-deb --field "$deb" Depends)" = "systemd | systemd-standalone-sysusers" ]
    has_path() { grep -Eq "^$1 +(root/root|0/0) +[0-9]+ [0-9-]+ [0-9:]+ \\./$2\$" "$contents"; }
    check "usr/bin/sol, root, mode 755" has_path '-rwxr-xr-x' usr/bin/sol
    check "unit lib/systemd/system/sol.service" has_path '-rw-r--r--' '(usr/)?lib/systemd/system/sol.service'
    check "sysusers usr/lib/sysusers.d/sol.conf" has_path '-rw-r--r--' usr/lib/sysusers.d/sol.conf
    check "tmpfiles usr/lib/tmpfiles.d/sol.conf" has_path '-rw-r--r--' usr/lib/tmpfiles.d/sol.conf
    check "config etc/sol/sol.conf" has_path '-rw-r--r--' etc/sol/sol.conf
    local doc
    for doc in copyright README.md configuration.md; do
        check "doc usr/share/doc/sol/$doc" has_path '-rw-r--r--' "usr/share/doc/sol/$doc"
    done
    check "sysusers entry only once (not both explicit and found)" \
        [ "$(grep -c 'sysusers.d/sol.conf$' "$contents")" = 1 ]

    dpkg-deb -e "$deb" "$dir/DEBIAN"
    check "conffiles is exactly /etc/sol/sol.conf" [ "$(cat "$dir/DEBIAN/conffiles")" = /etc/sol/sol.conf ]
    local postinst=$dir/DEBIAN/postinst
    check "postinst runs systemd-sysusers sol.conf" grep -q 'systemd-sysusers .*sol\.conf' "$postinst"
    check "postinst runs systemd-tmpfiles --create sol.conf" grep -q 'systemd-tmpfiles --create sol\.conf' "$postinst"
    check "postinst enables sol.service (deb-systemd-helper)" grep -q 'deb-systemd-helper .*enable.*sol\.service\|deb-systemd-helper unmask.*sol\.service' "$postinst"
    check "postinst starts sol.service (deb-systemd-invoke)" grep -q 'deb-systemd-invoke .*sol\.service' "$postinst"
    check "postinst checks /etc/sol/sol.conf before the start" grep -q 'sol check -c /etc/sol/sol.conf' "$postinst"
    check "postinst order: config check, sysusers, tmpfiles, then start" \
        in_order "$postinst" 'sol check -c' 'systemd-sysusers' 'systemd-tmpfiles --create' 'deb-systemd-invoke'
    check "prerm stops sol.service" grep -q 'deb-systemd-invoke stop .*sol\.service' "$dir/DEBIAN/prerm"
    check "postrm purges the unit state" grep -q 'deb-systemd-helper purge .*sol\.service' "$dir/DEBIAN/postrm"
    check "postrm removes /var/lib/sol on purge, and only then" postrm_purges_state "$dir/DEBIAN/postrm"
    local s
    for s in postinst prerm postrm; do
        check "$s is valid sh" sh -n "$dir/DEBIAN/$s"
    done

    dpkg-deb -x "$deb" "$dir/root"
    local info
    info=$(file -b "$dir/root/usr/bin/sol")
    echo "file: $info"
    check "binary is $file_re" matches "$info" "$file_re"
    check "binary is statically linked" matches "$info" 'static(ally|-pie) linked'
    check "packaged sol.conf is systemd/sol.conf" cmp -s "$dir/root/etc/sol/sol.conf" systemd/sol.conf
    check "packaged sol.conf turns persistence on" grep -qx 'persistence true' "$dir/root/etc/sol/sol.conf"
    check "packaged sol.conf keeps the store in /var/lib/sol/" \
        grep -qx 'persistence_location /var/lib/sol/' "$dir/root/etc/sol/sol.conf"
    check "packaged tmpfiles creates /var/lib/sol 0750 sol:sol" \
        grep -qx 'd /var/lib/sol 0750 sol sol -' "$dir/root/usr/lib/tmpfiles.d/sol.conf"
    local unit=$dir/root/usr/lib/systemd/system/sol.service
    [ -f "$unit" ] || unit=$dir/root/lib/systemd/system/sol.service
    check "packaged unit is systemd/sol.service" cmp -s "$unit" systemd/sol.service
    check "packaged unit has StateDirectory=sol (the store's /var/lib/sol)" grep -qx 'StateDirectory=sol' "$unit"
    check "packaged binary runs under $*: sol --version" prints_version "$dir/root/usr/bin/sol" "$@"
    check "packaged binary accepts the packaged /etc/sol/sol.conf (sol check -c)" \
        "$@" "$dir/root/usr/bin/sol" check -c "$dir/root/etc/sol/sol.conf"
    rm -rf "$dir"
}

step "deb: arm64 from $ARM64_TARGET ($PROFILE)"
# One way to build: cross/build.sh makes the same binary the qemu proof and the size
# budget check use.
bash cross/build.sh --profile "$PROFILE" "$ARM64_TARGET"
cargo deb --target "$ARM64_TARGET" --profile "$PROFILE" --no-build --output "$out/sol_${version}-1_arm64.deb"
inspect_deb "$out/sol_${version}-1_arm64.deb" arm64 'ELF 64-bit LSB .*ARM aarch64' qemu-aarch64-static

if $all; then
    step "deb: armhf from $ARMHF_TARGET ($PROFILE, ARMv6)"
    bash cross/build.sh --profile "$PROFILE" "$ARMHF_TARGET"
    cargo deb --target "$ARMHF_TARGET" --profile "$PROFILE" --no-build --output "$out/sol_${version}-1_armhf.deb"
    inspect_deb "$out/sol_${version}-1_armhf.deb" armhf 'ELF 32-bit LSB .*ARM, EABI5' qemu-arm-static -cpu arm1176
    armhf_bin=$(mktemp -d)
    dpkg-deb -x "$out/sol_${version}-1_armhf.deb" "$armhf_bin"
    attrs=$(readelf -A "$armhf_bin/usr/bin/sol")
    printf '%s\n' "$attrs" | grep -E 'Tag_CPU_arch:|Tag_ABI_VFP_args:|Tag_FP_arch:' || true
    check "armhf binary is built for ARMv6 (Tag_CPU_arch: v6)" matches "$attrs" 'Tag_CPU_arch: v6(KZ)?'$'\n'
    check "armhf binary uses the hard-float ABI (Tag_ABI_VFP_args: VFP registers)" \
        matches "$attrs" 'Tag_ABI_VFP_args: VFP registers'
    rm -rf "$armhf_bin"
fi

echo
ls -l "$out"/*.deb
echo "deb: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
