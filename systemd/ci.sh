#!/usr/bin/env bash
# Checks the systemd integration files in systemd/ without a running systemd:
#   1. `systemd-analyze verify` of sol.service (a copy whose ExecStart is the binary just
#      built, since verify requires the executable to exist); any diagnostic about the
#      unit fails the check;
#   2. `systemd-analyze security --offline` of it: fails if the exposure level rises
#      above SECURITY_THRESHOLD (tenths; 1.4 today);
#   3. sol.sysusers and sol.tmpfiles installed into a temporary root and applied there
#      (`systemd-sysusers --root`, `systemd-tmpfiles --root --create`, systemd 252 has no
#      tmpfiles --dry-run), then /var/lib/sol checked for the owner and mode the unit's
#      StateDirectory= gives it;
#   4. `sol check -c systemd/sol.conf`;
#   5. shellcheck of this script.
# Called by .ci/run (as root, CI=true, fresh Debian 12); installs systemd and shellcheck
# with apt-get if missing. Every step is bounded by `timeout`. Safe to run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

SECURITY_THRESHOLD=20

step() { printf '\n=== systemd: %s ===\n' "$*"; }
fail() {
    printf 'systemd/ci.sh: %s\n' "$*" >&2
    exit 1
}

step "install tools"
need_apt=()
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck)
if [ ${#need_apt[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || fail "missing ${need_apt[*]} (run as root to install them)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -qq
    timeout 600 apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
systemd-analyze --version | head -n 1

step "build sol"
# Ask cargo where the binary is: CARGO_TARGET_DIR or a default --target may move it.
sol=$(timeout 1800 cargo build --locked --bin sol --message-format=json-render-diagnostics |
    sed -n 's/.*"executable":"\([^"]*\/sol\)".*/\1/p' | tail -n 1)
[ -x "$sol" ] || fail "cargo build did not report the sol binary"
echo "$sol"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step "systemd-analyze verify sol.service"
sed "s|^ExecStart=/usr/bin/sol |ExecStart=$sol |" systemd/sol.service >"$tmp/sol.service"
grep -q "^ExecStart=$sol " "$tmp/sol.service" || fail "sol.service: no ExecStart=/usr/bin/sol line"
verify_rc=0
verify=$(timeout 120 systemd-analyze verify --man=no "$tmp/sol.service" 2>&1) || verify_rc=$?
if [ -n "$verify" ]; then
    printf '%s\n' "$verify"
fi
[ "$verify_rc" -eq 0 ] || fail "systemd-analyze verify failed (exit $verify_rc)"
# Diagnostics about other units (on a machine where those are broken) are shown, not fatal.
if grep -q -e 'sol\.service' -e "$tmp" <<<"$verify"; then
    fail "systemd-analyze verify reported problems in sol.service"
fi
echo "sol.service: verified"

step "systemd-analyze security sol.service"
timeout 120 systemd-analyze security --offline=yes --no-pager \
    --threshold="$SECURITY_THRESHOLD" "$tmp/sol.service" | tail -n 1 ||
    fail "exposure level above $SECURITY_THRESHOLD/10 (run systemd-analyze security for the list)"

step "sysusers and tmpfiles in a temporary root"
root="$tmp/root"
mkdir -p "$root/etc"
install -D -m 0644 systemd/sol.sysusers "$root/usr/lib/sysusers.d/sol.conf"
install -D -m 0644 systemd/sol.tmpfiles "$root/usr/lib/tmpfiles.d/sol.conf"
timeout 60 systemd-sysusers --root="$root" --dry-run
timeout 60 systemd-sysusers --root="$root"
user=$(sed -n 's/^User=//p' systemd/sol.service)
group=$(sed -n 's/^Group=//p' systemd/sol.service)
uid=$(awk -F: -v u="$user" '$1 == u { print $3 }' "$root/etc/passwd")
gid=$(awk -F: -v g="$group" '$1 == g { print $3 }' "$root/etc/group")
[ -n "$uid" ] || fail "sol.sysusers does not create User=$user of sol.service"
[ -n "$gid" ] || fail "sol.sysusers does not create Group=$group of sol.service"
timeout 60 systemd-tmpfiles --root="$root" --create
state_dir="/var/lib/$(sed -n 's/^StateDirectory=//p' systemd/sol.service)"
state_mode=$(sed -n 's/^StateDirectoryMode=0*//p' systemd/sol.service)
[ -d "$root$state_dir" ] || fail "sol.tmpfiles does not create $state_dir"
got=$(stat -c '%a %u:%g' "$root$state_dir")
want="$state_mode $uid:$gid"
[ "$got" = "$want" ] ||
    fail "$state_dir from sol.tmpfiles is '$got', the unit's StateDirectory= makes '$want'"
echo "$user ($uid:$gid), $state_dir $got: consistent with sol.service"

step "sol check -c systemd/sol.conf"
timeout 60 "$sol" check -c systemd/sol.conf

step "shellcheck systemd/ci.sh"
timeout 60 shellcheck systemd/ci.sh

printf '\nsystemd/ci.sh: all checks passed\n'
