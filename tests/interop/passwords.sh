#!/usr/bin/env bash
# Password files are interchangeable with Mosquitto's (issue 5):
#   1. a file made by Debian's mosquitto_passwd ($7$ and -H sha512 $6$ entries) is
#      accepted by Sol: the right password connects, a wrong one is refused;
#   2. a file made by `sol passwd` is accepted the same way by a real Mosquitto.
#
# Usage: tests/interop/passwords.sh PATH_TO_SOL_BINARY
# Every wait is bounded (timeout, a polling loop with a deadline); ports come from the
# kernel (Sol: listener 0; Mosquitto: a port found free by binding 0, retried).

set -u
set -o pipefail

SOL=${1:?usage: $0 PATH_TO_SOL_BINARY}
MOSQUITTO=${MOSQUITTO_BIN:-/usr/sbin/mosquitto}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sol-passwords.XXXXXX") || exit 2
chmod 755 "$WORK" # the brokers may switch to an unprivileged user that must read the files
PIDS=()
FAILED=0

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

check() { # NAME EXPECTED_EXIT COMMAND...
    local name=$1 want=$2 got
    shift 2
    timeout 10 "$@" >/dev/null 2>&1
    got=$?
    if { [ "$want" = 0 ] && [ "$got" = 0 ]; } || { [ "$want" != 0 ] && [ "$got" != 0 ] && [ "$got" != 124 ]; }; then
        echo "ok   $name"
    else
        echo "FAIL $name (exit $got)"
        FAILED=$((FAILED + 1))
    fi
}

wait_port() { # PORT
    local i
    for ((i = 0; i < 100; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}

# 1. mosquitto_passwd's file, Sol's broker.
mosquitto_passwd -b -c "$WORK/mosq.pw" alice 'wonder land' || exit 2
mosquitto_passwd -H sha512 -b "$WORK/mosq.pw" bob builder || exit 2
chmod 644 "$WORK/mosq.pw"
printf 'listener 0 127.0.0.1\nallow_anonymous false\npassword_file %s\n' "$WORK/mosq.pw" >"$WORK/sol.conf"
"$SOL" -c "$WORK/sol.conf" 2>"$WORK/sol.log" &
PIDS+=($!)
port=""
for ((i = 0; i < 100; i++)); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/sol.log" | head -n1)
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { echo "FAIL sol did not start"; cat "$WORK/sol.log"; exit 1; }
check "sol accepts mosquitto_passwd \$7\$ entry" 0 mosquitto_pub -p "$port" -u alice -P 'wonder land' -t t -m x
check "sol accepts mosquitto_passwd \$6\$ entry" 0 mosquitto_pub -p "$port" -u bob -P builder -t t -m x
check "sol refuses a wrong password" 1 mosquitto_pub -p "$port" -u alice -P wonder -t t -m x
check "sol refuses an anonymous client" 1 mosquitto_pub -p "$port" -t t -m x

# 2. sol passwd's file, Mosquitto's broker.
"$SOL" passwd -b -c "$WORK/sol.pw" carol 's3cret pass' || exit 2
printf 'dave-pw\n' | "$SOL" passwd "$WORK/sol.pw" dave || exit 2
chmod 644 "$WORK/sol.pw"
started=""
for attempt in 1 2 3; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    printf 'listener %s 127.0.0.1\nallow_anonymous false\npassword_file %s\n' "$port" "$WORK/sol.pw" >"$WORK/mosq.conf"
    "$MOSQUITTO" -c "$WORK/mosq.conf" 2>"$WORK/mosq.log" &
    PIDS+=($!)
    if wait_port "$port"; then started=1; break; fi
    echo "mosquitto did not start on $port (attempt $attempt)"
done
[ -n "$started" ] || { echo "FAIL mosquitto did not start"; cat "$WORK/mosq.log"; exit 1; }
check "mosquitto accepts sol passwd entry (-b)" 0 mosquitto_pub -p "$port" -u carol -P 's3cret pass' -t t -m x
check "mosquitto accepts sol passwd entry (stdin)" 0 mosquitto_pub -p "$port" -u dave -P dave-pw -t t -m x
check "mosquitto refuses a wrong password" 1 mosquitto_pub -p "$port" -u carol -P nope -t t -m x

if [ "$FAILED" -ne 0 ]; then
    echo "$FAILED password interop check(s) failed"
    exit 1
fi
echo "all password interop checks passed"
