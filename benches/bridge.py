#!/usr/bin/env python3
"""Bridge benchmark (issue 13): Sol's store-and-forward bridge against Mosquitto's bridge,
and Sol's outbox through a long uplink outage.

Two modes:

- `throughput`: one upstream, Debian's Mosquitto 2.0 with the harness's stock settings on a
  free loopback port, kept for the whole run. In turn (the order alternating between
  repetitions), a bridging broker, Sol then Mosquitto, each started fresh with a bridge
  `connection up` to the upstream (`topic bench/# out QOS`), the same inflight window (20,
  both brokers' default) and the same queue cap (Sol's `bridge_outbox_messages`, Mosquitto's
  `max_queued_messages`, which caps its bridge's queue as any client's). Once a probe
  message crosses the bridge, tools/sol-load publishes into the bridging broker and its
  subscriber counts on the upstream (`--sub-port`) what arrives. Loads: `flood` (publishers
  as fast as acknowledgements allow) and `paced` (a fixed total rate both bridges carry).
  Measured: messages/s delivered upstream while publishing, lost, the bridging broker's CPU
  seconds per million messages delivered (all its threads, /proc) and its peak RSS; medians
  and Sol/Mosquitto ratios measured in the same run.
- `outage`: Sol (`--edge-persistence`, default on: the outbox's window in RAM, the rest
  on disk) bridged to an upstream Mosquitto (persistence on, a persistent QoS 1
  subscriber counting what arrives, its queue unlimited). A steady QoS 1 stream goes into
  Sol; after a warm-up the upstream is stopped for `--outage-minutes`, with the outbox at a
  cap reached early (`bridge_outbox_messages`; `bridge_outbox_policy drop_oldest` by
  default); then it comes back and the stream stops. Sol's RSS is sampled every second
  from /proc and its `$SYS/broker/connection/up/{queued,dropped,...}` read (`sys_interval
  1`). Passes if: the queue stays at the cap; RSS at the end of the outage is within the
  tolerance of its level when the cap was reached, and every sample below the memory ceiling `sol check -c` prints for the
  configuration; the dropped counter equals what was offered during the outage beyond the
  cap; the messages lost are the ones the policy names (the oldest, or the newest); every
  message Sol acknowledged either arrived upstream or was counted as dropped; and the outbox
  drains (queued 0) once the upstream is back. Exits non-zero otherwise.

    benches/bridge.py throughput --quick          # ~40 s: 2 s runs, 1 repetition
    benches/bridge.py throughput                  # 10 s runs, 3 repetitions, QoS 1 (~4 min)
    benches/bridge.py throughput --qos 0 --scenarios flood,paced --rate 20000
    benches/bridge.py outage --quick              # 12 s outage, cap 2,000 (~30 s)
    benches/bridge.py outage                      # 10-minute outage at 1,000 msg/s, cap 20,000 (~11 min)

Python 3.9+ standard library only. Linux only (/proc). Loopback only, no fixed ports.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
import harness  # noqa: E402
import persistence  # noqa: E402
from harness import log  # noqa: E402

BRIDGE = "up"             # the bridge's `connection` name in both brokers
PEERS = ["sol", "mosquitto"]
STATS = ["queued", "inflight", "sent", "resent", "dropped", "received", "state"]


# ---------------------------------------------------------------- configuration

def sol_bridge_lines(upstream_port, qos, outbox_messages, outbox_bytes, policy="drop_oldest",
                     restart_timeout=None, sys_interval=None):
    """The lines a harness.SolBroker adds for a bridge `up` forwarding `bench/#` to the
    upstream at `upstream_port` with QoS `qos`."""
    lines = [f"sys_interval {sys_interval}"] if sys_interval else []
    lines += [f"connection {BRIDGE}", f"address 127.0.0.1:{upstream_port}", f"topic bench/# out {qos}",
              f"remote_clientid bench-sol-{os.getpid()}",
              f"bridge_outbox_messages {outbox_messages}", f"bridge_outbox_bytes {outbox_bytes}",
              f"bridge_outbox_policy {policy}"]
    if restart_timeout:
        lines.append(f"restart_timeout {restart_timeout}")
    return lines


def mosquitto_bridge_lines(upstream_port, qos, max_queued):
    """The same bridge for a harness.MosquittoBroker: its bridge's queue is capped by the
    global `max_queued_messages` (default 1000), as every client's; `max_queued_bytes` stays
    0 (none), its default."""
    return [f"max_queued_messages {max_queued}",
            f"connection {BRIDGE}", f"address 127.0.0.1:{upstream_port}", f"topic bench/# out {qos}",
            f"remote_clientid bench-mosquitto-{os.getpid()}"]


# ---------------------------------------------------------------- MQTT helpers

def seq_payload(seq, size):
    """A message's payload: its sequence number (8 bytes, big-endian), padded to `size`."""
    return seq.to_bytes(8, "big") + b"\0" * max(0, size - 8)


def payload_seq(payload):
    return int.from_bytes(payload[:8], "big")


class Arrivals:
    """The sequence numbers received upstream (`seen`) and how many came again (`repeats`),
    across the counting subscriber's connections."""

    def __init__(self):
        self.seen, self.repeats = set(), 0

    def add(self, payload):
        seq = payload_seq(payload)
        if seq in self.seen:
            self.repeats += 1
        self.seen.add(seq)


class Counter(persistence.Client):
    """A persistence.Client that adds each message it receives to `arrivals`."""

    def __init__(self, port, client_id, arrivals, **kw):
        self.arrivals = arrivals
        super().__init__(port, client_id, **kw)

    def _handle(self, first, body):
        if first >> 4 == 3:
            topic, qos, _pid = persistence.publish_fields(first, body)
            self.arrivals.add(body[2 + len(topic) + (2 if qos else 0):])
        super()._handle(first, body)


def connection_stats(payloads, name=BRIDGE):
    """Sol's `$SYS/broker/connection/NAME/...` values from a record_topics client's
    `payloads` (topic bytes -> last payload): {"queued": 12, ...}; missing ones are absent."""
    prefix = f"$SYS/broker/connection/{name}/"
    out = {}
    for topic, payload in payloads.items():
        t = topic.decode(errors="replace")
        key = t[len(prefix):] if t.startswith(prefix) else None
        if key in STATS:
            try:
                out[key] = int(payload.decode().split()[0])
            except (ValueError, IndexError, UnicodeDecodeError):
                pass
    return out


def wait_bridged(edge_port, upstream_port, timeout=20.0):
    """Waits until a QoS 0 message published into the bridging broker at `edge_port`
    arrives at the upstream: the bridge is connected and forwarding (a QoS 0 message is not
    kept while it is not). Raises RuntimeError after `timeout` seconds."""
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    sub = persistence.Client(upstream_port, f"bench-probe-sub-{tag}", timeout=5)
    pub = persistence.Client(edge_port, f"bench-probe-pub-{tag}", timeout=5)
    try:
        sub.subscribe("bench/probe", 0)
        sub.sock.settimeout(0.25)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pub.sock.sendall(persistence.publish("bench/probe", b"probe"))
            try:
                sub.read_until(lambda: sub.received > 0)
                return
            except (TimeoutError, socket.timeout):
                continue
        raise RuntimeError(f"no message crossed the bridge within {timeout:g} s")
    finally:
        sub.close()
        pub.close()


# ---------------------------------------------------------------- throughput

def load_args(scenario, args):
    """sol-load's arguments for `scenario` (`flood` or `paced`) without the ports."""
    rate = 0 if scenario == "flood" else args.rate
    return ["fan-in", "--publishers", str(args.publishers), "--subscribers", "1", "--qos", str(args.qos),
            "--size", str(args.size), "--rate", f"{rate:g}", "--duration", f"{args.duration:g}",
            "--drain", f"{args.drain:g}"]


TP_METRICS = [("recv_rate", "msg/s delivered upstream", "high"), ("lost", "lost", "low"),
              ("duplicates", "duplicates", "low"), ("cpu_s_per_m", "bridging broker CPU s/M delivered", "low"),
              ("broker_peak_rss_kb", "bridging broker peak RSS KiB", "low"),
              ("send_rate", "msg/s published", "high"), ("gen_cpu_pct", "generator CPU %", "low")]


def tp_table(results, scenarios):
    """Medians per bridging broker and scenario, with Sol/Mosquitto."""
    rows = []
    for sc in scenarios:
        for key, label, better in TP_METRICS:
            meds = {n: compare.median([float(r[key]) for r in results
                                       if r["broker"] == n and r["scenario_name"] == sc and key in r])
                    for n in PEERS}
            if all(v is None for v in meds.values()):
                continue
            s, m = meds["sol"], meds["mosquitto"]
            rows.append([sc, label + (" (+)" if better == "high" else " (-)"), compare.fmt(s), compare.fmt(m),
                         f"{s / m:.3g}x" if s is not None and m else "-"])
    return compare.columns(["scenario", "metric", "sol", "mosquitto", "sol/mosquitto"], rows)


def tp_notes(args):
    """What each bridging broker was given, printed under the table."""
    return "\n".join([
        f"bridge: `topic bench/# out {args.qos}`, MQTT 3.1.1 upstream, cleansession false (both defaults), "
        f"inflight window {harness.INFLIGHT} each",
        f"  sol:       bridge_outbox_messages {args.outbox_messages}, bridge_outbox_bytes {args.outbox_bytes} "
        f"(window: bridge_receive_maximum default {harness.INFLIGHT})",
        f"  mosquitto: max_queued_messages {args.outbox_messages} (stock 1000), max_queued_bytes 0 (stock), "
        f"max_inflight_messages {harness.INFLIGHT} (stock); otherwise stock (no set_tcp_nodelay)",
        "upstream: Debian's Mosquitto, stock (max_inflight_messages 20, max_queued_messages 1000)",
        f"load: sol-load fan-in, {args.publishers} publishers -> the bridging broker, 1 subscriber on the "
        f"upstream, QoS {args.qos}, {args.size} B; flood = as fast as acknowledged, paced = {args.rate:g} msg/s",
        "CPU: the bridging broker's, over the publishing window, per million messages delivered upstream in it",
    ])


def throughput(args, sol, loadgen, mosquitto, tmp, out):
    upstream = harness.MosquittoBroker("upstream", mosquitto, tmp)
    _proc, up_port = upstream.start()
    log(f"upstream: mosquitto on 127.0.0.1:{up_port}")
    brokers = [
        harness.SolBroker("sol", sol, tmp, sol_bridge_lines(up_port, args.qos, args.outbox_messages,
                                                            args.outbox_bytes)),
        harness.MosquittoBroker("mosquitto", mosquitto, tmp,
                                mosquitto_bridge_lines(up_port, args.qos, args.outbox_messages)),
    ]
    results, failures = [], []
    try:
        for rep, sc in compare.run_order(args.scenarios, args.repeats, interleave=False):
            for b in (brokers if rep % 2 == 0 else list(reversed(brokers))):
                if not upstream.alive():
                    raise SystemExit("the upstream died")
                log(f"{sc} #{rep + 1} bridged by {b.name}")
                gen_args = load_args(sc, args) + ["--sub-port", str(up_port)]
                try:
                    r = harness.measure(b, gen_args, loadgen, harness.cpu_window(args.duration),
                                        timeout=args.duration + args.drain + 120,
                                        setup=lambda port: wait_bridged(port, up_port))
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                    log(f"  failed: {e}")
                    failures.append(f"{sc} bridged by {b.name}: {e}")
                    continue
                if r.get("errors"):
                    failures.append(f"{sc} bridged by {b.name}: {r['errors']} connection errors")
                r.update({"scenario_name": sc, "repeat": rep, "mode": "throughput"})
                results.append(r)
                persistence.emit(out, r)
    finally:
        upstream.stop()
    print()
    print(f"bridged throughput to one Mosquitto upstream, medians of {args.repeats} run(s), "
          f"{args.duration:g} s each; (+) higher is better, (-) lower is better")
    print(tp_table(results, args.scenarios))
    print()
    print(tp_notes(args))
    return failures


# ---------------------------------------------------------------- outage: verdict

def cap_reached_at(series):
    """Seconds into the outage of the first sample with a drop counted (the cap reached),
    or None. `series` holds dicts with `t` and `dropped`."""
    base = next((s["dropped"] for s in series if s.get("dropped") is not None), None)
    for s in series:
        if s.get("dropped") is not None and base is not None and s["dropped"] > base:
            return s["t"]
    return None


def rss_check(series, t_cap, t_end, pct, kib):
    """RSS after the cap: `ref` is the median over the first window after `t_cap` (a quarter
    of what follows, at most 30 s), `end` the median over the last quarter of the outage,
    `peak` the highest sample after the first window; flat if `end - ref` (growth that
    stays) is within max(`pct` % of ref, `kib`). `peak` is reported, not judged here: a
    store compaction's plan is a transient of its own (the ceiling check bounds it)."""
    window = min(30.0, (t_end - t_cap) / 4)
    first = [s["rss_kb"] for s in series if t_cap <= s["t"] < t_cap + window]
    rest = [s["rss_kb"] for s in series if t_cap + window <= s["t"] <= t_end]
    if not first or not rest:
        return {"ok": False, "why": "too few RSS samples after the cap was reached"}
    ref, peak = statistics.median(first), max(rest)
    end = statistics.median(rest[-max(1, len(rest) // 4):])
    allowed = max(ref * pct / 100, kib)
    return {"ok": end - ref <= allowed, "ref_kb": ref, "peak_kb": peak, "growth_kb": end - ref,
            "allowed_kb": round(allowed, 1), "window_s": window, "end_kb": end}


def policy_check(policy, lost, seq_stop, seq_end, cap, tol):
    """Whether the sequence numbers `lost` (offered, never delivered) are the ones `policy`
    drops when `seq_stop`..`seq_end` (exclusive) were offered during the outage into an outbox
    of `cap` messages, within `tol`: only outage messages, and for drop_oldest all but the
    newest `cap`, for refuse_new all but the first `cap`. Returns (ok, text)."""
    if not lost:
        return seq_end - seq_stop <= cap + tol, "nothing lost"
    lo, hi = min(lost), max(lost)
    text = f"lost #{lo:,}..#{hi:,} of #{seq_stop:,}..#{seq_end - 1:,} offered during the outage"
    if lo < seq_stop - tol:
        return False, text + ": messages from before the outage"
    if policy == "drop_oldest":
        return hi < seq_end - cap + tol, text + f" (the newest {cap:,} must arrive)"
    return lo >= seq_stop + cap - tol, text + f" (the first {cap:,} must arrive)"


def outage_verdict(o, args, ceiling):
    """Checks an outage run `o` (the numbers `outage` gathered): a list of (check, measured,
    expected, ok)."""
    cap, tol = args.outbox_messages, 2 * harness.INFLIGHT
    checks = []
    t_cap = o["t_cap"]
    checks.append(("outbox cap reached", "never" if t_cap is None else f"{t_cap:.0f} s into the outage",
                   "during the outage", t_cap is not None))
    qmax = o["queued_max"]
    checks.append(("most messages queued", f"{qmax:,}", f"{cap:,} (the cap), not above",
                   qmax is not None and cap - tol <= qmax <= cap))
    if t_cap is not None:
        r = o["rss"]
        if "ref_kb" in r:
            checks.append(("RSS after the cap", f"{r['ref_kb']:,.0f} -> {r['end_kb']:,.0f} KiB at the end "
                           f"({r['growth_kb']:+,.0f}; transient max {r['peak_kb']:,})",
                           f"growth <= {r['allowed_kb']:,.0f} KiB", r["ok"]))
        else:
            checks.append(("RSS after the cap", r["why"], "", False))
    checks.append(("peak RSS", f"{o['peak_rss_kb']:,} KiB", f"< ceiling {ceiling // 1024:,} KiB (sol check)",
                   o["peak_rss_kb"] * 1024 < ceiling))
    expected = max(0, o["offered_outage"] - cap)
    dropped = o["dropped"]
    checks.append(("dropped (counted)", f"{dropped:,}", f"{expected:,} +- {tol} (offered during the outage - cap)",
                   dropped is not None and abs(dropped - expected) <= tol))
    ok, text = policy_check(args.policy, o["lost_seqs"], o["seq_stop"], o["seq_end"], cap, tol)
    checks.append((f"messages lost ({args.policy})", text, "the ones the policy drops", ok))
    uncounted = o["offered"] - o["delivered"] - (dropped or 0)
    checks.append(("acknowledged, not delivered, not counted", f"{max(0, uncounted):,}", "0", uncounted <= 0))
    checks.append(("outbox drained after the upstream came back",
                   "no" if o["drain_s"] is None else f"queued 0 after {o['drain_s']:.1f} s",
                   f"within {args.drain_timeout:g} s", o["drain_s"] is not None))
    least = min(cap, o["offered_outage"]) - tol
    checks.append(("delivered after the upstream came back", f"{o['delivered_after']:,}", f">= {least:,}",
                   o["delivered_after"] >= least))
    return checks


def outage_report(o, checks, args, ceiling):
    lines = [f"outage of {args.outage_minutes:g} min, {args.rate:g} msg/s QoS 1 into Sol (persistence "
             f"{args.edge_persistence}), outbox "
             f"{args.outbox_messages:,} messages / {args.outbox_bytes}, {args.policy}, ceiling "
             f"{ceiling / 2**20:.1f} MiB (`sol check -c`)",
             f"offered {o['offered']:,} (during the outage {o['offered_outage']:,}), delivered upstream "
             f"{o['delivered']:,} unique ({o['repeats']:,} repeats), Sol's counters at the end: "
             + ", ".join(f"{k} {v:,}" for k, v in o["stats_end"].items()),
             f"RSS before the outage {o['rss_before_kb']:,} KiB, at the cap {o['rss'].get('ref_kb', 0):,.0f} KiB, "
             f"end of outage {o['rss'].get('end_kb', 0):,.0f} KiB, peak {o['peak_rss_kb']:,} KiB", ""]
    rows = [[name, measured, expected, "ok" if ok else "FAILED"] for name, measured, expected, ok in checks]
    lines.append(compare.columns(["check", "measured", "expected", "verdict"], rows, left=4))
    return "\n".join(lines)


# ---------------------------------------------------------------- outage: run

class Stream:
    """QoS 1 messages `bench/outage/s` at `rate` per second from `publisher`, numbered."""

    def __init__(self, publisher, rate, size):
        self.pub, self.rate, self.size = publisher, rate, size
        self.t0, self.n = time.monotonic(), 0
        self.on = True

    def due(self, now):
        if not self.on:
            return now + 3600
        target = int((now - self.t0) * self.rate)
        while self.n < target:
            self.pub.pending.append(("bench/outage/s", seq_payload(self.n, self.size), 1, False))
            self.n += 1
        return self.t0 + (self.n + 1) / self.rate


def outage(args, sol, mosquitto, tmp, out):
    store = os.path.join(tmp, "upstream-store")
    os.mkdir(store)
    os.chmod(store, 0o777)  # Mosquitto started as root writes it as its own user
    # The counting subscriber's queue holds the whole outbox; its session survives restarts.
    up_lines = persistence.persistence_lines("mosquitto", "on", store, 3600) + ["max_queued_messages 0"]
    upstream = harness.MosquittoBroker("upstream", mosquitto, tmp, up_lines)
    _proc, up_port = upstream.start()
    edge_store = os.path.join(tmp, "edge-store")
    os.mkdir(edge_store)
    os.chmod(edge_store, 0o777)
    edge_lines = sol_bridge_lines(up_port, 1, args.outbox_messages, args.outbox_bytes, args.policy,
                                  restart_timeout=args.restart_timeout, sys_interval=1)
    edge_lines += persistence.persistence_lines("sol", args.edge_persistence, edge_store, 300)
    edge = harness.SolBroker("sol", sol, tmp, edge_lines)
    proc, port = edge.start()
    ceiling = edge.ceiling_bytes(edge.conf)
    log(f"outage: Sol on {port} bridged to Mosquitto on {up_port}; ceiling {ceiling / 2**20:.1f} MiB")
    loop = persistence.Loop()
    arrivals, series, stats = Arrivals(), [], {}
    seen = arrivals.seen
    try:
        wait_bridged(port, up_port)
        central = Counter(up_port, "bench-central", arrivals, clean=False)
        central.subscribe("bench/outage/#", 1)
        loop.add(central)
        watcher = persistence.Client(port, "bench-watch", record_topics=True)
        watcher.subscribe(f"$SYS/broker/connection/{BRIDGE}/#", 0)
        loop.add(watcher)
        pub = loop.add(persistence.Client(port, "bench-stream"))
        stream = Stream(pub, args.rate, args.size)
        phase = {"name": "warm-up", "t0": time.monotonic()}

        def sample(now):
            stats.update(connection_stats(watcher.payloads))
            s = {"phase": phase["name"], "t": round(now - phase["t0"], 2),
                 "rss_kb": harness.proc_sample(proc.pid)["rss_kb"], "offered": pub.sent, "acked": pub.acked,
                 "delivered": len(seen)}
            s.update(stats)
            series.append(s)
            if args.quick or len(series) % 60 == 0:
                log(f"  {s['phase']} t={s['t']:.0f} s: RSS {s['rss_kb']:,} KiB, queued {s.get('queued')}, "
                    f"dropped {s.get('dropped')}, offered {pub.sent:,}, delivered {len(seen):,}")

        def begin(name):
            phase.update(name=name, t0=time.monotonic())

        log(f"warm-up: {args.warmup:g} s with the upstream up")
        loop.run(args.warmup, due=stream.due, every=sample)
        rss_before = harness.proc_sample(proc.pid)["rss_kb"]
        # The upstream goes away; the central subscriber first (its session stays there).
        loop.clients.remove(central)
        loop.sel.unregister(central.sock)
        central.close()
        upstream.stop()
        seq_stop = stream.n
        log(f"upstream stopped: outage of {args.outage_minutes:g} min")
        begin("outage")
        seconds = args.outage_minutes * 60
        loop.run(seconds, due=stream.due, every=sample)
        stream.on = False
        seq_end = stream.n
        if not edge.alive():
            raise RuntimeError("Sol died during the outage")
        # Sol acknowledges what it takes: its last PUBACKs before the upstream returns.
        loop.run(30, until=pub.done)
        upstream.start(port=up_port)
        log("upstream back")
        begin("drain")
        central = loop.add(Counter(up_port, "bench-central", arrivals, clean=False))
        sent_at_back = stats.get("sent", 0)
        drained = {}

        def is_drained():
            now = time.monotonic()
            s = connection_stats(watcher.payloads)
            if s.get("queued") == 0 and s.get("inflight") == 0 and s.get("sent", 0) > sent_at_back:
                drained.setdefault("at", now)
                # Settled: nothing more arriving upstream for 2 s.
                return now - central.last_rx > 2.0 and now - drained["at"] > 1.5
            drained.pop("at", None)
            return False

        ok = loop.run(args.drain_timeout, until=is_drained, every=sample)
        drain_s = drained["at"] - phase["t0"] if ok else None
        stats.update(connection_stats(watcher.payloads))
        offered = pub.sent
        lost = sorted(set(range(offered)) - seen)
        during = [s for s in series if s["phase"] == "outage"]
        o = {
            "offered": offered, "offered_outage": seq_end - seq_stop, "seq_stop": seq_stop, "seq_end": seq_end,
            "delivered": len(seen), "repeats": arrivals.repeats,
            "delivered_after": len([s for s in seen if s >= seq_stop]),
            "lost_seqs": lost, "dropped": stats.get("dropped"), "stats_end": dict(stats),
            "t_cap": cap_reached_at(during),
            "queued_max": max((s.get("queued", 0) for s in during), default=None),
            "peak_rss_kb": max(s["rss_kb"] for s in series), "rss_before_kb": rss_before,
            "drain_s": drain_s,
        }
        o["rss"] = (rss_check(during, o["t_cap"], seconds, args.rss_tolerance_pct, args.rss_tolerance_kib)
                    if o["t_cap"] is not None else {"ok": False, "why": "cap never reached"})
        if not edge.alive():
            raise RuntimeError("Sol died")
    finally:
        loop.close()
        edge.stop()
        upstream.stop()
    checks = outage_verdict(o, args, ceiling)
    print()
    print(outage_report(o, checks, args, ceiling))
    persistence.emit(out, {"mode": "outage", "args": vars(args), "ceiling": ceiling,
                           **{k: v for k, v in o.items() if k != "lost_seqs"}, "lost": len(lost),
                           "checks": checks, "series": series})
    return [f"outage: {name}: {measured} (expected {expected})" for name, measured, expected, ok in checks if not ok]


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["throughput", "outage"])
    ap.add_argument("--quick", action="store_true",
                    help="throughput: 2 s runs, 1 repetition; outage: 0.2 min, 2 s warm-up, cap 2,000")
    ap.add_argument("--qos", type=int, choices=[0, 1], default=1, help="throughput: QoS end to end (default 1)")
    ap.add_argument("--rate", type=float,
                    help="msg/s: throughput's paced load (default 10000); the outage's stream (default 1000)")
    ap.add_argument("--size", type=int, default=64, help="payload bytes (default 64)")
    ap.add_argument("--outbox-messages", type=int,
                    help="Sol's bridge_outbox_messages, and Mosquitto's max_queued_messages in throughput "
                    "(default: throughput 100000, outage 20000, outage --quick 2000)")
    ap.add_argument("--outbox-bytes", help="Sol's bridge_outbox_bytes (default: throughput 64M, outage 4M)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--out", help="append every run as a JSON line to this file")
    g = ap.add_argument_group("throughput")
    g.add_argument("--scenarios", default="flood,paced", help="comma-separated, from: flood, paced")
    g.add_argument("--publishers", type=int, default=16, help="publishers into the bridging broker (default 16)")
    g.add_argument("--duration", type=float, help="seconds of load per run (default 10; --quick 2)")
    g.add_argument("--drain", type=float, default=5.0, help="sol-load's longest wait for the last messages")
    g.add_argument("--repeats", type=int, help="runs per broker and scenario (default 3; --quick 1)")
    g = ap.add_argument_group("outage")
    g.add_argument("--outage-minutes", type=float, help="how long the upstream is away (default 10; --quick 0.2)")
    g.add_argument("--warmup", type=float, help="seconds of stream before the outage (default 10; --quick 2)")
    g.add_argument("--policy", choices=["drop_oldest", "refuse_new"], default="drop_oldest",
                   help="Sol's bridge_outbox_policy (default drop_oldest)")
    g.add_argument("--edge-persistence", choices=["off", "on", "sync"], default="on",
                   help="the bridging Sol's persistence (default on: the outbox keeps a window in RAM "
                        "and the rest on disk; off: all of it in RAM)")
    g.add_argument("--restart-timeout", default="2", help="Sol's restart_timeout (default 2: a constant 2 s)")
    g.add_argument("--drain-timeout", type=float, default=120.0,
                   help="longest wait for the outbox to drain once the upstream is back (default 120 s)")
    g.add_argument("--rss-tolerance-pct", type=float, default=5.0, help="RSS growth after the cap allowed, %%")
    g.add_argument("--rss-tolerance-kib", type=float, default=512.0,
                   help="... or this many KiB, whichever is larger (default 512)")
    args = ap.parse_args()
    q, tp = args.quick, args.mode == "throughput"
    if q:
        harness.STEAL_RERUNS = 0  # quick timings are not published: no run is made again
    args.rate = args.rate if args.rate is not None else (10000.0 if tp else 1000.0)
    args.outbox_messages = args.outbox_messages or (100000 if tp else 2000 if q else 20000)
    args.outbox_bytes = args.outbox_bytes or ("64M" if tp else "4M")
    args.duration = args.duration or (2.0 if q else 10.0)
    args.repeats = args.repeats or (1 if q else 3)
    args.outage_minutes = args.outage_minutes if args.outage_minutes is not None else (0.2 if q else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (2.0 if q else 10.0)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    for s in args.scenarios:
        if s not in ("flood", "paced"):
            raise SystemExit(f"unknown scenario {s}; known: flood, paced")
    if args.size < 8:
        raise SystemExit("--size must be at least 8 (the sequence number)")

    sol, loadgen = harness.build(args.no_build)
    mosquitto = harness.ensure_mosquitto()
    harness.raise_nofile(1024)
    log(f"machine: {harness.machine()}; "
        f"{subprocess.run([mosquitto, '-h'], capture_output=True, text=True).stdout.splitlines()[:1]}")
    with harness.bench_run("sol-bridge-", args.out) as (tmp, out):
        if tp:
            failures = throughput(args, sol, loadgen, mosquitto, tmp, out)
        else:
            try:
                failures = outage(args, sol, mosquitto, tmp, out)
            except (RuntimeError, OSError) as e:
                failures = [f"outage: {e}"]
    for f in failures:
        log(f"FAILED: {f}")
    if not tp:
        log("outage: " + ("FAILED" if failures else "PASSED"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
