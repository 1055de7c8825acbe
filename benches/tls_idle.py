#!/usr/bin/env python3
"""Memory per idle TLS connection, Sol against Mosquitto 2.0, side by side.

Each broker is started fresh with one TLS listener on loopback (a throw-away CA and server
certificate made by tests/tls/make-certs.sh, EC P-256); N clients (Python's `ssl`, TLS 1.3)
each complete the handshake, CONNECT, SUBSCRIBE to their own topic and stay idle. The
broker's VmRSS before and after gives the bytes per TLS connection; the same run over plain
TCP gives what TLS adds. Alternating order, `--repeats` runs, medians. For Sol the per-
connection TLS estimate that `sol check` counts in the memory ceiling is printed next to
the measurement, so the ceiling is shown to hold.

    benches/tls_idle.py                      # 1000 connections, 3 repeats
    benches/tls_idle.py --connections 200 --repeats 1 --no-build   # CI smoke

Python 3.9+, standard library only; needs the openssl CLI (for the certificates).
"""

import argparse
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def mqtt_connect(client_id):
    """An MQTT 3.1.1 CONNECT, clean session, keep-alive 600 s (no PINGREQ in the window)."""
    cid = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02\x02\x58" + len(cid).to_bytes(2, "big") + cid
    return bytes([0x10, len(body)]) + body


def mqtt_subscribe(topic):
    """SUBSCRIBE packet id 1, QoS 0."""
    t = topic.encode()
    body = b"\x00\x01" + len(t).to_bytes(2, "big") + t + b"\x00"
    return bytes([0x82, len(body)]) + body


def read_exact(s, n):
    got = b""
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            raise RuntimeError("the broker closed the connection")
        got += chunk
    return got


def open_clients(port, n, context):
    """N connected, subscribed clients (TLS when `context` is given)."""
    clients = []
    for i in range(n):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        s = context.wrap_socket(raw, server_hostname="localhost") if context else raw
        s.sendall(mqtt_connect(f"idle{i}"))
        if read_exact(s, 4) != b"\x20\x02\x00\x00":
            raise RuntimeError("CONNACK refused")
        s.sendall(mqtt_subscribe(f"idle/{i}"))
        if read_exact(s, 5)[0] != 0x90:
            raise RuntimeError("no SUBACK")
        clients.append(s)
    return clients


def measure(broker, n, context, settle):
    """Bytes of broker RSS per idle connection."""
    proc, port = broker.start()
    try:
        time.sleep(settle)
        base = harness.proc_sample(proc.pid)["rss_kb"]
        clients = open_clients(port, n, context)
        time.sleep(settle)
        after = harness.proc_sample(proc.pid)["rss_kb"]
        for c in clients:
            c.close()
        return (after - base) * 1024 / n
    finally:
        broker.stop()


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--settle", type=float, default=0.5, help="seconds before each RSS sample")
    ap.add_argument("--no-build", action="store_true", help="use the existing release build")
    args = ap.parse_args()

    harness.raise_nofile(2 * args.connections + 64)
    sol, _loadgen = harness.build(args.no_build)
    mosquitto = harness.ensure_mosquitto()
    tmp = tempfile.mkdtemp(prefix="sol-tls-idle-")
    certs = harness.Certs(tmp)
    tls_lines = certs.listener_lines
    brokers = {
        ("sol", "tls"): harness.SolBroker("sol-tls", sol, tmp, tls_lines),
        ("sol", "tcp"): harness.SolBroker("sol-tcp", sol, tmp),
        ("mosquitto", "tls"): harness.MosquittoBroker("mosq-tls", mosquitto, tmp, tls_lines),
        ("mosquitto", "tcp"): harness.MosquittoBroker("mosq-tcp", mosquitto, tmp),
    }
    context = ssl.create_default_context(cafile=certs.ca)
    results = {key: [] for key in brokers}
    for rep in range(args.repeats):
        order = list(brokers) if rep % 2 == 0 else list(reversed(list(brokers)))
        for key in order:
            harness.log(f"{key[0]} {key[1]} #{rep + 1}: {args.connections} idle connections")
            results[key].append(measure(brokers[key], args.connections,
                                        context if key[1] == "tls" else None, args.settle))

    check = subprocess.run([sol, "check", "-c", brokers[("sol", "tls")].write_conf(1883)],
                           capture_output=True, text=True, check=True).stdout
    estimate = re.search(r"TLS state.*? x ([\d,]+) B", check)
    rows = [("B per idle connection", "tls"), ("B per idle connection", "tcp")]
    print(f"{args.connections} idle subscribed connections, medians of {args.repeats} "
          f"(broker VmRSS delta / connections)")
    print(f"{'':26}{'sol':>10}{'mosquitto':>12}{'sol/mosq':>10}")
    med = {key: median(v) for key, v in results.items()}
    for label, kind in rows:
        s, m = med[("sol", kind)], med[("mosquitto", kind)]
        print(f"{kind + ' ' + label:26}{s:10.0f}{m:12.0f}{s / m:10.2f}")
    s_add = med[("sol", "tls")] - med[("sol", "tcp")]
    m_add = med[("mosquitto", "tls")] - med[("mosquitto", "tcp")]
    print(f"{'TLS adds':26}{s_add:10.0f}{m_add:12.0f}{s_add / m_add if m_add > 0 else float('nan'):10.2f}")
    if estimate:
        print(f"sol check counts {estimate.group(1)} B of TLS state per connection slot in its ceiling")
    else:
        print("sol check: no per-connection TLS line found\n" + check)
        return 1
    limit = int(estimate.group(1).replace(",", ""))
    if s_add > limit:
        print(f"FAILED: Sol's measured TLS cost {s_add:.0f} B is above the ceiling's {limit} B")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
