#!/bin/bash
# Instructions per QoS 1 message, counted: Sol under callgrind, one publisher and one
# persistent subscriber (sol-load `sessions`, 3,000 msg/s for 8 s), with persistence off
# or in interval mode. Timing cannot resolve a few hundred instructions per message on a
# shared machine; this can. Prints the whole program's instruction count divided by the
# messages delivered (start-up and shutdown included, the same for every build).
#
#   cargo build --profile profiling --bin sol && cargo build --release -p sol-load
#   benches/callgrind_q1.sh target/profiling/sol off
#   benches/callgrind_q1.sh target/profiling/sol interval
#   benches/callgrind_q1.sh target/profiling/sol off 5    # MQTT 5.0 clients
#   benches/callgrind_q1.sh target/profiling/sol off 5 --publishers 4 --rate 5000 \
#       --duration 4 fan-in                               # another sol-load scenario
#   WEBSOCKETS=1 benches/callgrind_q1.sh target/profiling/sol off 3.1.1 --publishers 4 \
#       --rate 5000 --duration 4 fan-in                   # over WebSockets (protocol websockets)
#
# For per-message figures with start-up cancelled (the difference of a short and a long
# run), Mosquitto alongside, and CI's regression check, use benches/instructions.py.
#
# Needs valgrind (Debian: apt-get install valgrind).
set -euo pipefail
sol=$1
mode=$2
protocol=${3:-3.1.1}
shift $(($# < 3 ? $# : 3))
# The rest of the arguments, if any, replace the default scenario.
if [ $# -eq 0 ]; then
    set -- --publishers 1 --subscribers 1 --qos 1 --rate 3000 --duration 8 --offline 0 \
        --drain 3 sessions
fi
root=$(cd "$(dirname "$0")/.." && pwd)
load=${SOL_LOAD:-$root/target/release/sol-load}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
chmod 777 "$out"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    echo "max_inflight_messages 20"
    echo "log_dest stderr"
    echo "connection_messages false"
    echo "user root"
    if [ -n "${WEBSOCKETS:-}" ]; then echo "protocol websockets"; fi
    case $mode in
        off) ;;
        interval) printf 'persistence true\npersistence_location %s\nautosave_interval 2\n' "$out" ;;
        *) echo "mode: off or interval" >&2; exit 2 ;;
    esac
} >"$out/sol.conf"
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" "$sol" -c "$out/sol.conf" 2>"$out/log" &
broker=$!
for _ in $(seq 300); do
    grep -q "listening on" "$out/log" && break
    sleep 0.1
done
ws=()
if [ -n "${WEBSOCKETS:-}" ]; then ws=(--websocket); fi
"$load" -p "$port" --protocol "$protocol" "${ws[@]}" "$@" >"$out/load.json"
kill -TERM "$broker"
wait "$broker" || true
python3 - "$out/log" "$out/load.json" "$mode" <<'PY'
import json, re, sys
ir = int(re.search(r"Collected : (\d+)", open(sys.argv[1]).read()).group(1))
load = json.load(open(sys.argv[2]))
ws = " over WebSockets" if "websocket" in load else ""
print(f"{sys.argv[3]} ({load.get('protocol', '3.1.1')}{ws}): {ir:,} instructions, {load['received']:,} messages (lost {load['lost']}), "
      f"{ir / load['received']:,.0f} per message")
PY
