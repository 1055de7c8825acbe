#!/usr/bin/env bash
# '$SYS/...' topics and patterns are deliberately single-quoted literals.
# shellcheck disable=SC2016
#
# Interoperability tests: start a broker on a free loopback port and drive it
# with real third-party MQTT clients (mosquitto_pub/mosquitto_sub, paho-mqtt).
#
# Usage:
#   tests/interop/run.sh --sol PATH_TO_SOL_BINARY
#   tests/interop/run.sh --mosquitto            # reference broker (Debian's)
#
# Environment:
#   PYTHON   interpreter with paho-mqtt 2.x and pytest (default: python3)
#
# Output ends with a line "N passed, M failed"; exit status is 0 only if every
# test passed.  Every wait is bounded (timeout(1), mosquitto_sub -W/-C, or a
# polling loop with a deadline); nothing relies on a sleep for ordering.

set -u
set -o pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python3}
HOST=127.0.0.1
PORT=""
MOSQUITTO_BIN=${MOSQUITTO_BIN:-/usr/sbin/mosquitto}

usage() {
    echo "usage: $0 --sol PATH_TO_SOL_BINARY | --mosquitto" >&2
    exit 2
}

MODE=""
SOL_BIN=""
case "${1:-}" in
    --sol)
        [ $# -eq 2 ] || usage
        MODE=sol
        SOL_BIN=$2
        ;;
    --mosquitto)
        [ $# -eq 1 ] || usage
        MODE=mosquitto
        ;;
    *) usage ;;
esac

for tool in mosquitto_pub mosquitto_sub timeout stdbuf; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: required tool '$tool' not found (apt-get install mosquitto-clients coreutils)" >&2
        exit 2
    fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sol-interop.XXXXXX") || exit 2
BROKER_LOG="$WORK/broker.log"
BROKER_PID=""
BG_PIDS=()
PASSED=0
FAILED=0
STARTED=0  # set once the broker is being started: from then on, print a summary
FINISHED=0 # set when all tests have run
FAILED_NAMES=()
# Unique per run, so topics and client ids never collide with anything else.
RUN_ID="$$"
TP="sol-it/$RUN_ID"

log() { printf '%s\n' "$*"; }

# ---------------------------------------------------------------- processes

# Stop a process we started: SIGTERM, wait (bounded), then SIGKILL.
stop_pid() {
    local pid=$1 limit=${2:-5} i
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < limit * 20; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    wait "$pid" 2>/dev/null
    return 0
}

stop_background() {
    local pid
    for pid in "${BG_PIDS[@]}"; do
        stop_pid "$pid" 2
    done
    BG_PIDS=()
}

print_broker_log() {
    if [ -s "$BROKER_LOG" ]; then
        log "----- broker log ($BROKER_LOG, last 300 lines) -----"
        tail -n 300 "$BROKER_LOG"
        log "----- end of broker log -----"
    fi
}

# Runs on every exit: stop everything we started, print the broker log if
# anything failed, then the summary as the very last line.
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_background
    if [ -n "$BROKER_PID" ]; then
        stop_pid "$BROKER_PID" 10
    fi
    if [ "$STARTED" -eq 1 ]; then
        if [ "$FINISHED" -eq 0 ]; then
            # Aborted: broker did not start, interrupted, ...
            FAILED=$((FAILED + 1))
            FAILED_NAMES+=("run aborted (exit status $rc)")
        fi
        if [ "$FAILED" -ne 0 ]; then
            print_broker_log
            log ""
            log "failed:"
            printf '  %s\n' "${FAILED_NAMES[@]}"
        fi
        echo "$PASSED passed, $FAILED failed"
        if [ "$rc" -eq 0 ] && [ "$FAILED" -ne 0 ]; then
            rc=1
        fi
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------- broker

start_sol() {
    local conf="$WORK/sol.conf" i
    if [ ! -x "$SOL_BIN" ]; then
        log "error: Sol binary '$SOL_BIN' is not executable"
        exit 2
    fi
    printf 'listener 0 127.0.0.1\nallow_anonymous true\nsys_interval 1\n' >"$conf"
    # stdout and stderr both go to the log, so the announcement is found
    # whichever stream it is written to.
    NO_COLOR=1 "$SOL_BIN" -c "$conf" >"$BROKER_LOG" 2>&1 &
    BROKER_PID=$!
    # Wait (bounded: 10 s, polling every 50 ms) for the port announcement.
    for ((i = 0; i < 200; i++)); do
        # Colour escape sequences (e.g. from a tracing formatter) are stripped
        # before matching.
        PORT=$(sed -E 's/\x1b\[[0-9;]*m//g' "$BROKER_LOG" |
            sed -nE 's/.*listening on 127\.0\.0\.1:([0-9]+).*/\1/p' | head -n 1)
        [ -n "$PORT" ] && return 0
        if ! kill -0 "$BROKER_PID" 2>/dev/null; then
            log "error: Sol exited before announcing its port"
            exit 1
        fi
        sleep 0.05
    done
    log "error: Sol did not log 'listening on 127.0.0.1:PORT' within 10 s"
    exit 1
}

pick_free_port() {
    "$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

start_mosquitto() {
    local conf="$WORK/mosquitto.conf" attempt i
    if [ ! -x "$MOSQUITTO_BIN" ]; then
        log "error: $MOSQUITTO_BIN not found (apt-get install mosquitto)"
        exit 2
    fi
    # The port is free when picked but could be taken before mosquitto binds
    # it; if mosquitto exits during startup, try again with another port.
    for attempt in 1 2 3; do
        PORT=$(pick_free_port) || { log "error: could not pick a free port with $PYTHON"; exit 2; }
        printf 'listener %s 127.0.0.1\nallow_anonymous true\nsys_interval 1\n' "$PORT" >"$conf"
        "$MOSQUITTO_BIN" -c "$conf" >"$BROKER_LOG" 2>&1 &
        BROKER_PID=$!
        for ((i = 0; i < 100; i++)); do
            kill -0 "$BROKER_PID" 2>/dev/null || break
            grep -q 'Opening ipv4 listen socket' "$BROKER_LOG" && return 0
            sleep 0.05
        done
        kill -0 "$BROKER_PID" 2>/dev/null && return 0 # still up: let wait_broker_ready decide
        wait "$BROKER_PID" 2>/dev/null
        log "mosquitto exited during startup (attempt $attempt):"
        cat "$BROKER_LOG"
        BROKER_PID=""
    done
    log "error: could not start mosquitto"
    exit 1
}

# Wait (bounded: 10 s) until the broker answers a real MQTT CONNECT.
wait_broker_ready() {
    local i
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$BROKER_PID" 2>/dev/null; then
            log "error: broker exited during startup"
            exit 1
        fi
        if timeout --foreground 2 mosquitto_pub -h "$HOST" -p "$PORT" -i "sol-it-probe-$RUN_ID" \
            -t "$TP/probe" -n >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    log "error: broker on $HOST:$PORT did not accept an MQTT connection within 10 s"
    exit 1
}

# ------------------------------------------------------------------ helpers

# Publish with mosquitto_pub (bounded).
pub() {
    timeout --foreground 10 mosquitto_pub -h "$HOST" -p "$PORT" "$@"
}

# start_sub OUT ARGS...: run mosquitto_sub in the background with debug output,
# line-buffered, so readiness ("received SUBACK") and each PUBLISH can be seen
# while it runs.  Always pass -W so it cannot outlive the test.  Sets SUB_PID.
start_sub() {
    local out=$1
    shift
    : >"$out"
    stdbuf -oL mosquitto_sub -h "$HOST" -p "$PORT" -d "$@" >"$out" 2>"$out.err" &
    SUB_PID=$!
    BG_PIDS+=("$SUB_PID")
}

# sub_fg OUT ARGS...: run mosquitto_sub in the foreground (bounded); returns
# its exit status.
sub_fg() {
    local out=$1
    shift
    timeout --foreground 20 mosquitto_sub -h "$HOST" -p "$PORT" -d "$@" >"$out" 2>"$out.err"
}

# wait_grep FILE ERE SECONDS: poll until a line of FILE matches ERE.
wait_grep() {
    local file=$1 re=$2 secs=$3 i
    for ((i = 0; i < secs * 20; i++)); do
        grep -qE -- "$re" "$file" 2>/dev/null && return 0
        sleep 0.05
    done
    grep -qE -- "$re" "$file" 2>/dev/null
}

# wait_line FILE LINE SECONDS: poll until FILE has exactly LINE as a line.
wait_line() {
    local file=$1 line=$2 secs=$3 i
    for ((i = 0; i < secs * 20; i++)); do
        grep -qxF -- "$line" "$file" 2>/dev/null && return 0
        sleep 0.05
    done
    grep -qxF -- "$line" "$file" 2>/dev/null
}

# The subscriber is ready once its SUBACK has arrived.
wait_suback() {
    wait_grep "$1" 'received SUBACK' 10
}

# Application messages printed by mosquitto_sub (-d debug lines removed).
messages() {
    grep -v -e '^Client ' -e '^Subscribed (mid' "$1" || true
}

# Number of lines in FILE matching ERE.
count_grep() {
    local n
    n=$(grep -cE -- "$2" "$1" 2>/dev/null) || true
    echo "${n:-0}"
}

fail() {
    log "    reason: $*"
}

show() {
    local f
    for f in "$@"; do
        log "    --- $(basename "$f") ---"
        sed 's/^/    | /' "$f"
    done
}

run_test() {
    local name=$1
    shift
    local rc
    "$@"
    rc=$?
    stop_background
    if [ "$rc" -eq 0 ]; then
        PASSED=$((PASSED + 1))
        log "PASS  $name"
    else
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name")
        log "FAIL  $name"
    fi
}

# ------------------------------------------------------ group A: mosquitto_*

# A1: publish/subscribe round trip at QoS q.
t_a1_qos() {
    local q=$1 out="$WORK/a1-q$1.out" topic="$TP/a1/qos$1" payload="hello at qos $1 ($RUN_ID)"
    start_sub "$out" -v -q "$q" -t "$topic" -C 1 -W 10
    wait_suback "$out" || { fail "no SUBACK"; show "$out" "$out.err"; return 1; }
    pub -q "$q" -t "$topic" -m "$payload" || { fail "mosquitto_pub -q $q failed"; return 1; }
    wait "$SUB_PID"
    local rc=$?
    [ "$rc" -eq 0 ] || { fail "mosquitto_sub exited with $rc"; show "$out" "$out.err"; return 1; }
    [ "$(messages "$out")" = "$topic $payload" ] ||
        { fail "wrong message"; show "$out"; return 1; }
    grep -qE "received PUBLISH \(d0, q$q, r0, " "$out" ||
        { fail "not delivered at QoS $q with retain 0"; show "$out"; return 1; }
}

# A2: '+' and '#' wildcards: exactly the matching topics arrive.
t_a2_wildcards() {
    local out="$WORK/a2.out" t expected
    start_sub "$out" -v -q 1 -t "$TP/sensors/+/temp" -t "$TP/home/#" -W 15
    wait_suback "$out" || { fail "no SUBACK"; show "$out" "$out.err"; return 1; }
    # Non-matching first, then matching, then an end marker; all QoS 1 from
    # successive publishers, so each has been processed before the next.
    for t in sensors/kitchen/humidity sensors/temp sensors/a/b/temp sensors/kitchen/temp/x \
        homes/x house/home/x Home/x; do
        pub -q 1 -t "$TP/$t" -m "no:$t" || { fail "publish $t failed"; return 1; }
    done
    for t in sensors/kitchen/temp sensors/garage/temp home home/livingroom/lamp home/x/y/z; do
        pub -q 1 -t "$TP/$t" -m "yes:$t" || { fail "publish $t failed"; return 1; }
    done
    pub -q 1 -t "$TP/home/zz-end" -m "end" || { fail "publish end marker failed"; return 1; }
    wait_line "$out" "$TP/home/zz-end end" 10 || { fail "end marker not received"; show "$out"; return 1; }
    stop_background
    expected=$(for t in sensors/kitchen/temp sensors/garage/temp home home/livingroom/lamp home/x/y/z; do
        echo "$TP/$t yes:$t"
    done
    echo "$TP/home/zz-end end")
    if [ "$(messages "$out" | sort)" != "$(echo "$expected" | sort)" ]; then
        fail "received set differs from expected"
        log "    expected:"
        while IFS= read -r t; do log "    | $t"; done <<<"$expected"
        show "$out"
        return 1
    fi
}

# A3a: a retained message reaches a later subscriber with the retain flag.
t_a3_retained() {
    local out="$WORK/a3.out" topic="$TP/a3/retained" payload="retained $RUN_ID"
    pub -q 1 -r -t "$topic" -m "$payload" || { fail "retained publish failed"; return 1; }
    sub_fg "$out" -v -t "$topic" -C 1 -W 5
    local rc=$?
    [ "$rc" -eq 0 ] || { fail "mosquitto_sub exited with $rc (27 = timeout)"; show "$out" "$out.err"; return 1; }
    [ "$(messages "$out")" = "$topic $payload" ] || { fail "wrong message"; show "$out"; return 1; }
    grep -qE 'received PUBLISH \(d0, q0, r1, ' "$out" ||
        { fail "retain flag not set on delivery to a new subscriber"; show "$out"; return 1; }
    pub -q 1 -r -n -t "$topic" || { fail "clearing the retained message failed"; return 1; }
}

# A3b: an empty retained publish clears the retained message.
t_a3_retained_clear() {
    local out="$WORK/a3c.out" topic="$TP/a3/cleared"
    pub -q 1 -r -t "$topic" -m "to be cleared" || { fail "retained publish failed"; return 1; }
    pub -q 1 -r -n -t "$topic" || { fail "empty retained publish failed"; return 1; }
    sub_fg "$out" -v -t "$topic" -W 2
    local rc=$?
    [ "$rc" -eq 27 ] || { fail "mosquitto_sub exited with $rc, expected 27 (timeout, nothing received)"; show "$out" "$out.err"; return 1; }
    [ -z "$(messages "$out")" ] || { fail "received a message after the retained one was cleared"; show "$out"; return 1; }
}

# A4a: the will of a client killed with SIGKILL is published.
t_a4_will() {
    local wout="$WORK/a4-watch.out" dout="$WORK/a4-dying.out" topic="$TP/a4/will/dying" payload="gone $RUN_ID"
    start_sub "$wout" -v -q 1 -t "$TP/a4/will/+" -W 15
    wait_suback "$wout" || { fail "watcher: no SUBACK"; show "$wout" "$wout.err"; return 1; }
    start_sub "$dout" -i "sol-it-dying-$RUN_ID" -t "$TP/a4/unused" -W 15 \
        --will-topic "$topic" --will-payload "$payload" --will-qos 1
    local dying=$SUB_PID
    wait_suback "$dout" || { fail "dying client: no SUBACK"; show "$dout" "$dout.err"; return 1; }
    kill -KILL "$dying"
    wait "$dying" 2>/dev/null
    wait_line "$wout" "$topic $payload" 10 || { fail "will not received"; show "$wout"; return 1; }
    grep -qE "received PUBLISH \(d0, q1, r0, .*'$topic'" "$wout" ||
        { fail "will not delivered at QoS 1"; show "$wout"; return 1; }
}

# A4b: a client that disconnects cleanly does not trigger its will.
t_a4_no_will_on_disconnect() {
    local wout="$WORK/a4b-watch.out" cout="$WORK/a4b-clean.out"
    start_sub "$wout" -v -q 1 -t "$TP/a4b/#" -W 15
    wait_suback "$wout" || { fail "watcher: no SUBACK"; show "$wout" "$wout.err"; return 1; }
    # -E: subscribe, then DISCONNECT cleanly and exit.
    sub_fg "$cout" -i "sol-it-clean-$RUN_ID" -t "$TP/a4b/unused" -E \
        --will-topic "$TP/a4b/will" --will-payload "must not appear" --will-qos 1 ||
        { fail "clean client failed"; show "$cout" "$cout.err"; return 1; }
    pub -q 1 -t "$TP/a4b/marker" -m "marker" || { fail "marker publish failed"; return 1; }
    wait_line "$wout" "$TP/a4b/marker marker" 10 || { fail "marker not received"; show "$wout"; return 1; }
    if grep -qF "must not appear" "$wout"; then
        fail "will published although the client disconnected cleanly"
        show "$wout"
        return 1
    fi
}

# A5: QoS 1 messages published while a persistent-session client is offline
# are delivered, in order, when it reconnects.
t_a5_persistent() {
    local out1="$WORK/a5-1.out" out2="$WORK/a5-2.out" out3="$WORK/a5-3.out"
    local id="sol-it-persist-$RUN_ID" topic="$TP/a5/persist" i rc
    # -E: subscribe, then disconnect; the session (clean session 0) remains.
    sub_fg "$out1" -c -i "$id" -q 1 -t "$topic" -E ||
        { fail "first connection failed"; show "$out1" "$out1.err"; return 1; }
    for i in 1 2 3 4 5; do
        pub -q 1 -t "$topic" -m "queued $i" || { fail "publish $i failed"; return 1; }
    done
    sub_fg "$out2" -c -i "$id" -q 1 -t "$topic" -v -C 5 -W 5
    rc=$?
    # Remove the session again (clean session 1).
    sub_fg "$out3" -i "$id" -t "$topic" -E >/dev/null 2>&1
    [ "$rc" -eq 0 ] || { fail "reconnected mosquitto_sub exited with $rc (27 = timeout)"; show "$out2" "$out2.err"; return 1; }
    local expected
    expected=$(for i in 1 2 3 4 5; do echo "$topic queued $i"; done)
    [ "$(messages "$out2")" = "$expected" ] ||
        { fail "queued messages missing or out of order"; show "$out2"; return 1; }
}

# A6a: $SYS/broker/uptime is published.
t_a6_sys_uptime() {
    local out="$WORK/a6.out" rc
    sub_fg "$out" -v -t '$SYS/broker/uptime' -C 1 -W 5
    rc=$?
    [ "$rc" -eq 0 ] || { fail "mosquitto_sub exited with $rc (27 = timeout)"; show "$out" "$out.err"; return 1; }
    messages "$out" | grep -qE '^\$SYS/broker/uptime .+' ||
        { fail "no non-empty \$SYS/broker/uptime message"; show "$out"; return 1; }
}

# A6b: '#' (and '+/...') do not match $SYS topics.
t_a6_hash_not_sys() {
    local hout="$WORK/a6b-hash.out" sout="$WORK/a6b-sys.out"
    start_sub "$hout" -v -t '#' -t '+/broker/uptime' -t '+/broker/#' -W 15
    wait_suback "$hout" || { fail "'#' subscriber: no SUBACK"; show "$hout" "$hout.err"; return 1; }
    start_sub "$sout" -v -t '$SYS/broker/uptime' -W 15
    wait_suback "$sout" || { fail "\$SYS subscriber: no SUBACK"; show "$sout" "$sout.err"; return 1; }
    # Two uptime messages after both subscriptions: at least one periodic
    # $SYS publication happened while '#' was subscribed.
    local i n=0
    for ((i = 0; i < 100; i++)); do
        n=$(messages "$sout" | grep -c '^\$SYS/broker/uptime ')
        [ "$n" -ge 2 ] && break
        sleep 0.05
    done
    [ "$n" -ge 2 ] || { fail "fewer than 2 \$SYS/broker/uptime messages within 5 s"; show "$sout"; return 1; }
    pub -q 1 -t "$TP/a6b/marker" -m "marker" || { fail "marker publish failed"; return 1; }
    wait_line "$hout" "$TP/a6b/marker marker" 10 || { fail "'#' subscriber did not get the marker"; show "$hout"; return 1; }
    stop_background
    if messages "$hout" | grep -q '^\$'; then
        fail "'#' or '+/...' matched a \$SYS topic"
        messages "$hout" | grep '^\$' | head -n 20 | sed 's/^/    | /'
        return 1
    fi
}

# A7: MQTT 5.0 with mosquitto's own clients (-V mqttv5): the properties a request/response
# application uses arrive unchanged, and the expiry interval is forwarded (at most what
# was sent).
t_a7_v5_properties() {
    local out="$WORK/a7.out" topic="$TP/a7/req"
    start_sub "$out" -V mqttv5 -q 1 -t "$topic" -C 1 -W 10 -F '%t|%p|%R|%C|%P|%E'
    wait_suback "$out" || { fail "no SUBACK"; show "$out" "$out.err"; return 1; }
    pub -V mqttv5 -q 1 -t "$topic" -m "ping $RUN_ID" \
        -D publish response-topic "$TP/a7/reply" -D publish content-type text/plain \
        -D publish user-property trace "$RUN_ID" -D publish message-expiry-interval 60 ||
        { fail "mosquitto_pub -V mqttv5 failed"; return 1; }
    wait "$SUB_PID"
    local rc=$?
    [ "$rc" -eq 0 ] || { fail "mosquitto_sub exited with $rc"; show "$out" "$out.err"; return 1; }
    local got
    got=$(messages "$out")
    case "$got" in
        "$topic|ping $RUN_ID|$TP/a7/reply|text/plain|trace:$RUN_ID|"60 | \
            "$topic|ping $RUN_ID|$TP/a7/reply|text/plain|trace:$RUN_ID|"59) ;;
        *) fail "properties not forwarded: $got"; show "$out"; return 1 ;;
    esac
}

# ----------------------------------------------------------- group B: paho

run_paho() {
    local junit="$WORK/junit.xml" rc counts p f x
    log ""
    log "== group B: paho-mqtt ($PYTHON) =="
    BROKER_HOST=$HOST BROKER_PORT=$PORT INTEROP_BROKER=$MODE PYTHONDONTWRITEBYTECODE=1 \
        timeout --foreground 180 "$PYTHON" -m pytest -q -p no:cacheprovider --tb=short -rfEx \
        --junitxml="$junit" "$SCRIPT_DIR/test_paho.py" "$SCRIPT_DIR/test_paho_v5.py"
    rc=$?
    counts=$("$PYTHON" - "$junit" <<'EOF' 2>/dev/null
import sys
import xml.etree.ElementTree as ET
passed = failed = xfailed = 0
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    kinds = {child.tag: child.get("type", "") for child in case}
    if "failure" in kinds or "error" in kinds:
        failed += 1
    elif "skipped" in kinds:
        # An expected failure (known deviation of the reference broker) is
        # the expected outcome; any other skip counts as a failure, so that
        # nothing is silently left out.
        if kinds["skipped"] == "pytest.xfail":
            passed += 1
            xfailed += 1
        else:
            failed += 1
    else:
        passed += 1
print(passed, failed, xfailed)
EOF
    ) || counts=""
    if [ -z "$counts" ]; then
        log "FAIL  B: pytest did not produce a result file (exit status $rc)"
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("B: pytest run")
        return
    fi
    read -r p f x <<<"$counts"
    if [ "$x" -gt 0 ]; then
        log "note: $x paho test(s) failed as expected: known deviations of the reference broker (see xfail above)"
    fi
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    if [ "$f" -gt 0 ]; then
        FAILED_NAMES+=("B: $f paho test(s)")
    elif [ "$rc" -ne 0 ]; then
        # pytest failed although no test case did (e.g. killed by timeout).
        log "FAIL  B: pytest exited with status $rc"
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("B: pytest exit status $rc")
    fi
}

# --------------------------------------------------------------------- main

log "== starting broker ($MODE) =="
STARTED=1
if [ "$MODE" = sol ]; then
    start_sol
else
    start_mosquitto
fi
wait_broker_ready
log "broker pid $BROKER_PID listening on $HOST:$PORT"

log ""
log "== group A: mosquitto_pub / mosquitto_sub =="
run_test "A1 pub/sub QoS 0" t_a1_qos 0
run_test "A1 pub/sub QoS 1" t_a1_qos 1
run_test "A1 pub/sub QoS 2" t_a1_qos 2
run_test "A2 wildcards + and #" t_a2_wildcards
run_test "A3 retained message delivered to later subscriber" t_a3_retained
run_test "A3 empty retained publish clears it" t_a3_retained_clear
run_test "A4 will published when client is killed" t_a4_will
run_test "A4 no will after clean disconnect" t_a4_no_will_on_disconnect
run_test "A5 persistent session queues QoS 1 while offline" t_a5_persistent
run_test "A6 \$SYS/broker/uptime published" t_a6_sys_uptime
run_test "A6 # does not match \$SYS" t_a6_hash_not_sys
run_test "A7 MQTT 5.0 properties with mosquitto_pub/sub -V mqttv5" t_a7_v5_properties

run_paho

if ! kill -0 "$BROKER_PID" 2>/dev/null; then
    log "FAIL  broker process died during the tests"
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("broker still running at the end")
fi
FINISHED=1
log ""
# The summary line is printed by cleanup (EXIT trap), after the broker log.
[ "$FAILED" -eq 0 ]
