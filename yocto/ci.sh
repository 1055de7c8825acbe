#!/usr/bin/env bash
# Checks for the Yocto layer yocto/meta-sol that run without BitBake.
#
#   yocto/ci.sh           lint the layer with oelint-adv, then check that
#                         sol-crates.inc matches Cargo.lock (what CI runs)
#   yocto/ci.sh --check   only the sol-crates.inc check (no venv, no network)
#   yocto/ci.sh --lint    only the lint
#
# Fails on any error-level oelint-adv finding, on a stale sol-crates.inc, and on
# a step that overruns its time limit. Warnings and infos are printed, not fatal.
# oelint-adv is installed with pip into a venv (yocto/.venv, or $SOL_YOCTO_VENV);
# on a fresh Debian run as root with CI=true, python3-venv is apt-installed first.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
layer="$here/meta-sol"
venv="${SOL_YOCTO_VENV:-$here/.venv}"
# Pinned so a new oelint-adv release cannot turn CI red on an unchanged layer.
oelint_version="${OELINT_ADV_VERSION:-9.11.2}"

log() { printf '==> %s\n' "$*"; }

check_crates() {
    log "sol-crates.inc against Cargo.lock"
    timeout 120 python3 "$here/update-crates.py" --check
}

ensure_venv() {
    if [ -x "$venv/bin/oelint-adv" ] &&
        [ "$("$venv/bin/oelint-adv" --version 2>/dev/null)" = "oelint-adv $oelint_version" ]; then
        return
    fi
    if ! python3 -c 'import ensurepip' 2>/dev/null; then
        if [ "${CI:-}" = true ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
            log "installing python3-venv"
            export DEBIAN_FRONTEND=noninteractive
            timeout 300 apt-get update -qq
            timeout 600 apt-get install -y -qq python3-venv >/dev/null
        else
            echo "python3 cannot create a venv: install python3-venv (Debian/Ubuntu)" >&2
            exit 1
        fi
    fi
    log "installing oelint-adv $oelint_version into ${venv#"$here"/}"
    rm -rf "$venv"
    python3 -m venv "$venv"
    timeout 600 "$venv/bin/pip" install --disable-pip-version-check -q "oelint-adv==$oelint_version"
}

# Findings accepted on purpose, as "file-suffix:severity:rule" patterns. The
# generated crates .inc has oe-core's exact format ('SRC_URI += " \' then one
# crate per line), which oelint-adv flags; every oe-core *-crates.inc has it.
accepted=(
    "-crates.inc:error:oelint.vars.inconspaces"
    "-crates.inc:info:oelint.vars.notneededspace"
)

is_accepted() {
    local line=$1 file severity rule pattern p_file p_severity p_rule
    IFS=: read -r file _ severity rule _ <<<"$line"
    for pattern in "${accepted[@]}"; do
        IFS=: read -r p_file p_severity p_rule <<<"$pattern"
        if [[ $file == *"$p_file" && $severity == "$p_severity" && $rule == "$p_rule" ]]; then
            return 0
        fi
    done
    return 1
}

lint() {
    ensure_venv
    local files=() out rc=0 line severity errors=0 warnings=0 infos=0 accepted_n=0 other=0
    mapfile -t files < <(cd "$layer" && find . -name '*.bb' -o -name '*.bbappend' -o -name '*.conf' | sort)
    log "oelint-adv $oelint_version (release wrynose) on ${files[*]#./}"
    # Settings (release, suppressions and why, known variables): yocto/oelint.cfg.
    out=$(cd "$layer" && OELINT_CONFIG="$here/oelint.cfg" \
        timeout 300 "$venv/bin/oelint-adv" --quiet --relpaths --output /dev/stdout "${files[@]}" 2>&1) || rc=$?
    if [ "$rc" -eq 124 ]; then
        echo "oelint-adv timed out" >&2
        return 1
    fi
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        if [[ ! $line =~ ^[^:]+:[0-9]+:(error|warning|info): ]]; then
            other=$((other + 1))
            printf '%s\n' "$line"
        elif is_accepted "$line"; then
            accepted_n=$((accepted_n + 1))
            printf 'accepted: %s\n' "$line"
        else
            printf '%s\n' "$line"
            IFS=: read -r _ _ severity _ <<<"$line"
            case $severity in
            error) errors=$((errors + 1)) ;;
            warning) warnings=$((warnings + 1)) ;;
            info) infos=$((infos + 1)) ;;
            esac
        fi
    done <<<"$out"
    log "oelint-adv: $errors error(s), $warnings warning(s), $infos info(s), $accepted_n accepted"
    # Output that is not a finding with a non-zero exit is oelint-adv failing.
    if [ "$other" -gt 0 ] && [ "$rc" -ne 0 ]; then
        echo "oelint-adv failed (exit $rc)" >&2
        return 1
    fi
    [ "$errors" -eq 0 ]
}

case "${1:-}" in
"")
    # Both checks run and both verdicts count; each in its own process so that
    # set -e still holds inside it.
    status=0
    "$0" --lint || status=1
    "$0" --check || status=1
    exit "$status"
    ;;
--check) check_crates ;;
--lint) lint ;;
*)
    echo "usage: $0 [--check | --lint]" >&2
    exit 2
    ;;
esac
