"""Soak (issue 4): Sol under mixed load and client churn for minutes; its RSS must stay flat
and below the memory ceiling `sol check` prints for the same configuration.

Six sol-load processes run at once against one Sol started with its defaults (plus what
compare.py gives every broker: anonymous access, inflight window 20, no connection log lines):

| load | what it exercises |
| --- | --- |
| fan-in QoS 0, 16 publishers, 4,000 msg/s, RETAIN on every message | the retained store being replaced constantly |
| fan-in QoS 1, 16 publishers, 4,000 msg/s | inflight windows, PUBACKs |
| fan-out QoS 0, 20 subscribers, 200 msg/s | shared messages in many queues |
| fan-out QoS 1, 20 subscribers, 200 msg/s | the same with acknowledgements |
| sessions: 20 persistent QoS 1 subscribers, 100 msg/s, online 5 s / offline 5 s | offline queues filling and draining |
| storm: 200 connects/s, each subscribing to the retained topics, then disconnecting | client churn, subscriptions added and removed, retained messages sent to new subscribers |

RSS is sampled every second. The first 10 % of the soak (at most a minute) is warm-up; the
RSS at start is the median over the minute after it, the RSS at end the median over the last
minute (a quarter of the rest for soaks shorter than that). The soak fails if the highest
RSS is above the ceiling, if the end exceeds the start by more than the tolerance, if the
broker dies or a load fails.
"""

import json
import statistics

import harness
from harness import log

# (name, sol-load arguments without --duration).
LOADS = [
    ("fanin-q0-retained", ["fan-in", "--qos", "0", "--publishers", "16", "--rate", "4000", "--retain",
                           "--topic-root", "soak/retained"]),
    ("fanin-q1", ["fan-in", "--qos", "1", "--publishers", "16", "--rate", "4000"]),
    ("fanout-q0", ["fan-out", "--qos", "0", "--subscribers", "20", "--rate", "200"]),
    ("fanout-q1", ["fan-out", "--qos", "1", "--subscribers", "20", "--rate", "200"]),
    ("sessions", ["sessions", "--subscribers", "20", "--rate", "100", "--online", "5", "--offline", "5"]),
    ("churn", ["storm", "--rate", "200", "--subscribe", "--topic-root", "soak/retained"]),
]


def windows(seconds):
    """(warm-up, comparison window) in seconds for a soak of `seconds`."""
    warmup = min(60.0, seconds / 10)
    return warmup, min(60.0, (seconds - warmup) / 4)


def analyse(series, seconds, ceiling, tolerance_pct):
    """Start/end/max RSS from (t, KiB) samples and the verdict."""
    warmup, window = windows(seconds)
    first = [kb for t, kb in series if warmup <= t < warmup + window]
    last = [kb for t, kb in series if seconds - window <= t <= seconds]
    if not first or not last:
        return {"ok": False, "why": ["too few RSS samples"]}
    start, end, peak = statistics.median(first), statistics.median(last), max(kb for _, kb in series)
    growth = (end - start) / start * 100
    why = []
    if peak * 1024 > ceiling:
        why.append(f"RSS {peak:,} KiB above the ceiling {ceiling / 1024:,.0f} KiB")
    if growth > tolerance_pct:
        why.append(f"RSS grew {growth:.1f} % (tolerance {tolerance_pct:g} %)")
    return {"ok": not why, "why": why, "rss_start_kb": start, "rss_end_kb": end, "rss_max_kb": peak,
            "growth_pct": round(growth, 2), "ceiling_kb": ceiling // 1024, "warmup_s": warmup, "window_s": window}


def run(broker, loadgen, minutes, tolerance_pct, out=None):
    """Soaks `broker` (a harness.SolBroker) for `minutes`; prints the report, appends it to
    `out` as a JSON line if given, and returns whether it passed."""
    seconds = minutes * 60
    proc, port = broker.start()
    gens, results, failures = [], {}, []
    try:
        ceiling = broker.ceiling_bytes(broker.conf)
        log(f"soak: {minutes:g} min on {broker.name} (ceiling {ceiling / 2**20:.1f} MiB from `sol check -c`)")
        sampler = harness.Sampler(proc.pid, interval=1.0, keep=True)
        sampler.start()
        for name, args in LOADS:
            gens.append((name, harness.LoadGen(loadgen, args + ["--duration", str(seconds)], port, name)))
        for name, gen in gens:
            try:
                results[name] = gen.finish(timeout=seconds + 120)
            except RuntimeError as e:
                failures.append(f"{name}: {e}")
        sampler.finish()
        if not broker.alive():
            failures.append("the broker died")
    finally:
        for _, gen in gens:
            gen.kill()
        broker.stop()
    verdict = analyse(sampler.series, seconds, ceiling, tolerance_pct)
    verdict["why"] = failures + verdict["why"]
    verdict["ok"] = verdict["ok"] and not failures
    print(report(results, verdict, minutes))
    if out:
        with open(out, "a") as f:
            f.write(json.dumps({"soak_minutes": minutes, "tolerance_pct": tolerance_pct, **verdict,
                                "loads": results, "rss_series": sampler.series}) + "\n")
    return verdict["ok"]


def report(results, v, minutes):
    lines = [f"soak of {minutes:g} min: " + ("PASSED" if v["ok"] else "FAILED: " + "; ".join(v["why"]))]
    if "rss_start_kb" in v:
        lines.append(f"  RSS start {v['rss_start_kb']:,.0f} KiB (median of {v['warmup_s']:g}-"
                     f"{v['warmup_s'] + v['window_s']:g} s), end {v['rss_end_kb']:,.0f} KiB (median of the last "
                     f"{v['window_s']:g} s), growth {v['growth_pct']:+.1f} %, max {v['rss_max_kb']:,} KiB, "
                     f"ceiling {v['ceiling_kb']:,} KiB")
    lines.append("  load                 sent    received    lost  duplicates  connects  errors  gen CPU %")
    for name, _ in LOADS:
        r = results.get(name)
        if r is None:
            lines.append(f"  {name:<17}  (no result)")
            continue
        received = r.get("received", r.get("other_received", 0))
        lines.append(f"  {name:<17} {r.get('sent', 0):>8,} {received:>11,} {r.get('lost', 0):>7,} "
                     f"{r.get('duplicates', 0):>11,} {r.get('connects', 0):>9,} {r.get('errors', 0):>7,} "
                     f"{r.get('gen_cpu_pct', 0):>10}")
    return "\n".join(lines)
