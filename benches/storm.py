#!/usr/bin/env python3
"""Connection storms (issue 14): Sol against Debian's Mosquitto 2.0, measured in one run.

Two parts (`--parts cycle,resume`):

- `cycle`: broker CPU per connect/CONNACK/DISCONNECT cycle. `sol-load storm` with more
  generator threads than the broker needs (`--threads`, default 4; `--loopers` connections
  looping, default 64) against a fresh broker with harness.py's stock configuration
  (anonymous, `connection_messages false`, `max_inflight_messages 20`). The broker's CPU
  (all its threads: run time from /proc/PID/task/*/schedstat, user and system together)
  over the storm window, divided by the cycles completed in it. Two loads: `flood` (as
  fast as the broker answers) and `paced` (`--rate`, default 2,000 connects/s, far below
  either broker's saturation, so the CPU per cycle compares like for like). The `null`
  peer (`tools/null-broker`) is the floor: the same accept, epoll, read, CONNACK and
  close syscalls in the same `mio` loop and nothing else, so a broker's CPU per cycle
  reads as that floor plus its own work ("over the floor" rows).
- `resume`: a reconnect storm of `--clients` (5,000) persistent sessions after a broker
  restart. The broker runs with persistence on (`persistence true`, a fresh
  `persistence_location`) on a fixed loopback port. `sol-load resume --phase prepare`
  connects the clients with clean session off and fixed ids, subscribes each to its own
  topic at QoS 1 and disconnects them, then queues one QoS 1 message for each. The broker
  is stopped (SIGTERM) and started again on the same port. A bystander pair (`sol-load
  latency`, `--latency-rate` msg/s on other topics, `--latency-duration` s) runs once
  alone (baseline) and once more with `sol-load resume --phase reconnect` starting
  `--lead` s into it: all clients reconnect at once (`--concurrency` handshakes in flight,
  0 = all), clean session off. Reported: time from the first connect to the last CONNACK
  and to the last queued message, connect-to-CONNACK percentiles, sessions present,
  queued messages and live messages (published once all are back: the subscriptions)
  received, the broker's CPU during the storm and the time it was runnable but waiting
  for a CPU (schedstat: contention with the generator), the bystanders' p50/p99/max latency
  without and with the storm, the restart's stop and start times and each broker's
  listen backlog. `--mosquitto-nodelay` gives Mosquitto `set_tcp_nodelay true` (Sol
  always sets TCP_NODELAY): without it the bystanders' tail on Mosquitto is its Nagle
  delays, storm or not. Fails (exit 1) if a session, queued message or subscription is lost,
  a connection fails, or the broker logs an error.

    benches/storm.py --quick                      # smoke: 2 s storms, 500 clients, 1 repetition (~30 s)
    benches/storm.py                              # 10 s storms, 5,000 clients, 3 repetitions
    benches/storm.py --parts resume --concurrency 0,100 --repeats 5 --out storm.jsonl

Python 3.9+ standard library only. Linux only (/proc). Loopback only, no fixed ports.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
import harness  # noqa: E402
import persistence  # noqa: E402
from harness import log  # noqa: E402

PEERS = ["sol", "mosquitto", "null"]
# The cycle's metrics that have a floor: the null broker's CPU per cycle.
FLOORED = ("cpu_s_per_1000",)


def cycle_args(load, args):
    """sol-load's arguments for `load` (`flood` or `paced`) without the port."""
    a = ["storm", "--threads", str(args.threads), "--concurrency", str(args.loopers),
         "--duration", f"{args.duration:g}"]
    if load == "paced":
        a += ["--rate", f"{args.rate:g}"]
    return a


def per_cycle(r, duration):
    """Adds to a storm result the broker's CPU seconds per 1,000 cycles (the same number
    as ms per cycle; x1000 is µs) and its CPU as % of one core over the window."""
    cpu, cycles = r.get("broker_cpu_window_s"), r.get("connects")
    if cpu is not None and cycles:
        r["cpu_s_per_1000"] = round(cpu / cycles * 1000, 6)
    if cpu is not None and duration > 0:
        r["broker_cpu_pct"] = round(100 * cpu / duration, 1)
    return r


CYCLE_METRICS = [("cpu_s_per_1000", "broker CPU s per 1,000 cycles", "low"),
                 ("connects_per_s", "cycles/s", "high"),
                 ("broker_cpu_pct", "broker CPU % of a core", "low"),
                 ("gen_cpu_pct", "generator CPU % of a core", "low"),
                 ("errors", "connection errors", "low")]


def ratio(s, m):
    return f"{s / m:.3g}x" if s is not None and m else "-"


def side_table(results, groups, metrics, group_key):
    """Medians of `metrics` per broker for each value of `group_key` in `groups`, with
    Sol/Mosquitto. With null-broker runs among `results`, a `null` column too, and for
    the metrics in FLOORED a row of each broker's excess over it ("over the floor")."""
    peers = [n for n in PEERS if n != "null" or any(r["broker"] == "null" for r in results)]
    rows = []
    for g in groups:
        for key, label, better in metrics:
            meds = {n: compare.median([float(r[key]) for r in results
                                       if r["broker"] == n and r[group_key] == g and r.get(key) is not None])
                    for n in peers}
            if all(v is None for v in meds.values()):
                continue
            mark = " (+)" if better == "high" else " (-)" if better == "low" else ""
            rows.append([str(g), label + mark] + [compare.fmt(meds[n]) for n in peers]
                        + [ratio(meds["sol"], meds["mosquitto"])])
            floor = meds.get("null")
            if key in FLOORED and floor is not None and None not in (meds["sol"], meds["mosquitto"]):
                over = {n: meds[n] - floor for n in ("sol", "mosquitto")}
                rows.append([str(g), label + " over the floor" + mark]
                            + [compare.fmt(over.get(n, 0.0)) for n in peers]
                            + [ratio(over["sol"], over["mosquitto"])])
    return compare.columns([group_key, "metric"] + peers + ["sol/mosquitto"], rows)


def cycle_part(args, brokers, loadgen, out):
    results, failures = [], []
    for rep, load in compare.run_order(args.loads, args.repeats, interleave=False):
        for b in (brokers if rep % 2 == 0 else list(reversed(brokers))):
            if b.kind not in args.peers:
                continue
            log(f"cycle {load} #{rep + 1}: {b.name}")
            try:
                r = harness.measure(b, cycle_args(load, args), loadgen, harness.cpu_window(args.duration),
                                    timeout=args.duration + 60)
            except (RuntimeError, OSError) as e:
                failures.append(f"cycle {load} {b.name}: {e}")
                continue
            if r.get("errors"):
                failures.append(f"cycle {load} {b.name}: {r['errors']} connection errors")
            r.update({"part": "cycle", "load": load, "repeat": rep})
            results.append(per_cycle(r, args.duration))
            persistence.emit(out, r)
    print()
    print(f"connect/CONNACK/DISCONNECT cycles: sol-load storm --threads {args.threads}, {args.loopers} looping, "
          f"{args.duration:g} s, medians of {args.repeats}; flood = as fast as answered, paced = "
          f"{args.rate:g} connects/s; (+) higher is better, (-) lower is better")
    print(harness.with_steal_note(side_table(results, args.loads, CYCLE_METRICS, "load")))
    return failures


# ---------------------------------------------------------------- resume

def mosquitto_lines(nodelay):
    """Mosquitto's lines beyond harness.py's stock ones: `set_tcp_nodelay true` if asked
    (Sol always sets TCP_NODELAY; without it Mosquitto's small writes wait for the
    bystanders' delayed ACKs, which shows in their latency tail, not in a storm)."""
    return ["set_tcp_nodelay true"] if nodelay else []


def resume_lines(kind, store, clients, nodelay=False):
    """The broker's configuration beyond harness.py's stock lines: persistence on in
    `store` (saved at the clean stop) and, for Sol, caps above the run's sessions,
    connections and subscriptions (Mosquitto has none by default)."""
    lines = persistence.persistence_lines(kind, "on", store, 1800)
    if kind == "mosquitto":
        lines += mosquitto_lines(nodelay)
    if kind == "sol":
        lines += [f"max_connections {clients + 256}", f"max_offline_sessions {clients + 256}",
                  f"max_subscriptions {clients + 1024}"]
    return lines


def client_prefix(kind, rep, pid=None):
    """A client id prefix unique to the run (at most 10 characters, so ids stay within
    23 with 100,000 clients)."""
    return f"r{(pid or os.getpid()) % 100000}{kind[0]}{rep}-"


def parse_backlog(ss_output):
    """The backlog (Send-Q) of the listening socket in `ss -ltnH` output; None if none."""
    for line in ss_output.splitlines():
        f = line.split()
        if len(f) >= 4 and f[0] == "LISTEN":
            return int(f[2])
    return None


def listen_backlog(port):
    try:
        out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True,
                             timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_backlog(out)


def parse_schedstat(text):
    """(run, wait) nanoseconds from a /proc/.../schedstat line: time on a CPU, and time
    runnable but waiting for one."""
    f = text.split()
    return int(f[0]), int(f[1])


def waited_s(pid):
    """Seconds `pid`'s threads have spent runnable but not running (CPU contention)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += parse_schedstat(f.read())[1]
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def run_gen(loadgen, gen_args, port, label, timeout):
    g = harness.LoadGen(loadgen, gen_args, port, label)
    try:
        r = g.finish(timeout)
    finally:
        g.kill()
    for h in g.human():
        log(f"  {h}")
    return r


def latency_args(args, root):
    return ["latency", "--rate", f"{args.latency_rate:g}", "--duration", f"{args.latency_duration:g}",
            "--topic-root", root]


def resume_checks(r, clients):
    """(check, passed, detail) for one resume run."""
    p, c = r.get("prepare", {}), r.get("reconnect", {})
    checks = [
        ("sessions prepared", p.get("offline") == clients and p.get("acked") == clients,
         f"{p.get('offline')} offline, {p.get('acked')} messages queued of {clients}"),
        ("clients back", c.get("connacks") == clients, f"{c.get('connacks')} of {clients} CONNACKs"),
        ("sessions kept", c.get("session_present") == clients,
         f"{c.get('session_present')} of {clients} with session present"),
        ("queued messages kept", c.get("queued_received") == clients,
         f"{c.get('queued_received')} of {clients} received"),
        ("subscriptions kept", c.get("live_received") == clients,
         f"{c.get('live_received')} of {clients} live messages received"),
        ("no connection errors", not p.get("errors") and not c.get("errors") and c.get("foreign") == 0,
         f"errors {p.get('errors')} + {c.get('errors')}, foreign {c.get('foreign')}"),
        ("broker log clean", not r.get("log_problems"), "; ".join(r.get("log_problems", []))[:200]),
    ]
    during = r.get("latency_during", {})
    checks.append(("bystanders unharmed", not during.get("errors") and not during.get("lost"),
                   f"errors {during.get('errors')}, lost {during.get('lost')}"))
    return checks


def storm_in_window(r, lead, window):
    """Whether the storm (from `lead` s into the bystanders' window, until the last queued
    message) ended inside that window, so their latency covers all of it."""
    c = r.get("reconnect", {})
    return lead + float(c.get("connect_to_last_queued_s") or 0) <= window


def flatten(r):
    """The fields the table shows, from one resume run's nested result."""
    c, lat0, lat1 = r.get("reconnect", {}), r.get("latency_baseline", {}), r.get("latency_during", {})
    ms = lambda v: None if v is None else float(v) / 1000  # noqa: E731
    return {
        "broker": r["broker"], "concurrency": r["concurrency"],
        "back_s": c.get("connect_to_last_connack_s"), "queued_s": c.get("connect_to_last_queued_s"),
        "hs_p50_ms": ms(c.get("handshake_p50_us")), "hs_p99_ms": ms(c.get("handshake_p99_us")),
        "hs_max_ms": ms(c.get("handshake_max_us")),
        "session_present": c.get("session_present"), "queued_received": c.get("queued_received"),
        "live_received": c.get("live_received"), "duplicates": c.get("duplicates"),
        "broker_cpu_storm_s": r.get("broker_cpu_storm_s"), "broker_wait_storm_s": r.get("broker_wait_storm_s"),
        "lat0_p50": lat0.get("lat_p50_us"), "lat0_p99": lat0.get("lat_p99_us"), "lat0_max": lat0.get("lat_max_us"),
        "lat1_p50": lat1.get("lat_p50_us"), "lat1_p99": lat1.get("lat_p99_us"), "lat1_max": lat1.get("lat_max_us"),
        "stop_s": r.get("stop_s"), "start_s": r.get("start_s"), "backlog": r.get("backlog"),
        "gen_cpu_s": c.get("gen_cpu_s"),
    }


RESUME_METRICS = [("back_s", "first connect to last CONNACK, s", "low"),
                  ("queued_s", "first connect to last queued message, s", "low"),
                  ("hs_p50_ms", "connect to CONNACK p50, ms", "low"),
                  ("hs_p99_ms", "connect to CONNACK p99, ms", "low"),
                  ("hs_max_ms", "connect to CONNACK max, ms", "low"),
                  ("session_present", "sessions present", "high"),
                  ("queued_received", "queued messages received", "high"),
                  ("live_received", "live messages received (subscriptions)", "high"),
                  ("duplicates", "duplicate messages", "low"),
                  ("broker_cpu_storm_s", "broker CPU during the storm, s", "low"),
                  ("broker_wait_storm_s", "broker runnable, waiting for a CPU, s", ""),
                  ("lat0_p50", "bystanders p50 alone, µs", "low"),
                  ("lat1_p50", "bystanders p50 with the storm, µs", "low"),
                  ("lat0_p99", "bystanders p99 alone, µs", "low"),
                  ("lat1_p99", "bystanders p99 with the storm, µs", "low"),
                  ("lat0_max", "bystanders max alone, µs", "low"),
                  ("lat1_max", "bystanders max with the storm, µs", "low"),
                  ("stop_s", "restart: stop (SIGTERM to exit), s", "low"),
                  ("start_s", "restart: start to listening, s", "low"),
                  ("backlog", "listen backlog", ""),
                  ("gen_cpu_s", "generator CPU in the storm, s", "")]


def resume_once(kind, binary, args, loadgen, base, rep, concurrency):
    """One resume run against a fresh `kind` broker and store; returns its nested result."""
    n = args.clients
    store = tempfile.mkdtemp(prefix=f"{kind}-store-", dir=base)
    os.chmod(store, 0o777)  # the brokers write it as their own users
    extra = resume_lines(kind, store, n, args.mosquitto_nodelay)
    broker = (persistence.Sol(kind, binary, base, extra) if kind == "sol"
              else harness.MosquittoBroker(kind, binary, base, extra))
    prefix = client_prefix(kind, rep)
    common = ["resume", "--client-prefix", prefix, "--connections", str(n), "--threads", str(args.resume_threads),
              "--duration", f"{args.limit:g}"]
    r = {"part": "resume", "broker": kind, "clients": n, "concurrency": concurrency or n, "repeat": rep,
         "prefix": prefix}
    try:
        _proc, port = broker.start()
        r["backlog"] = listen_backlog(port)
        log(f"resume #{rep + 1} {kind}: prepare {n:,} sessions on port {port}")
        r["prepare"] = run_gen(loadgen, common + ["--phase", "prepare", "--concurrency", str(args.prepare_concurrency)],
                               port, kind, args.limit + 30)
        r["stop_s"], code, lines = persistence.stop(broker)
        r["stop_s"] = round(r["stop_s"], 3)
        problems = persistence.suspicious(lines)
        if code != 0:
            problems.append(f"exit code {code} at the stop")
        t0 = time.monotonic()
        proc, _ = broker.start(port=port)
        r["start_s"] = round(time.monotonic() - t0, 3)
        log(f"resume #{rep + 1} {kind}: restarted in {r['start_s']} s; bystanders alone")
        r["latency_baseline"] = run_gen(loadgen, latency_args(args, f"bystander/{prefix}a"), port, kind,
                                        args.latency_duration + 30)
        log(f"resume #{rep + 1} {kind}: reconnect storm, {concurrency or n} at once")
        lat = harness.LoadGen(loadgen, latency_args(args, f"bystander/{prefix}b"), port, kind)
        try:
            if not lat.wait_ready(30):
                raise RuntimeError(f"bystanders never became ready: {lat.human()}")
            time.sleep(args.lead)
            s0, w0 = harness.proc_sample(proc.pid), waited_s(proc.pid)
            r["reconnect"] = run_gen(loadgen, common + ["--phase", "reconnect", "--concurrency", str(concurrency or n)],
                                     port, kind, args.limit + 30)
            s1, w1 = harness.proc_sample(proc.pid), waited_s(proc.pid)
            r["broker_cpu_storm_s"] = round(s1["cpu"] - s0["cpu"], 4)
            r["broker_wait_storm_s"] = round(w1 - w0, 4)
            r["broker_rss_kb"] = s1["rss_kb"]
            r["latency_during"] = lat.finish(args.latency_duration + 30)
        finally:
            lat.kill()
        if not broker.alive():
            problems.append("the broker died")
        _took, code, lines = persistence.stop(broker)
        problems += persistence.suspicious(lines)
        r["log_problems"] = problems
    finally:
        broker.stop()
        shutil.rmtree(store, ignore_errors=True)
    return r


def resume_part(args, binaries, loadgen, base, out):
    results, failures = [], []
    for concurrency in args.concurrency:
        for rep in range(args.repeats):
            # The null broker keeps no sessions: the cycle part's floor only.
            kinds = [k for k in args.peers if k != "null"]
            for kind in (kinds if rep % 2 == 0 else list(reversed(kinds))):
                try:
                    r = resume_once(kind, binaries[kind], args, loadgen, base, rep, concurrency)
                except (RuntimeError, OSError) as e:
                    failures.append(f"resume {kind}: {e}")
                    continue
                for name, ok, detail in resume_checks(r, args.clients):
                    if not ok:
                        failures.append(f"resume {kind} #{rep + 1}: {name}: {detail}")
                if not storm_in_window(r, args.lead, args.latency_duration):
                    log(f"  note: the storm outlasted the bystanders' {args.latency_duration:g} s window")
                results.append(r)
                persistence.emit(out, r)
    flat = [flatten(r) for r in results]
    print()
    print(f"reconnect storm of {args.clients:,} persistent sessions after a restart (persistence on), "
          f"medians of {args.repeats}; concurrency = handshakes in flight; bystanders: sol-load latency "
          f"{args.latency_rate:g} msg/s for {args.latency_duration:g} s, the storm starting {args.lead:g} s in")
    print(side_table(flat, [c or args.clients for c in args.concurrency], RESUME_METRICS, "concurrency"))
    return failures


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="cycle,resume", help="comma-separated: cycle, resume")
    ap.add_argument("--quick", action="store_true",
                    help="smoke: 2 s storms, 500 clients, 3 s bystander windows, 1 repetition")
    ap.add_argument("--repeats", type=int, help="runs per broker (default 3; --quick 1)")
    ap.add_argument("--peers", default="sol,mosquitto,null",
                    help="comma-separated: sol, mosquitto, null (the floor, cycle part only; default all)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--mosquitto-nodelay", action="store_true",
                    help="Mosquitto with set_tcp_nodelay true (default: stock, off), as Sol always is")
    ap.add_argument("--out", help="append every run as a JSON line to this file")
    g = ap.add_argument_group("cycle")
    g.add_argument("--loads", default="flood,paced", help="comma-separated: flood, paced")
    g.add_argument("--threads", type=int, default=4, help="generator threads (default 4)")
    g.add_argument("--loopers", type=int, default=64, help="connections looping (default 64)")
    g.add_argument("--duration", type=float, help="seconds per storm (default 10; --quick 2)")
    g.add_argument("--rate", type=float, default=2000.0, help="paced: connects/s (default 2000)")
    g = ap.add_argument_group("resume")
    g.add_argument("--clients", type=int, help="persistent sessions (default 5000; --quick 500)")
    g.add_argument("--concurrency", default="0",
                   help="comma-separated handshakes in flight in the reconnect storm, 0 = all at once (default 0)")
    g.add_argument("--prepare-concurrency", type=int, default=100,
                   help="connections in flight while preparing the sessions (default 100)")
    g.add_argument("--resume-threads", type=int, default=2, help="generator threads of the storm (default 2)")
    g.add_argument("--latency-rate", type=float, default=1000.0, help="bystanders' msg/s (default 1000)")
    g.add_argument("--latency-duration", type=float, help="bystanders' window, s (default 5; --quick 3)")
    g.add_argument("--lead", type=float, default=0.5, help="s from the bystanders' start to the storm (default 0.5)")
    g.add_argument("--limit", type=float, default=50.0,
                   help="longest a phase may take, s (below the 60 s keep-alive; default 50)")
    args = ap.parse_args()
    q = args.quick
    if q:
        harness.STEAL_RERUNS = 0  # quick timings are not published: no run is made again
    args.parts = [p for p in args.parts.split(",") if p]
    args.peers = [p for p in PEERS if p in args.peers.split(",")]
    args.loads = [x for x in args.loads.split(",") if x]
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    args.repeats = args.repeats or (1 if q else 3)
    args.duration = args.duration or (2.0 if q else 10.0)
    args.clients = args.clients or (500 if q else 5000)
    args.latency_duration = args.latency_duration or (3.0 if q else 5.0)
    for p in args.parts:
        if p not in ("cycle", "resume"):
            raise SystemExit(f"unknown part {p}; known: cycle, resume")
    for x in args.loads:
        if x not in ("flood", "paced"):
            raise SystemExit(f"unknown load {x}; known: flood, paced")

    sol, loadgen = harness.build(args.no_build)
    mosquitto = harness.ensure_mosquitto()
    harness.raise_nofile(2 * args.clients + 1024)
    log(f"machine: {harness.machine()}; load average {os.getloadavg()[0]:.2f}; somaxconn "
        f"{open('/proc/sys/net/core/somaxconn').read().strip()}")
    failures = []
    with harness.bench_run("sol-storm-", args.out) as (tmp, out):
        if "cycle" in args.parts:
            mosq = harness.MosquittoBroker("mosquitto", mosquitto, tmp, mosquitto_lines(args.mosquitto_nodelay))
            brokers = [harness.SolBroker("sol", sol, tmp), mosq]
            if "null" in args.peers:
                brokers.append(harness.NullBroker("null", harness.binaries(["null-broker"], args.no_build)[0], tmp))
            failures += cycle_part(args, brokers, loadgen, out)
        if "resume" in args.parts:
            failures += resume_part(args, {"sol": sol, "mosquitto": mosquitto}, loadgen, tmp, out)
    for f in failures:
        log(f"FAILED: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
