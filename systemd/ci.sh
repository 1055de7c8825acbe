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
#   5. persistence: sol.conf keeps its store in the unit's StateDirectory=, and the unit's
#      TimeoutStopSec= leaves Sol its final save (STORE_STOP_WAIT in src/net/store.rs)
#      plus 5 s;
#   6. sol.conf run for real, its listeners replaced by a Unix socket and its store put in
#      the state directory of step 3 (owned by the user Sol runs as, as StateDirectory=
#      makes it): a retained message and a message queued for an offline persistent
#      session, a clean stop (SIGTERM, within TimeoutStopSec=), then both read back after
#      a restart (mosquitto_pub/mosquitto_sub over the socket);
#   7. shellcheck of this script.
# Called by .ci/run (as root, CI=true, fresh Debian 12); installs systemd, shellcheck and
# mosquitto-clients with apt-get if missing. Every step is bounded by `timeout`. Safe to
# run by hand.
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
command -v mosquitto_sub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
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

step "persistence: sol.conf against sol.service"
# The last occurrence of a key wins, as in Sol.
conf_value() { sed -n "s/^$1[[:space:]]\{1,\}\([^[:space:]#]*\).*/\1/p" systemd/sol.conf | tail -n 1; }
[ "$(conf_value persistence)" = true ] || fail "sol.conf: no 'persistence true'"
location=$(conf_value persistence_location)
[ "${location%/}" = "$state_dir" ] ||
    fail "sol.conf: persistence_location '$location' is not the unit's StateDirectory= $state_dir"
[ -z "$(conf_value persistence_file)" ] || fail "sol.conf: set persistence_file only in a comment"
stop_wait=$(sed -n 's/.*STORE_STOP_WAIT: Duration = Duration::from_secs(\([0-9]*\)).*/\1/p' src/net/store.rs)
[ -n "$stop_wait" ] || fail "no STORE_STOP_WAIT in src/net/store.rs"
timeout_stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s\{0,1\}$/\1/p' systemd/sol.service)
[ -n "$timeout_stop" ] || fail "sol.service: no TimeoutStopSec= in seconds"
[ "$timeout_stop" -ge $((stop_wait + 5)) ] ||
    fail "sol.service: TimeoutStopSec=${timeout_stop}s leaves Sol less than its ${stop_wait} s final save + 5 s"
echo "store ${location%/}/sol.db in StateDirectory=; TimeoutStopSec=${timeout_stop}s >= ${stop_wait} s + 5 s"

step "persistence: sol.conf run, stopped and restarted"
# Sol opens the store after dropping root: as root it runs as nobody here (as sol under
# systemd), which gets the state directory as StateDirectory= gives it to sol.
run_user=$(id -un)
conf=$tmp/run.conf
sock_dir=$tmp/run
mkdir -p "$sock_dir"
{
    grep -v '^listener[[:space:]]' systemd/sol.conf |
        sed "s|^persistence_location[[:space:]].*|persistence_location $root$state_dir/|"
    echo "listener 0 $sock_dir/sol.sock"
} >"$conf"
if [ "$(id -u)" -eq 0 ]; then
    run_user=nobody
    echo "user $run_user" >>"$conf"
    chmod 0755 "$tmp"
    chown "$run_user:" "$root$state_dir" "$sock_dir"
fi
# sol check warns when the store directory is not writable by the broker's user.
checked=$(timeout 60 "$sol" check -c "$conf")
if grep -i 'warning:.*\(store\|persistence\|not writable\)' <<<"$checked"; then
    fail "sol check warns about the store in the state directory StateDirectory= makes"
fi
sol_pid=
start_sol() {
    "$sol" -c "$conf" 2>>"$tmp/sol.log" &
    sol_pid=$!
    for _ in $(seq 100); do
        [ -S "$sock_dir/sol.sock" ] && return 0
        kill -0 "$sol_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$tmp/sol.log" >&2
    fail "Sol did not open $sock_dir/sol.sock"
}
stop_sol() {
    local start=$SECONDS rc=0
    kill -TERM "$sol_pid"
    timeout "$timeout_stop" tail --pid="$sol_pid" -f /dev/null ||
        fail "Sol did not stop within TimeoutStopSec=${timeout_stop}s"
    wait "$sol_pid" || rc=$?
    sol_pid=
    [ "$rc" -eq 0 ] || {
        cat "$tmp/sol.log" >&2
        fail "Sol exited with $rc after SIGTERM"
    }
    echo "stopped in $((SECONDS - start)) s"
}
mqtt() { timeout 20 "$@" --unix "$sock_dir/sol.sock"; }
trap 'if [ -n "$sol_pid" ]; then kill -KILL "$sol_pid" 2>/dev/null || true; fi; rm -rf "$tmp"' EXIT

start_sol
# A persistent session (clean session off) subscribes and goes offline; then a retained
# message and a message queued for that session.
mqtt mosquitto_sub -i sol-ci -c -q 1 -t sol/ci/queued -E
mqtt mosquitto_pub -q 1 -r -t sol/ci/retained -m kept
mqtt mosquitto_pub -q 1 -t sol/ci/queued -m queued
stop_sol
store=$root$state_dir/sol.db
[ -s "$store" ] || fail "no $store after a clean stop"
got=$(stat -c '%U %a' "$store")
echo "$store: $(stat -c '%s' "$store") bytes, owner and mode $got"
[ "${got% *}" = "$run_user" ] || fail "$store belongs to '${got% *}', not to $run_user"

start_sol
retained=$(mqtt mosquitto_sub -t sol/ci/retained -C 1 -W 5) || true
queued=$(mqtt mosquitto_sub -i sol-ci -c -q 1 -t sol/ci/queued -C 1 -W 5) || true
stop_sol
[ "$retained" = kept ] || fail "retained message after a restart: '$retained', expected 'kept'"
[ "$queued" = queued ] || fail "queued message after a restart: '$queued', expected 'queued'"
echo "after a restart: retained message and queued message restored"

step "shellcheck systemd/ci.sh"
timeout 60 shellcheck systemd/ci.sh

printf '\nsystemd/ci.sh: all checks passed\n'
