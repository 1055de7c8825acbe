"""Saturation, and latency at fixed fractions of Mosquitto's (issue 14): `compare.py --latency-sweep`.

For each load (compare.py's `fanin-q0`, `fanout-q0`, `fanin-q1`, `fanout-q1` by default) every
peer's saturation is measured in the same run:

- the flood: delivered msg/s and lost;
- QoS 1 only, the highest paced rate delivered with no loss. A flood that loses nothing is
  its own answer; otherwise (Mosquitto's QoS 1 fan-in collapses when flooded) a bisection
  between 0 and the rate the flood was acknowledged at: a probe at rate R passes when it lost
  nothing and both sent and delivered (while publishing) at least `KEPT_UP` of R (less means
  the broker's acknowledgements, or the generator, held the publishers back, or the broker
  fell behind).

A load's saturation is the lossless paced rate at QoS 1 and the flood's delivered rate at
QoS 0 (where losses are by design), in published messages per second (a fan-out's
deliveries divided by its subscribers). Then every peer runs every load at `FRACTIONS` of
stock Mosquitto's saturation (`--rate`), once per workload, and reports latency, lost and
broker CPU. Rates are per second of publishing; fan-out multiplies them by its subscribers.

Nothing here starts a broker: `run(broker, gen_args)` (compare.py's) does, so the logic can
be tested with a fake.
"""

# Fractions of stock Mosquitto's saturation the latency runs are paced at.
FRACTIONS = (0.5, 0.8)
# A paced probe passes if it sent at least this share of the asked rate (and lost nothing).
KEPT_UP = 0.95
# The peer whose saturation sets the rates.
REFERENCE = "mosquitto"


def published_rate(result):
    """Messages per second delivered while publishing, per subscriber (the publish rate a
    lossless broker sustained): `recv_rate / subscribers`."""
    return float(result["recv_rate"]) / max(1, int(result.get("subscribers", 1)))


def qos_of(gen_args):
    """The QoS sol-load is asked for (`--qos`, 0 if absent)."""
    return int(gen_args[gen_args.index("--qos") + 1]) if "--qos" in gen_args else 0


def passed(result, rate):
    """Whether a run paced at `rate` (published msg/s) delivered it: nothing lost, no
    connection error, and at least `KEPT_UP` of the rate both sent and delivered while
    publishing (a broker that acknowledges at the rate but delivers the backlog after the
    publishers stop did not sustain it)."""
    return (int(result.get("lost", 1)) == 0 and not result.get("errors")
            and float(result.get("send_rate", 0)) >= KEPT_UP * rate
            and published_rate(result) >= KEPT_UP * rate)


def bisect(ok, lo, hi, probes):
    """The highest rate in [lo, hi) that `ok(rate)` accepts, from `probes` probes halving the
    interval: `lo` is taken to pass, `hi` to fail. Rates are whole messages per second.
    Returns (rate, [(probed rate, passed), ...])."""
    trail = []
    for _ in range(probes):
        mid = round((lo + hi) / 2)
        if mid <= lo or mid >= hi:
            break
        good = ok(mid)
        trail.append((mid, good))
        if good:
            lo = mid
        else:
            hi = mid
    return lo, trail


def saturation(run, broker, load, gen_args, probes, log=lambda _msg: None):
    """One peer's saturation on one load (see the module comment): a dict of the flood's
    delivered msg/s (`flood_recv_rate`, deliveries), its lost count, for QoS 1 the lossless
    paced rate (`lossless_rate`, published msg/s) and the probes tried, and `saturation`
    (published msg/s)."""
    flood = run(broker, gen_args)
    sat = {"broker": broker.name, "load": load, "qos": qos_of(gen_args),
           "flood_recv_rate": float(flood["recv_rate"]), "flood_lost": int(flood["lost"]),
           "flood_send_rate": float(flood["send_rate"]), "subscribers": int(flood.get("subscribers", 1))}
    if sat["qos"] == 0:
        sat["saturation"] = published_rate(flood)
        return sat
    if passed(flood, 0):
        best, trail = published_rate(flood), []
    else:
        def ok(rate):
            good = passed(run(broker, gen_args + ["--rate", str(rate)]), rate)
            log(f"{load} on {broker.name}: {rate:,}/s {'passed' if good else 'failed'}")
            return good
        best, trail = bisect(ok, 0, round(float(flood["send_rate"])), probes)
    sat.update(lossless_rate=float(best), saturation=float(best), probes=trail)
    return sat


def paced_rates(reference):
    """{fraction: published msg/s} for the latency runs, from the reference's saturation."""
    return {f: max(1, round(f * reference)) for f in FRACTIONS}


def case(load, fraction, rate, workload):
    """The label of one latency point (the table's first column)."""
    return f"{load} {round(fraction * 100)}% {rate:,}/s {workload}"


SAT_METRICS = [("flood_recv_rate", "flood deliveries/s", "high"), ("flood_lost", "flood lost", "low"),
               ("lossless_rate", "lossless paced publishes/s", "high"),
               ("saturation", "saturation publishes/s", "high")]
LAT_METRICS = [("lat_p50_us", "p50 us", "low"), ("lat_p99_us", "p99 us", "low"), ("lat_max_us", "max us", "low"),
               ("lost", "lost", "low"), ("send_rate", "sent msg/s", "high"),
               ("broker_cpu_pct", "broker CPU %", "low"), ("gen_cpu_pct", "generator CPU %", "low")]


def sweep(run, brokers, loads, saturation_workload, workloads, repeats, probes, log):
    """The whole sweep: every peer's saturation on every load (floods and probes with the
    extra sol-load arguments `saturation_workload`), then every peer at `FRACTIONS` of the
    reference's saturation for each workload, `repeats` times, the order of the peers
    reversed on every other repetition. `loads` is {name: sol-load arguments}, `workloads`
    {name: extra sol-load arguments}. Returns (saturations, latency results, failures);
    each latency result carries `scenario_name` (its `case`) and `asked_rate`."""
    names = [b.name for b in brokers]
    if REFERENCE not in names:
        raise SystemExit(f"--latency-sweep needs {REFERENCE} among the peers (its saturation sets the rates)")
    sats, results, failures = [], [], []
    for load, gen_args in loads.items():
        for b in brokers:
            log(f"saturation of {b.name} on {load}")
            try:
                sats.append(saturation(run, b, load, list(gen_args) + list(saturation_workload), probes, log))
            except (RuntimeError, OSError) as e:
                failures.append(f"saturation of {load} on {b.name}: {e}")
    for load, gen_args in loads.items():
        ref = next((s["saturation"] for s in sats if s["load"] == load and s["broker"] == REFERENCE), None)
        if not ref:
            failures.append(f"{load}: no saturation measured for {REFERENCE}")
            continue
        for fraction, rate in paced_rates(ref).items():
            for workload, extra in workloads.items():
                label = case(load, fraction, rate, workload)
                for rep in range(repeats):
                    for b in brokers if rep % 2 == 0 else list(reversed(brokers)):
                        log(f"{label} #{rep + 1} on {b.name}")
                        try:
                            r = run(b, list(gen_args) + ["--rate", str(rate)] + list(extra))
                        except (RuntimeError, OSError) as e:
                            failures.append(f"{label} on {b.name}: {e}")
                            continue
                        r.update(scenario_name=label, repeat=rep, asked_rate=rate)
                        if "broker_cpu_window_s" in r and r.get("duration_s"):
                            r["broker_cpu_pct"] = round(100 * r["broker_cpu_window_s"] / float(r["duration_s"]), 1)
                        results.append(r)
    return sats, results, failures


def behind(results, names):
    """Latency points where some run sent less than `KEPT_UP` of the asked rate: the peer
    (or the generator) could not keep up, so its latency is not at that rate."""
    out = []
    for r in results:
        if r["broker"] in names and float(r.get("send_rate", 0)) < KEPT_UP * r["asked_rate"]:
            out.append(f"{r['scenario_name']} on {r['broker']}: sent {float(r['send_rate']):,.0f}/s")
    return out
