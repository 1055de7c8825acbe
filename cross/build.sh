#!/usr/bin/env bash
# Cross-build Sol for the embedded targets (docs/embedded.md).
#
# Usage:
#   cross/build.sh all                          # every target below
#   cross/build.sh TRIPLE...                    # e.g. aarch64-unknown-linux-musl mipsel-unknown-linux-musl
#   cross/build.sh --test TRIPLE...             # also run `cargo test --lib` under qemu-user
#   cross/build.sh --list                       # the supported triples
#
# Options:
#   --profile NAME   cargo profile for the binaries (default: release-z, the size-tuned one)
#   --test           after building, run the library's unit tests for each target under
#                    qemu-user (debug test profile; the runner comes from .cargo/config.toml)
#   --test-only      run the unit tests under qemu-user, don't build the binaries
#   --no-install     don't install anything; fail if something is missing
#
# Installs what it needs when missing: Debian packages (cross gcc, qemu-user-static),
# rustup targets, the pinned nightly with rust-src (for -Zbuild-std targets), and
# ziglang + cargo-zigbuild from PyPI in a venv (.venv-cross/, so it works with Debian's
# externally-managed python).  Respects CARGO_TARGET_DIR (default: target/).
#
# Prints one line per binary: "size TRIPLE BYTES PATH", then a table.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Pinned nightly for the -Zbuild-std targets (ARM musl without downloadable rust-std,
# tier-3 MIPS).  Change deliberately: build-std breaks between nightlies now and then.
NIGHTLY=${SOL_CROSS_NIGHTLY:-nightly-2026-05-20}
ZIGLANG_VERSION=0.17.1
CARGO_ZIGBUILD_VERSION=0.24.0
VENV=${SOL_CROSS_VENV:-$ROOT/.venv-cross}

ALL_TARGETS=(
    aarch64-unknown-linux-musl
    armv7-unknown-linux-musleabihf
    arm-unknown-linux-musleabihf
    mips-unknown-linux-musl
    mipsel-unknown-linux-musl
    aarch64-unknown-linux-gnu
    armv7-unknown-linux-gnueabihf
)

# How each target is built:
#   gnu        stable rust-std, plain `cargo build`, Debian cross gcc links (glibc, dynamic)
#   buildstd   pinned nightly, `cargo zigbuild -Zbuild-std=std,panic_abort` (zig links
#              against zig's musl; static).  Binaries get std's `optimize_for_size`
#              feature (std at opt-level z, no backtrace symbolizer; panic messages stay).
method_of() {
    case "$1" in
        aarch64-unknown-linux-gnu | armv7-unknown-linux-gnueabihf) echo gnu ;;
        aarch64-unknown-linux-musl | armv7-unknown-linux-musleabihf | arm-unknown-linux-musleabihf | mips-unknown-linux-musl | mipsel-unknown-linux-musl) echo buildstd ;;
        *) return 1 ;;
    esac
}

# Debian packages a target needs to build (and, for --test, to run).
apt_build_pkgs() {
    case "$1" in
        aarch64-unknown-linux-gnu) echo gcc-aarch64-linux-gnu ;;
        armv7-unknown-linux-gnueabihf) echo gcc-arm-linux-gnueabihf ;;
    esac
}
qemu_of() {
    case "$1" in
        aarch64-*) echo qemu-aarch64-static ;;
        arm*) echo qemu-arm-static ;;
        mipsel-*) echo qemu-mipsel-static ;;
        mips-*) echo qemu-mips-static ;;
    esac
}

log() { printf '%s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

PROFILE=release-z
RUN_TESTS=0
BUILD=1
INSTALL=1
TARGETS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --profile)
            [ $# -ge 2 ] || die "--profile needs a value"
            PROFILE=$2
            shift 2
            ;;
        --test)
            RUN_TESTS=1
            shift
            ;;
        --test-only)
            RUN_TESTS=1
            BUILD=0
            shift
            ;;
        --no-install)
            INSTALL=0
            shift
            ;;
        --list)
            printf '%s\n' "${ALL_TARGETS[@]}"
            exit 0
            ;;
        all)
            TARGETS+=("${ALL_TARGETS[@]}")
            shift
            ;;
        -h | --help)
            sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        -*) die "unknown option $1 (see --help)" ;;
        *)
            method_of "$1" >/dev/null || die "unsupported target '$1' (supported: ${ALL_TARGETS[*]})"
            TARGETS+=("$1")
            shift
            ;;
    esac
done
[ ${#TARGETS[@]} -gt 0 ] || die "no target given (try: $0 all, or $0 --list)"

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET_DIR
# RUSTFLAGS would replace the per-target rustflags of .cargo/config.toml (the MIPS and
# ARM-musl fixes): refuse rather than silently build a binary that crashes.
if [ -n "${RUSTFLAGS:-}" ]; then
    die "RUSTFLAGS is set ('$RUSTFLAGS'): it would override the per-target flags in .cargo/config.toml; unset it"
fi

# ------------------------------------------------------------------ installs

need_methods() {
    local t m
    for t in "${TARGETS[@]}"; do
        m=$(method_of "$t")
        [ "$m" = "$1" ] && return 0
    done
    return 1
}

install_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then return 0; fi
    [ "$INSTALL" -eq 1 ] || die "missing Debian packages: ${missing[*]}"
    log "installing Debian packages: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    # Lock timeout: another apt-get on the same machine must not fail this build.
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

setup() {
    local pkgs=() t p
    command -v rustup >/dev/null 2>&1 || die "rustup not found (install Rust with rustup first)"
    for t in "${TARGETS[@]}"; do
        p=$(apt_build_pkgs "$t")
        if [ -n "$p" ]; then pkgs+=("$p"); fi
    done
    if [ "$RUN_TESTS" -eq 1 ]; then pkgs+=(qemu-user-static); fi
    if need_methods buildstd && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        pkgs+=(python3-venv)
    fi
    if [ ${#pkgs[@]} -gt 0 ]; then
        # shellcheck disable=SC2046 # package names have no spaces
        install_apt $(printf '%s\n' "${pkgs[@]}" | sort -u)
    fi

    # rustup targets with downloadable rust-std (stable toolchain of this repo).
    local std_targets=() installed
    installed=$(rustup target list --installed)
    for t in "${TARGETS[@]}"; do
        case "$(method_of "$t")" in
            gnu) grep -qx "$t" <<<"$installed" || std_targets+=("$t") ;;
            *) ;;
        esac
    done
    if [ ${#std_targets[@]} -gt 0 ]; then
        [ "$INSTALL" -eq 1 ] || die "missing rustup targets: ${std_targets[*]}"
        log "rustup target add ${std_targets[*]}"
        rustup target add "${std_targets[@]}" >&2
    fi

    if need_methods buildstd; then
        if ! rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1 ||
            ! rustup component list --toolchain "$NIGHTLY" --installed 2>/dev/null | grep -q '^rust-src'; then
            [ "$INSTALL" -eq 1 ] || die "missing toolchain $NIGHTLY with rust-src"
            log "rustup toolchain install $NIGHTLY (minimal + rust-src)"
            rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src >&2
        fi
    fi

    if need_methods buildstd; then
        if ! "$VENV/bin/cargo-zigbuild" --version 2>/dev/null | grep -qF "$CARGO_ZIGBUILD_VERSION" ||
            ! "$VENV/bin/python" -m ziglang version 2>/dev/null | grep -qF "$ZIGLANG_VERSION"; then
            [ "$INSTALL" -eq 1 ] || die "missing $VENV with ziglang $ZIGLANG_VERSION and cargo-zigbuild $CARGO_ZIGBUILD_VERSION"
            log "installing ziglang $ZIGLANG_VERSION + cargo-zigbuild $CARGO_ZIGBUILD_VERSION into $VENV"
            [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
            "$VENV/bin/pip" install -q --disable-pip-version-check \
                "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" >&2
        fi
        # cargo-zigbuild finds zig through `python3 -m ziglang` of the venv.
        export PATH="$VENV/bin:$PATH"
    fi
}

# ------------------------------------------------------------------ builds

# cargo_for TRIPLE build|test ARGS...: the right cargo invocation for the target.
# cargo-zigbuild's subcommands are `zigbuild` (= build) and `test`; it runs the cargo of
# RUSTUP_TOOLCHAIN.
cargo_for() {
    local t=$1 sub=$2
    shift 2
    case "$(method_of "$t")" in
        gnu) cargo "$sub" --locked --target "$t" "$@" ;;
        buildstd)
            # Tests keep std's default features: the test harness needs panic-unwind.
            # Binaries drop the unwind tables too (.eh_frame, about 200 KB on aarch64):
            # with panic = "abort" nothing unwinds, and std is built without the backtrace
            # symbolizer anyway (a panic still prints its message and location). Added
            # with --config, which joins the config file's rustflags rather than
            # replacing them as RUSTFLAGS would.
            local features=()
            if [ "$sub" = build ]; then
                sub=zigbuild
                # cross/discard.ld drops what the linker keeps but nothing reads: the C
                # parts' unwind tables (17 KB on mipsel, 20 KB on aarch64) and MIPS's
                # .pdr (150 KB on mipsel).
                # --cfg sol_no_unwind_tables and the --wrap's: std's stack walk (a panic's
                # RUST_BACKTRACE output, empty without tables) goes to src/main.rs's
                # stand-ins, so zig's libunwind is not linked (35 KB on mipsel, 20 KB on
                # aarch64, with the fprintf and stdio it pulled in).
                # -Zlocation-detail=none: a panic still prints its message, but its
                # location as `<redacted>` (no file names, lines, columns in the binary).
                # -Zfmt-debug=shallow: a derived Debug prints the type or variant name
                # only (Sol logs fieldless enums and strings with {:?}; the bridge's TLS
                # client made room for both necessary: docs/embedded.md). Tests (the
                # `test` subcommand) are built without any of these.
                features=(-Zbuild-std-features=optimize_for_size
                    --config "target.$t.rustflags=['-C', 'force-unwind-tables=no', '--cfg', 'sol_no_unwind_tables', '-C', 'link-arg=-Wl,-T,$ROOT/cross/discard.ld', '-C', 'link-arg=-Wl,--wrap=_Unwind_Backtrace,--wrap=_Unwind_GetIP,--wrap=_Unwind_VRS_Get', '-Z', 'location-detail=none', '-Z', 'fmt-debug=shallow']")
            fi
            RUSTUP_TOOLCHAIN=$NIGHTLY cargo-zigbuild "$sub" --locked -Zbuild-std=std,panic_abort \
                "${features[@]}" --target "$t" "$@"
            ;;
    esac
}

SIZES=()
TIMES=()
build_one() {
    local t=$1 start end bin size
    start=$(date +%s)
    log ""
    log "=== build $t ($(method_of "$t"), profile $PROFILE) ==="
    cargo_for "$t" build --profile "$PROFILE" --bin sol
    end=$(date +%s)
    bin="$TARGET_DIR/$t/$PROFILE/sol"
    [ -f "$bin" ] || die "expected binary $bin not found"
    size=$(stat -c %s "$bin")
    SIZES+=("$t $size $bin")
    TIMES+=("$t $((end - start))")
    echo "size $t $size $bin"
}

TEST_RESULTS=()
test_one() {
    local t=$1 start end rc=0
    log ""
    log "=== test $t: cargo test --lib under $(qemu_of "$t") ==="
    start=$(date +%s)
    cargo_for "$t" test --lib || rc=$?
    end=$(date +%s)
    if [ "$rc" -eq 0 ]; then
        TEST_RESULTS+=("$t passed $((end - start))s")
    else
        TEST_RESULTS+=("$t FAILED(exit $rc) $((end - start))s")
    fi
    return "$rc"
}

setup

FAIL=0
if [ "$BUILD" -eq 1 ]; then
    for t in "${TARGETS[@]}"; do
        build_one "$t"
    done
fi
if [ "$RUN_TESTS" -eq 1 ]; then
    for t in "${TARGETS[@]}"; do
        test_one "$t" || FAIL=1
    done
fi

if [ "$BUILD" -eq 1 ]; then
    log ""
    log "=== sizes (profile $PROFILE, stripped file size) ==="
    for line in "${SIZES[@]}"; do
        read -r t size bin <<<"$line"
        printf '  %-34s %9s bytes %7.1f KiB  %s\n' "$t" "$size" "$(awk -v s="$size" 'BEGIN { print s / 1024 }')" "$bin" >&2
    done
    log "=== build times (seconds, incl. std for build-std targets) ==="
    printf '  %s\n' "${TIMES[@]}" >&2
fi
if [ ${#TEST_RESULTS[@]} -gt 0 ]; then
    log "=== unit tests under qemu-user ==="
    printf '  %s\n' "${TEST_RESULTS[@]}" >&2
fi
exit "$FAIL"
