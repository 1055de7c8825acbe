#!/usr/bin/env python3
"""Side-by-side benchmark: Sol against Mosquitto 2.0 and rumqttd on loopback, with tools/sol-load.

Builds Sol (speed-tuned `release` profile) and sol-load, installs Debian's mosquitto with
apt-get and rumqttd with cargo install (into ~/.cache/sol-bench) if they are missing, then
runs every scenario against each broker in turn (the order alternates between repetitions),
each run on a freshly started broker on an ephemeral loopback port. While a run lasts, the
broker's CPU time, RSS and context switches are sampled from /proc. Prints a table of
medians with Sol/other ratios; --out FILE keeps every run as one JSON line.

    benches/compare.py --quick              # smoke test: seconds per run, one repetition
    benches/compare.py                      # 10 s runs, 3 repetitions, 10k idle connections
    benches/compare.py --peers sol,mosquitto --scenarios fanin-q1,latency --out /tmp/r.jsonl
    benches/compare.py --scaling            # CPU per message vs connections and subscriptions
    benches/compare.py --soak-minutes 10    # Sol under mixed load: RSS flat and under its ceiling
    benches/compare.py --smoke              # CI: every scenario ~1 s, a small sweep, 30 s soak
    benches/compare.py --protocol 5 --peers sol,mosquitto   # the same loads with MQTT 5.0 clients
    benches/compare.py --websockets         # Sol over WebSockets against Sol over TCP, alternating
    benches/compare.py --workloads single-nodelay,batch-nodelay,single-delay,batch-delay
    benches/compare.py --latency-sweep      # saturation, then latency at 50 % and 80 % of Mosquitto's
    benches/compare.py --latency-sweep --write-docs   # ... and the tables into docs/performance.md
    benches/compare.py --costs              # MQTT 5, TLS, WebSockets, persistence: cost against plain 3.1.1
    benches/compare.py --costs --repeats 5 --write-docs   # ... medians of 5, into docs/performance.md

Python 3.9+ standard library only. Linux only (/proc).
"""

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import costs
import harness
import persistence
import saturation
import scaling
import soak
from harness import columns, fmt, log, median  # noqa: F401 (bridge.py, storm.py use them as compare.*)

# name -> (sol-load arguments, or None for a broker with nothing connected; metrics to
# tabulate). A metric is (json key, label, better), better being "high" or "low".
# Broker-side metrics are computed by this script.
DELIVERY = [("recv_rate", "msg/s delivered", "high"), ("lost", "lost", "low"),
            ("cpu_s_per_m", "broker CPU s/M delivered", "low")]
QOS1 = [("duplicates", "duplicates", "low")]
# What bounds a window-bound QoS 1 flood (docs/performance.md, "QoS 1 fan-in: what bounds it").
USER = [("user_s_per_m", "broker user CPU s/M delivered", "low"),
        ("ceiling_no_user", "msg/s bound, no broker user time", "high")]
SCENARIOS = {
    "fanin-q0": (["fan-in", "--qos", "0", "--size", "64"], DELIVERY),
    "fanout-q0": (["fan-out", "--qos", "0", "--size", "64"], DELIVERY),
    "fanin-q1": (["fan-in", "--qos", "1", "--size", "64"], DELIVERY + QOS1 + USER),
    "fanout-q1": (["fan-out", "--qos", "1", "--size", "64"], DELIVERY + QOS1),
    "latency": (["latency", "--qos", "0", "--size", "64", "--rate", "20000"],
                [("lat_p50_us", "p50 us", "low"), ("lat_p99_us", "p99 us", "low"),
                 ("lat_max_us", "max us", "low"), ("lost", "lost", "low")]),
    # Two threads: one generator thread is the limit in a connect storm (kernel connect/close).
    "storm": (["storm", "--threads", "2"], [("connects_per_s", "connects/s", "high")]),
    "idle-rss": (["idle"], [("rss_per_conn", "RSS B/idle conn", "low")]),
    "idle-wakeups": (["idle"], [("wakeups_per_s", "ctx switches/s idle", "low")]),
    "rss-empty": (None, [("rss_empty_kb", "RSS KiB, nothing connected", "low")]),
}
# The same loads over TLS (Sol and Mosquitto only): the broker's listener uses the
# certificates of tests/tls/make-certs.sh and sol-load trusts their CA. Not in the default
# set; in --smoke.
TLS_SUFFIX = "-tls"
SCENARIOS.update({name + TLS_SUFFIX: SCENARIOS[name] for name in ("fanin-q0", "fanout-q0", "latency")})
# The same loads over WebSockets (Sol only: Debian's Mosquitto 2.0.11 is built without
# them): the listener gets `protocol websockets` and sol-load `--websocket`. Compared with
# the plain scenario of the same run (`ws_table`). Not in the default set.
WS_SUFFIX = "-ws"
WS_PAIRS = ["fanin-q0", "fanout-q0", "idle-rss"]
SCENARIOS.update({name + WS_SUFFIX: SCENARIOS[name] for name in WS_PAIRS})
# The WebSocket scenarios --smoke runs (a second or two each).
WS_SMOKE = ["fanin-q0-ws", "fanout-q0-ws"]
COMMON = [("broker_cpu_s", "broker CPU s", "low"), ("broker_peak_rss_kb", "broker peak RSS KiB", "low"),
          ("gen_cpu_pct", "generator CPU %", "low")]
DEFAULT_SCENARIOS = ["fanin-q0", "fanout-q0", "fanin-q1", "latency", "storm", "idle-rss", "idle-wakeups",
                     "rss-empty"]
PEERS = ["sol", "mosquitto", "mosq-nodelay", "rumqttd"]
# Besides PEERS: `sol-wN`, Sol with `max_inflight_messages N` instead of the common window (the
# QoS 1 window experiment of issue 14: what the window to one subscriber bounds), and `null`,
# tools/null-broker (the floor: the kernel's part of a message's path, no broker work).
SOL_WINDOW_PEER = re.compile(r"sol-w([1-9][0-9]*)$")

# How sol-load's publishers write (--write-mode) and whether every client socket sets
# TCP_NODELAY (--nodelay). The scenarios of WORKLOAD_SCENARIOS run once per workload of
# --workloads; the others (floods, which measure capacity) keep sol-load's default,
# batch-nodelay. The default workload is the one most like a client library: one PUBLISH
# per write, TCP_NODELAY set (docs/performance.md says why).
WORKLOADS = {
    "single-nodelay": ["--write-mode", "single", "--nodelay", "on"],
    "batch-nodelay": ["--write-mode", "batch", "--nodelay", "on"],
    "single-delay": ["--write-mode", "single", "--nodelay", "off"],
    "batch-delay": ["--write-mode", "batch", "--nodelay", "off"],
}
DEFAULT_WORKLOADS = ["single-nodelay"]
WORKLOAD_SCENARIOS = {"latency", "fanin-q1", "fanout-q1"}
# The loads of --latency-sweep (see benches/saturation.py).
SWEEP_LOADS = ["fanin-q0", "fanout-q0", "fanin-q1", "fanout-q1"]


def cases(scenarios, workloads):
    """What runs: each scenario of WORKLOAD_SCENARIOS once per workload, as
    `SCENARIO/WORKLOAD`; the others as they are."""
    return [f"{sc}/{w}" if sc in WORKLOAD_SCENARIOS else sc
            for sc in scenarios for w in (workloads if sc in WORKLOAD_SCENARIOS else [None])]


def split_case(case):
    """(scenario, workload or None) of a `cases` entry."""
    sc, _, w = case.partition("/")
    return sc, w or None


def is_tls(scenario):
    return scenario.endswith(TLS_SUFFIX)


def is_ws(scenario):
    return scenario.endswith(WS_SUFFIX)


def runs_on(broker, scenario):
    """Whether the harness can run `scenario` on `broker` (TLS and WebSocket listeners)."""
    return (broker.tls or not is_tls(scenario)) and (broker.websockets or not is_ws(scenario))


# MQTT versions sol-load can speak (--protocol); rumqttd's harness listener is 3.1.1 only.
PROTOCOLS = ["3.1.1", "5"]
V5_PEERS = {"sol", "mosquitto", "mosq-nodelay"}


def protocol_args(args):
    """sol-load's arguments for the run's MQTT version (none for 3.1.1, its default)."""
    protocol = getattr(args, "protocol", "3.1.1")
    return [] if protocol == "3.1.1" else ["--protocol", protocol]


# ---------------------------------------------------------------- one run

def idle_window(n, hold):
    """`during` for the idle scenarios: RSS per connection and wake-ups, measured from one
    second after `ready` to one second before the hold ends."""
    def during(pid, base):
        settle = min(1.0, hold / 4)
        time.sleep(settle)
        s0 = harness.proc_sample(pid)
        window = max(0.5, hold - settle - 1.0)
        time.sleep(window)
        s1 = harness.proc_sample(pid)
        return {
            "rss_idle_kb": s0["rss_kb"],
            "rss_base_kb": base["rss_kb"],
            "rss_per_conn": round((s0["rss_kb"] - base["rss_kb"]) * 1024 / n, 1),
            "wakeups_per_s": round((s1["vol"] + s1["nonvol"] - s0["vol"] - s0["nonvol"]) / window, 2),
            "voluntary_per_s": round((s1["vol"] - s0["vol"]) / window, 2),
        }
    return during


def rss_empty(broker, settle):
    """A broker started with its defaults, listening, nothing connected: its RSS."""
    proc, _port = broker.start()
    try:
        time.sleep(settle)
        s = harness.proc_sample(proc.pid)
        return {"broker": broker.name, "rss_empty_kb": s["rss_kb"], "broker_peak_rss_kb": s["hwm_kb"]}
    finally:
        broker.stop()


def run_load(broker, gen_args, args, loadgen, tls=None, ws=False):
    """One sol-load run of `gen_args` for `--duration` seconds on a fresh `broker`, with the
    broker's CPU over the publishing window."""
    cmd = list(gen_args) + ["--duration", str(args.duration), "--drain", str(args.drain)] + protocol_args(args)
    return harness.measure(broker, cmd, loadgen, harness.cpu_window(args.duration),
                           timeout=args.duration + args.drain + 120, tls=tls, ws=ws)


def run_idle(broker, gen_args, n, args, loadgen, tls=None, ws=False):
    """One `idle` run of `n` connections held `--idle-hold` seconds on a fresh `broker`
    (its connection cap raised to fit), measured by `idle_window`."""
    cmd = list(gen_args) + ["--connections", str(n), "--duration", str(args.idle_hold)] + protocol_args(args)
    return harness.measure(broker, cmd, loadgen, idle_window(n, args.idle_hold),
                           limits={"max_connections": n + 256}, tls=tls, ws=ws)


def run_once(broker, case, args, loadgen):
    """One run of `case` (a scenario, or `SCENARIO/WORKLOAD`) on a fresh `broker`;
    `args.certs` serves the TLS scenarios."""
    scenario, workload = split_case(case)
    gen_args, _metrics = SCENARIOS[scenario]
    if gen_args is None:
        result = rss_empty(broker, settle=1.0)
    elif scenario.startswith("idle"):
        n = args.idle_connections if scenario.startswith("idle-rss") else args.wakeup_connections
        result = run_idle(broker, gen_args, n, args, loadgen, ws=is_ws(scenario))
    else:
        result = run_load(broker, gen_args + WORKLOADS.get(workload, []), args, loadgen,
                          tls=args.certs if is_tls(scenario) else None, ws=is_ws(scenario))
    result["scenario_name"] = case
    return result


# ---------------------------------------------------------------- table

def table(results, names, scenarios, metrics=None, first="scenario"):
    """Medians per broker, and Sol/other ratios when Sol is among `names`, one row per
    scenario (or case) and metric. Cases of one scenario (`SCENARIO/WORKLOAD`) sit side by
    side: each metric's rows for all of them together. `metrics(case)` lists a case's
    metrics (default: its scenario's and COMMON)."""
    metrics = metrics or (lambda case: SCENARIOS[split_case(case)[0]][1] + COMMON)
    others = [n for n in names if n != "sol"] if "sol" in names else []
    header = [first, "metric"] + names + [f"sol/{o}" for o in others]
    groups = {}
    for case in scenarios:
        groups.setdefault(split_case(case)[0], []).append(case)
    rows = []
    for group in groups.values():
        for key, label, better in metrics(group[0]):
            for sc in group:
                meds = {}
                for n in names:
                    vals = [r[key] for r in results if r["broker"] == n and r["scenario_name"] == sc and key in r]
                    meds[n] = median([float(v) for v in vals])
                if all(v is None for v in meds.values()):
                    continue
                ratios = []
                for o in others:
                    s, m = meds.get("sol"), meds.get(o)
                    ratios.append(f"{s / m:.3g}x" if s is not None and m else "-")
                rows.append([sc, label + (" (+)" if better == "high" else " (-)")]
                            + [fmt(meds[n]) for n in names] + ratios)
    return columns(header, rows)


# A peer's median latency at a paced rate above this (µs) is a delay inside it, not its
# speed: stock Mosquitto's 18-37 ms at 20,000 msg/s are Nagle's algorithm on the socket of
# a subscriber that never sends (docs/performance.md, issue 14).
HELD_BACK_P50_US = 10_000


def not_ratios(results, names, cases):
    """Lines naming the Sol/peer ratios of `table` that compare with a peer in a state a
    user rarely sees, so a published table says so itself: a QoS 1 flood the peer
    acknowledged and then dropped (its delivered rate is a collapse; its capacity is its
    highest lossless rate, `--latency-sweep`), and a latency run where the peer held
    messages back for over HELD_BACK_P50_US at the median. Empty when there is none."""
    lines = []
    for case in cases:
        scenario = split_case(case)[0]
        gen_args = SCENARIOS[scenario][0] or []
        for peer in [n for n in names if n != "sol"] if "sol" in names else []:
            def med(key):
                return median([float(r[key]) for r in results
                               if r["broker"] == peer and r["scenario_name"] == case and key in r])
            lost, p50 = med("lost"), med("lat_p50_us")
            if "--qos" in gen_args and gen_args[gen_args.index("--qos") + 1] == "1" and lost:
                lines.append(f"{case}: {peer} lost {lost:,.0f} acknowledged QoS 1 messages (median): its delivered "
                             f"rate is a collapse, so sol/{peer} is no throughput ratio (its capacity: the highest "
                             "lossless rate, --latency-sweep)")
            if scenario.startswith("latency") and p50 is not None and p50 > HELD_BACK_P50_US:
                lines.append(f"{case}: {peer} held messages back (p50 {p50 / 1000:.3g} ms at a paced rate; stock "
                             f"Mosquitto: Nagle's algorithm, see mosq-nodelay), so sol/{peer} is no latency ratio")
    return lines


def ws_table(results, scenarios):
    """Sol over WebSockets against Sol over plain TCP, for each `-ws` scenario whose plain
    scenario ran too: medians, ws/tcp, and ws - tcp for the per-connection memory. Empty
    when there is no such pair."""
    rows = []
    for ws in [s for s in scenarios if is_ws(s) and s[:-len(WS_SUFFIX)] in scenarios]:
        tcp = ws[:-len(WS_SUFFIX)]
        for key, label, better in SCENARIOS[ws][1] + COMMON:
            meds = []
            for sc in (tcp, ws):
                vals = [float(r[key]) for r in results
                        if r["broker"] == "sol" and r["scenario_name"] == sc and key in r]
                meds.append(median(vals))
            if None in meds:
                continue
            t, w = meds
            ratio = f"{w / t:.3g}x" if t else "-"
            diff = f"{w - t:+.0f}" if key == "rss_per_conn" else ""
            rows.append([tcp, label + (" (+)" if better == "high" else " (-)"), fmt(t), fmt(w), ratio, diff])
    if not rows:
        return ""
    return columns(["scenario", "metric", "sol tcp", "sol ws", "ws/tcp", "ws-tcp"], rows)


# ---------------------------------------------------------------- modes

def make_brokers(names, args, sol, tmp):
    """Broker objects for the peer names, installing Mosquitto or rumqttd only if chosen."""
    brokers = []
    mosquitto = harness.ensure_mosquitto() if {"mosquitto", "mosq-nodelay"} & set(names) else None
    if mosquitto:
        version = subprocess.run([mosquitto, "-h"], capture_output=True, text=True).stdout.splitlines()[:1]
        log(f"mosquitto: {version[0] if version else '?'}")
    rumqttd = harness.ensure_rumqttd(args.rumqttd) if "rumqttd" in names else None
    if rumqttd:
        version = subprocess.run([rumqttd, "-V"], capture_output=True, text=True).stdout.strip()
        log(f"rumqttd: {version or '?'} ({rumqttd})")
    cm = args.connection_messages
    for n in names:
        if n == "sol":
            brokers.append(harness.SolBroker("sol", sol, tmp, connection_messages=cm))
        elif n == "mosquitto":
            brokers.append(harness.MosquittoBroker("mosquitto", mosquitto, tmp, connection_messages=cm))
        elif n == "mosq-nodelay":
            brokers.append(harness.MosquittoBroker("mosq-nodelay", mosquitto, tmp, ["set_tcp_nodelay true"],
                                                   connection_messages=cm))
        elif n == "rumqttd":
            brokers.append(harness.RumqttdBroker("rumqttd", rumqttd, tmp))
        elif n == "null":
            binary = harness.binaries(["null-broker"], args.no_build)[0]
            brokers.append(harness.NullBroker("null", binary, tmp))
        elif window := SOL_WINDOW_PEER.match(n):
            # The later line wins, as in Mosquitto's files.
            brokers.append(harness.SolBroker(n, sol, tmp, [f"max_inflight_messages {window[1]}"],
                                             connection_messages=cm))
        else:
            raise SystemExit(f"unknown peer {n}; known: {', '.join(PEERS)}, sol-wN (Sol with window N), null")
    return brokers


def run_order(scenarios, repeats, interleave):
    """(repetition, scenario) in the order they run: each scenario's repetitions in turn, or
    with `interleave` one round of every scenario per repetition, every other round
    reversed (so a plain scenario and its WebSocket twin alternate)."""
    if not interleave:
        return [(rep, sc) for sc in scenarios for rep in range(repeats)]
    return [(rep, sc) for rep in range(repeats)
            for sc in (scenarios if rep % 2 == 0 else list(reversed(scenarios)))]


def side_by_side(args, brokers, loadgen, scenarios, out=None, interleave=False):
    """Every scenario (or `cases` entry) on every broker, alternating the order; returns
    (results, failures)."""
    results, failures = [], []
    for rep, sc in run_order(scenarios, args.repeats, interleave):
        order = brokers if rep % 2 == 0 else list(reversed(brokers))
        for b in order:
            if not runs_on(b, split_case(sc)[0]):
                if rep == 0:
                    kind = "TLS" if is_tls(sc) else "WebSocket"
                    log(f"{sc}: skipped on {b.name} (no {kind} listener in the harness)")
                continue
            if protocol_args(args) and b.name not in V5_PEERS and SCENARIOS[split_case(sc)[0]][0] is not None:
                if rep == 0:
                    log(f"{sc}: skipped on {b.name} (no MQTT 5.0 listener in the harness)")
                continue
            log(f"{sc} #{rep + 1} on {b.name}")
            try:
                r = run_once(b, sc, args, loadgen)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                log(f"  failed: {e}")
                failures.append(f"{sc} on {b.name}: {e}")
                continue
            if r.get("errors"):
                log(f"  warning: {r['errors']} connection errors")
            r["repeat"] = rep
            results.append(r)
            if out:
                out.write(json.dumps(r) + "\n")
                out.flush()
    return results, failures


def smoke(args, sol, loadgen, tmp):
    """CI: every scenario (of the WebSocket ones, `WS_SMOKE`) for about a second on Sol and
    Mosquitto (where the harness can run it), a two-point scaling sweep on Sol, a 30-second
    soak. Fails if a run fails, reports connection errors, or the soak fails."""
    args.duration, args.drain, args.repeats = 1.0, 2.0, 1
    args.idle_connections = args.wakeup_connections = 200
    args.idle_hold = 2.0
    names = ["sol", "mosquitto"]
    brokers = make_brokers(names, args, sol, tmp)
    # The default workload everywhere, and the latency scenario in every workload.
    scenarios = cases([s for s in SCENARIOS if not is_ws(s) or s in WS_SMOKE], DEFAULT_WORKLOADS)
    scenarios += [f"latency/{w}" for w in WORKLOADS if w not in DEFAULT_WORKLOADS]
    results, failures = side_by_side(args, brokers, loadgen, scenarios)
    print(table(results, names, scenarios))
    for r in results:
        if r.get("errors"):
            failures.append(f"{r['scenario_name']} on {r['broker']}: {r['errors']} connection errors")
    for sc in scenarios:
        for b in brokers:
            if runs_on(b, split_case(sc)[0]) and not any(r["scenario_name"] == sc and r["broker"] == b.name
                                                          for r in results):
                failures.append(f"{sc} on {b.name}: no result")
    sweep = scaling.Sweep(connections=[10, 100], subscriptions=[10, 1000], loads=list(scaling.LOADS),
                          rate=2000, duration=1.0, drain=args.drain, repeats=1)
    failures += scaling.run(sweep, brokers[:1], loadgen, os.path.join(tmp, "scaling.json"),
                            os.path.join(tmp, "scaling.svg"))
    if not soak.run(brokers[0], loadgen, minutes=0.5, tolerance_pct=args.soak_tolerance):
        failures.append("soak failed")
    for f in failures:
        log(f"FAILED: {f}")
    log("smoke: " + ("FAILED" if failures else "all runs completed"))
    return 1 if failures else 0


def report(args, text, block, failures, lagging, lagging_title):
    """Prints a mode's tables `text`, with the paced runs that missed their rate (`lagging`)
    listed under `lagging_title`; writes them into docs block `block` (or --docs-block) with
    --write-docs; logs `failures`. Returns the exit status."""
    if lagging:
        text += f"\n{lagging_title}:\n  " + "\n  ".join(lagging) + "\n"
    text = harness.with_steal_note(text)
    print()
    print(text)
    if args.write_docs:
        harness.write_docs(args.write_docs, args.docs_block or block, text)
    for f in failures:
        log(f"FAILED: {f}")
    return 1 if failures else 0


def latency_sweep(args, brokers, loadgen, out=None):
    """--latency-sweep: every peer's saturation, then latency at 50 % and 80 % of stock
    Mosquitto's (benches/saturation.py); prints both tables (and writes them with
    --write-docs). Returns the exit status."""
    loads = {name: SCENARIOS[name][0] for name in args.sweep_loads}

    def run(broker, gen_args):
        r = run_load(broker, list(gen_args) + ["--threads", str(args.sweep_threads)], args, loadgen)
        if r.get("errors"):
            log(f"  warning: {r['errors']} connection errors")
        if out:
            out.write(json.dumps(r) + "\n")
            out.flush()
        return r

    workloads = {w: WORKLOADS[w] for w in args.workloads}
    sats, results, failures = saturation.sweep(run, brokers, loads, WORKLOADS[args.saturation_workload],
                                               workloads, args.repeats, args.sweep_probes, log)
    names = [b.name for b in brokers]
    for s in sats:
        s["scenario_name"] = s["load"]
    sat_text = table(sats, names, list(loads), metrics=lambda _case: saturation.SAT_METRICS, first="load")
    lat_cases = list(dict.fromkeys(r["scenario_name"] for r in results))
    lat_text = table(results, names, lat_cases, metrics=lambda _case: saturation.LAT_METRICS,
                     first="load, share of Mosquitto's saturation, rate, workload")
    text = (f"saturation ({args.duration:g} s runs, {args.saturation_workload}; QoS 0: the flood's deliveries "
            f"per subscriber; QoS 1: the highest paced rate with nothing lost, the flood's if it lost nothing, "
            f"else {args.sweep_probes} bisection probes):\n{sat_text}\n\n"
            f"latency at {', '.join(f'{round(f * 100)} %' for f in saturation.FRACTIONS)} of "
            f"{saturation.REFERENCE}'s saturation, medians of {args.repeats} run(s):\n{lat_text}\n")
    return report(args, text, "latency-sweep", failures, saturation.behind(results, names),
                  "sent less than 95 % of the asked rate (latency not at that rate)")


def cost_loads(args):
    """{load: (sol-load arguments, what it is)} of --costs: the floods keep sol-load's
    batches, the paced loads run the default workload (one PUBLISH per write, TCP_NODELAY)."""
    paced = WORKLOADS[DEFAULT_WORKLOADS[0]]
    rate = f"{args.costs_q1_rate:.0f}"
    latency = SCENARIOS["latency"][0]
    return {
        "fanin-q0": (SCENARIOS["fanin-q0"][0], "64 -> 1 QoS 0, 64 B, flood"),
        "fanin-q1": (SCENARIOS["fanin-q1"][0] + ["--rate", rate] + paced,
                     f"64 -> 1 QoS 1, 64 B, window {harness.INFLIGHT}, paced at {args.costs_q1_rate:,.0f} msg/s"),
        "fanout-q0": (SCENARIOS["fanout-q0"][0], "1 -> 100 QoS 0, 64 B, flood"),
        "latency": (latency + paced, f"1 -> 1 QoS 0, 64 B, {int(latency[latency.index('--rate') + 1]):,} msg/s"),
        "idle-rss": (SCENARIOS["idle-rss"][0],
                     f"{args.idle_connections:,} idle subscribed connections held {args.idle_hold:g} s"),
    }


def cost_run(broker, gen_args, variant, args, loadgen, store_dir):
    """One --costs run of `gen_args` on a fresh copy of `broker` in `variant`: its listener
    TLS or WebSockets, sol-load's MQTT version, and, with persistence, a new store
    directory under `store_dir`, removed afterwards."""
    v = costs.VARIANTS[variant]
    run_broker = copy.copy(broker)
    directory = None
    if v.persistence:
        directory = tempfile.mkdtemp(prefix=f"{broker.name}-{variant}-", dir=store_dir)
        os.chmod(directory, 0o777)  # the broker writes it after dropping root
    run_broker.extra_conf = broker.extra_conf + costs.conf_lines(broker.kind, variant, directory)
    gen_args = list(gen_args) + costs.gen_args(variant)
    tls = args.certs if v.tls else None
    try:
        if gen_args[0] == "idle":
            return run_idle(run_broker, gen_args, args.idle_connections, args, loadgen, tls=tls, ws=v.ws)
        return run_load(run_broker, gen_args, args, loadgen, tls=tls, ws=v.ws)
    finally:
        if directory:
            shutil.rmtree(directory, ignore_errors=True)


def cost_table(args, brokers, loadgen, out=None):
    """--costs: every load of `args.costs_loads` on every broker in every variant of
    `args.costs_variants` it has (benches/costs.py); prints the table (and writes it with
    --write-docs). Returns the exit status."""
    loads = cost_loads(args)
    store_dir = tempfile.mkdtemp(prefix="sol-costs-", dir=args.costs_dir)
    os.chmod(store_dir, 0o755)
    fs = persistence.filesystem(store_dir)
    if fs and fs[2] in ("tmpfs", "ramfs") and any(costs.VARIANTS[v].persistence for v in args.costs_variants):
        log(f"warning: {store_dir} is on {fs[2]}: syncs cost nothing there (--costs-dir a disk)")
    try:
        results, failures = costs.measure(
            lambda b, load, variant: cost_run(b, loads[load][0], variant, args, loadgen, store_dir),
            args.costs_loads, args.costs_variants, brokers, args.repeats, log, out)
    finally:
        shutil.rmtree(store_dir, ignore_errors=True)
    rates = {load: float(a[a.index("--rate") + 1]) for load, (a, _) in loads.items() if "--rate" in a}
    legend = "\n".join(f"  {load}: {loads[load][1]}" for load in args.costs_loads)
    text = (f"Cost of each capability against plain MQTT {costs.BASE} over TCP: medians of {args.repeats} "
            f"run(s), {args.duration:g} s each; BROKER/{costs.BASE} = the variant's figure / the same "
            "broker's plain one; (+) higher is better, (-) lower is better; n/a: not in that broker (or "
            "the harness). mqtt5: MQTT 5.0 clients; tls: TLS listener (EC P-256 certificate); ws: WebSocket listener; "
            f"persist: persistence true, autosave_interval {costs.AUTOSAVE} (both brokers' default), "
            f"store on {fs[2] if fs else '?'}; persist-sync: also persistence_sync true.\n"
            f"{legend}\n\n{costs.table(results, brokers, args.costs_loads, args.costs_variants)}\n")
    return report(args, text, "costs", failures, costs.not_at_rate(results, rates),
                  "lost messages or kept less than 95 % of the asked rate (figures not at that rate)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke test: 2 s runs, 1 repetition, 1000 idle connections")
    ap.add_argument("--duration", type=float, help="seconds of load per run (default 10; --quick 2)")
    ap.add_argument("--drain", type=float, default=5.0, help="sol-load's longest wait for the last messages (default 5)")
    ap.add_argument("--repeats", type=int, help="runs per broker and scenario (default 3; --quick 1)")
    ap.add_argument("--idle-connections", type=int, help="connections for idle-rss (default 10000; --quick 1000)")
    ap.add_argument("--wakeup-connections", type=int, default=1000, help="connections for idle-wakeups (default 1000)")
    ap.add_argument("--idle-hold", type=float, help="seconds the idle connections are held (default 20; --quick 4)")
    ap.add_argument("--scenarios",
                    help=f"comma-separated, from: {', '.join(SCENARIOS)} (default: "
                    f"{','.join(DEFAULT_SCENARIOS)}; with --websockets, each of {', '.join(WS_PAIRS)} and its -ws twin)")
    ap.add_argument("--peers", help=f"comma-separated brokers, from: {', '.join(PEERS)}, sol-wN "
                    "(Sol with max_inflight_messages N) and null (tools/null-broker, the floor) "
                    "(default: all but sol-wN and null; --scaling: sol,mosquitto)")
    ap.add_argument("--pin", action="store_true",
                    help="run the broker on CPU 1 and sol-load on CPU 0 (taskset): every wake-up "
                    "crosses CPUs, as with remote clients, instead of as the scheduler places them")
    ap.add_argument("--rumqttd", help="rumqttd binary (default $SOL_BENCH_RUMQTTD, else installed "
                    "into ~/.cache/sol-bench/rumqttd)")
    ap.add_argument("--connection-messages", action="store_true",
                    help="keep Sol's and Mosquitto's per-connection log lines (off by default: they cost CPU in the storm)")
    ap.add_argument("--protocol", choices=PROTOCOLS, default="3.1.1",
                    help="MQTT version of sol-load's clients in the side-by-side and --smoke runs "
                    "(default 3.1.1; 5: Sol and Mosquitto only; the scaling sweep and soak stay 3.1.1)")
    ap.add_argument("--websockets", action="store_true",
                    help="Sol over WebSockets against Sol over TCP: the -ws scenarios and their plain "
                    "twins (or those named by --scenarios), one round of each per repetition, alternating "
                    "(default peers: sol)")
    ap.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                    help=f"comma-separated, from: {', '.join(WORKLOADS)}: how sol-load writes (batch: up to 64 KiB "
                    "of PUBLISH packets per write; single: one per write, each paced message when due) and whether "
                    "its sockets set TCP_NODELAY (nodelay) or not (delay); "
                    f"{', '.join(sorted(WORKLOAD_SCENARIOS))} and the --latency-sweep points run once per workload "
                    f"(default {','.join(DEFAULT_WORKLOADS)})")
    ap.add_argument("--latency-sweep", action="store_true",
                    help="instead of the side-by-side table: every peer's saturation (QoS 1: also the highest paced "
                    "rate with nothing lost), then latency at 50 %% and 80 %% of stock Mosquitto's saturation "
                    "(needs mosquitto among --peers)")
    ap.add_argument("--sweep-loads", default=",".join(SWEEP_LOADS),
                    help=f"--latency-sweep: comma-separated scenarios (default {','.join(SWEEP_LOADS)})")
    ap.add_argument("--sweep-probes", type=int, default=6,
                    help="--latency-sweep: bisection probes for a QoS 1 flood that lost messages (default 6)")
    ap.add_argument("--saturation-workload", default="batch-nodelay", choices=list(WORKLOADS),
                    help="--latency-sweep: the workload of the floods and probes (default batch-nodelay, the "
                    "floods' own)")
    ap.add_argument("--sweep-threads", type=int, default=1,
                    help="--latency-sweep: sol-load threads (default 1)")
    ap.add_argument("--costs", action="store_true",
                    help="instead of the side-by-side table: what MQTT 5.0, TLS, WebSockets and persistence cost "
                    "against plain MQTT 3.1.1 over TCP, each broker against its own plain figure (default peers: "
                    "sol,mosquitto; --idle-connections 1000, --idle-hold 4)")
    ap.add_argument("--costs-variants", default=",".join(costs.VARIANTS),
                    help=f"--costs: comma-separated, from: {', '.join(costs.VARIANTS)} (default: all; "
                    f"{costs.BASE} always runs)")
    ap.add_argument("--costs-loads", default=",".join(costs.LOAD_METRICS),
                    help=f"--costs: comma-separated, from: {', '.join(costs.LOAD_METRICS)} (default: all)")
    ap.add_argument("--costs-q1-rate", type=float, default=20000,
                    help="--costs: the paced rate of fanin-q1, msg/s (default 20000)")
    ap.add_argument("--costs-dir", default="/var/tmp",
                    help="--costs: where the persistence variants' store directories are made (a disk, not "
                    "tmpfs; default /var/tmp)")
    ap.add_argument("--write-docs", nargs="?", const=os.path.join(harness.REPO, "docs", "performance.md"),
                    metavar="FILE", help="also write the tables, headed by the command, commit, machine and date, "
                    "between the `<!-- compare.py begin NAME -->` and `end NAME` markers of FILE (default "
                    "docs/performance.md; a block not there yet is appended at the end)")
    ap.add_argument("--docs-block", metavar="NAME",
                    help="the block --write-docs replaces (default: side-by-side, side-by-side-mqtt5, websockets, "
                    "latency-sweep or costs, after the mode)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--out", help="append every run as a JSON line to this file")
    ap.add_argument("--scaling", action="store_true",
                    help="instead of the side-by-side table: broker CPU per message against background "
                    "connections and subscriptions, written to --scaling-json and --scaling-svg")
    ap.add_argument("--scaling-connections", default="10,100,1000,10000", help="background connections swept")
    ap.add_argument("--scaling-subscriptions", default="10,100,1000,10000,100000",
                    help="background subscriptions swept")
    ap.add_argument("--scaling-rate", type=float, default=20000, help="deliveries per second (default 20000)")
    ap.add_argument("--scaling-loads", default=",".join(scaling.LOADS), help="comma-separated, from: "
                    + ", ".join(scaling.LOADS))
    ap.add_argument("--scaling-json", default=os.path.join(harness.REPO, "docs", "scaling.json"))
    ap.add_argument("--scaling-svg", default=os.path.join(harness.REPO, "docs", "scaling.svg"))
    ap.add_argument("--soak-minutes", type=float,
                    help="instead of the side-by-side table: soak Sol this long with mixed load (10 for the official run)")
    ap.add_argument("--soak-tolerance", type=float, default=10.0,
                    help="RSS growth from the first to the last minute of the soak that fails it, %% (default 10)")
    ap.add_argument("--smoke", action="store_true",
                    help="CI: every scenario ~1 s on Sol and Mosquitto, a small scaling sweep, a 30 s soak")
    args = ap.parse_args()
    if args.pin:
        harness.PIN = (1, 0)
    q = args.quick
    if args.costs:
        args.idle_connections = args.idle_connections or 1000
        args.idle_hold = args.idle_hold or 4.0
        variants = {v for v in args.costs_variants.split(",") if v} | {costs.BASE}
        loads = {x for x in args.costs_loads.split(",") if x}
        for v in variants - set(costs.VARIANTS):
            raise SystemExit(f"unknown variant {v}; known: {', '.join(costs.VARIANTS)}")
        for x in loads - set(costs.LOAD_METRICS):
            raise SystemExit(f"unknown --costs load {x}; known: {', '.join(costs.LOAD_METRICS)}")
        # The table's order, whatever the command line's.
        args.costs_variants = [v for v in costs.VARIANTS if v in variants]
        args.costs_loads = [x for x in costs.LOAD_METRICS if x in loads]
        if args.protocol != "3.1.1":
            raise SystemExit("--costs runs MQTT 5.0 as one of its variants: leave --protocol out")
    args.duration = args.duration or (2.0 if q else 10.0)
    args.repeats = args.repeats or (1 if q else 3)
    args.idle_connections = args.idle_connections or (1000 if q else 10000)
    args.idle_hold = args.idle_hold or (4.0 if q else 20.0)
    if args.scenarios is None:
        pairs = [s for name in WS_PAIRS for s in (name, name + WS_SUFFIX)]
        args.scenarios = ",".join(pairs if args.websockets else DEFAULT_SCENARIOS)
    scenarios = [s for s in args.scenarios.split(",") if s]
    args.workloads = [w for w in args.workloads.split(",") if w]
    args.sweep_loads = [s for s in args.sweep_loads.split(",") if s]
    for s in scenarios + args.sweep_loads:
        if s not in SCENARIOS:
            raise SystemExit(f"unknown scenario {s}; known: {', '.join(SCENARIOS)}")
    for w in args.workloads:
        if w not in WORKLOADS:
            raise SystemExit(f"unknown workload {w}; known: {', '.join(WORKLOADS)}")
    for s in args.sweep_loads:
        if SCENARIOS[s][0] is None or SCENARIOS[s][0][0] not in ("fan-in", "fan-out") or is_tls(s) or is_ws(s):
            raise SystemExit(f"--sweep-loads: {s} is not a plain fan-in or fan-out")
    ints = lambda text: [int(x) for x in text.split(",") if x]  # noqa: E731

    sol, loadgen = harness.build(args.no_build)
    tmp = tempfile.mkdtemp(prefix="sol-compare-")
    os.chmod(tmp, 0o755)  # mosquitto started as root reads its config before dropping privileges
    tls = args.smoke or any(is_tls(s) for s in scenarios) or args.costs and "tls" in args.costs_variants
    args.certs = harness.Certs(tmp) if tls else None
    try:
        if args.smoke or args.quick:
            harness.STEAL_RERUNS = 0  # smoke timings are not published: no run is made again
        if args.smoke:
            harness.raise_nofile(1024)
            return smoke(args, sol, loadgen, tmp)
        if args.soak_minutes:
            harness.raise_nofile(1024)
            broker = harness.SolBroker("sol", sol, tmp, connection_messages=args.connection_messages)
            return 0 if soak.run(broker, loadgen, args.soak_minutes, args.soak_tolerance, out=args.out) else 1
        default_peers = "sol,mosquitto" if args.scaling or args.costs else "sol" if args.websockets else ",".join(
            p for p in PEERS if args.protocol == "3.1.1" or p in V5_PEERS)
        names = [n for n in (args.peers or default_peers).split(",") if n]
        if args.scaling:
            sweep = scaling.Sweep(connections=ints(args.scaling_connections),
                                  subscriptions=ints(args.scaling_subscriptions),
                                  loads=[x for x in args.scaling_loads.split(",") if x],
                                  rate=args.scaling_rate, duration=args.duration, drain=args.drain,
                                  repeats=args.repeats)
            harness.raise_nofile(max(sweep.connections) + 256)
            brokers = make_brokers(names, args, sol, tmp)
            failures = scaling.run(sweep, brokers, loadgen, args.scaling_json, args.scaling_svg)
            return 1 if failures else 0
        harness.raise_nofile(max(args.idle_connections, args.wakeup_connections) + 256)
        brokers = make_brokers(names, args, sol, tmp)
        out = open(args.out, "a") if args.out else None
        if args.latency_sweep:
            return latency_sweep(args, brokers, loadgen, out)
        if args.costs:
            return cost_table(args, brokers, loadgen, out)
        runs = cases(scenarios, args.workloads)
        results, _failures = side_by_side(args, brokers, loadgen, runs, out, interleave=args.websockets)
        text = (f"medians of {args.repeats} run(s), {args.duration:g} s each, MQTT {args.protocol}; "
                "(+) higher is better, (-) lower is better; SCENARIO/WORKLOAD: sol-load's writes and "
                "TCP_NODELAY (floods: batch-nodelay)\n" + table(results, names, runs) + "\n")
        caveats = not_ratios(results, names, runs)
        if caveats:
            text += "\nnot ratios (the peer in a state a user rarely sees):\n  " + "\n  ".join(caveats) + "\n"
        versus = ws_table(results, runs)
        if versus:
            text += "\nSol over WebSockets against Sol over plain TCP (medians of the same run):\n" + versus + "\n"
        text = harness.with_steal_note(text)
        print()
        print(text)
        if args.write_docs:
            block = args.docs_block or ("websockets" if args.websockets else
                                        "side-by-side" if args.protocol == "3.1.1" else "side-by-side-mqtt5")
            harness.write_docs(args.write_docs, block, text)
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
