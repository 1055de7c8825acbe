"""What each capability costs against plain MQTT 3.1.1 over TCP (issue 14): `compare.py --costs`.

Every load of `LOAD_METRICS` runs on every broker in every variant of `VARIANTS` that broker
has (`supports`): plain 3.1.1 over TCP (`BASE`), MQTT 5.0 clients, a TLS listener, a
WebSocket listener (Sol only: Debian's Mosquitto 2.0.11 is built without them), and
persistence on (`persistence true`, a fresh store directory, both brokers' default
`autosave_interval`, 1800 s: interval mode) or, Sol only, `persistence_sync true` as well.
The order of the runs is reversed on every other repetition and the table shows medians:
each variant's figure and its ratio to the same broker's plain figure, Sol's ratio and
Mosquitto's side by side, so that a reader sees whether a capability costs Sol more or
less than it costs Mosquitto.

Nothing here starts a broker: `run(broker, load, variant)` (compare.py's) does, so the logic
can be tested with fakes. Brokers only need `name`, `kind`, `tls` and `websockets`.
"""

import collections
import json
import subprocess

import persistence
import saturation
from harness import columns, fmt, median

# What a variant changes: sol-load's MQTT version, the listener (TLS, WebSockets) and the
# durability mode of the store ("interval" or "sync", as benches/persistence.py names them;
# None: persistence off).
Variant = collections.namedtuple("Variant", "protocol tls ws persistence", defaults=("3.1.1", False, False, None))
BASE = "3.1.1"
VARIANTS = {
    BASE: Variant(),
    "mqtt5": Variant(protocol="5"),
    "tls": Variant(tls=True),
    "ws": Variant(ws=True),
    "persist": Variant(persistence="interval"),
    "persist-sync": Variant(persistence="sync"),
}
# Both brokers' default autosave_interval (seconds), written out so that the table says it.
AUTOSAVE = 1800
# Broker kinds (harness.Broker.kind) with an MQTT 5.0 listener and a store.
V5_KINDS = PERSISTENT_KINDS = {"sol", "mosquitto"}

# Per load: its metrics, (result key, label, better) as in compare.py, better being "high"
# or "low". compare.py's `cost_loads` gives each load its sol-load arguments.
LOAD_METRICS = {
    "fanin-q0": [("recv_rate", "msg/s delivered", "high"), ("cpu_s_per_m", "broker CPU us/msg", "low")],
    "fanin-q1": [("cpu_s_per_m", "broker CPU us/msg", "low"), ("lat_p50_us", "p50 us", "low"),
                 ("lat_p99_us", "p99 us", "low"), ("lost", "lost", "low")],
    "fanout-q0": [("recv_rate", "deliveries/s", "high"), ("cpu_s_per_m", "broker CPU us/delivery", "low")],
    "latency": [("lat_p50_us", "p50 us", "low"), ("lat_p99_us", "p99 us", "low"), ("lost", "lost", "low")],
    "idle-rss": [("rss_per_conn", "RSS B/idle conn", "low")],
}


def supports(broker, variant_name):
    """Whether the harness can run `broker` in variant `variant_name`."""
    v = VARIANTS[variant_name]
    if v.tls and not broker.tls or v.ws and not broker.websockets:
        return False
    if v.protocol != "3.1.1" and broker.kind not in V5_KINDS:
        return False
    if v.persistence == "sync":
        return broker.kind == "sol"  # Mosquitto has no acknowledge-after-sync mode
    return v.persistence is None or broker.kind in PERSISTENT_KINDS


def conf_lines(kind, variant_name, directory):
    """The configuration lines variant `variant_name` adds to a `kind` broker storing in
    `directory` (listener lines are the harness's `tls` and `ws`)."""
    mode = VARIANTS[variant_name].persistence
    return persistence.persistence_lines(kind, mode, directory, AUTOSAVE) if mode else []


def gen_args(variant_name):
    """sol-load's extra arguments for the variant (its MQTT version)."""
    protocol = VARIANTS[variant_name].protocol
    return [] if protocol == "3.1.1" else ["--protocol", protocol]


def schedule(loads, variants, brokers, repeats):
    """(repetition, load, variant, broker) in the order they run: for each repetition and
    load, every variant on every broker that supports it, the order reversed on every other
    repetition (so the plain runs are first, then last)."""
    order = []
    for rep in range(repeats):
        for load in loads:
            pairs = [(v, b) for v in variants for b in brokers if supports(b, v)]
            order += [(rep, load, v, b) for v, b in (pairs if rep % 2 == 0 else reversed(pairs))]
    return order


def measure(run, loads, variants, brokers, repeats, log, out=None):
    """Runs the `schedule`; returns (results, failures). Each result is `run(broker, load,
    variant)` with `broker` (name), `load`, `variant` and `repeat` added; `out` (a file)
    gets each as a JSON line."""
    results, failures = [], []
    for rep, load, variant, b in schedule(loads, variants, brokers, repeats):
        log(f"costs: {load}, {variant} #{rep + 1} on {b.name}")
        try:
            r = run(b, load, variant)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            log(f"  failed: {e}")
            failures.append(f"{load}, {variant} on {b.name}: {e}")
            continue
        if r.get("errors"):
            log(f"  warning: {r['errors']} connection errors")
        r.update(broker=b.name, load=load, variant=variant, repeat=rep)
        results.append(r)
        if out:
            out.write(json.dumps(r) + "\n")
            out.flush()
    return results, failures


def medians(results, key):
    """{(broker, load, variant): median of `key`} over the results that have it."""
    vals = {}
    for r in results:
        if key in r and r[key] is not None:
            vals.setdefault((r["broker"], r["load"], r["variant"]), []).append(float(r[key]))
    return {k: median(v) for k, v in vals.items()}


def ratio(value, base):
    """`value / base` as the table shows it ("-" without both, or with a zero base)."""
    return f"{value / base:.3g}x" if value is not None and base else "-"


def table(results, brokers, loads, variants):
    """One row per load, metric and variant: each broker's median and its ratio to the same
    broker's `BASE` figure (the `BASE` row: `base`), the figures together, then the ratios.
    `n/a`: the broker has no such variant in the harness; `-`: no result."""
    names = [b.name for b in brokers]
    header = ["load", "metric", "variant"] + names + [f"{n}/{BASE}" for n in names]
    rows = []
    for load in loads:
        for key, label, better in LOAD_METRICS[load]:
            meds = medians(results, key)
            for v in variants:
                figures, ratios = [], []
                for b in brokers:
                    if not supports(b, v):
                        figures.append("n/a")
                        ratios.append("n/a")
                        continue
                    value = meds.get((b.name, load, v))
                    figures.append(fmt(value))
                    ratios.append("base" if v == BASE else ratio(value, meds.get((b.name, load, BASE))))
                if all(f in ("-", "n/a") for f in figures):
                    continue
                rows.append([load, label + (" (+)" if better == "high" else " (-)"), v] + figures + ratios)
    return columns(header, rows, left=3) if rows else ""


def not_at_rate(results, rates):
    """Paced runs (`rates`: {load: asked msg/s}) that lost messages or sent or delivered
    less than saturation.KEPT_UP of the rate: their figures are not at that rate."""
    out = []
    for r in results:
        rate = rates.get(r["load"])
        if rate and not saturation.passed(r, rate):
            out.append(f"{r['load']}, {r['variant']} #{r['repeat'] + 1} on {r['broker']}: sent "
                       f"{float(r.get('send_rate', 0)):,.0f}/s, lost {r.get('lost', '?')}")
    return out
