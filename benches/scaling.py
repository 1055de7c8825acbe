"""Scaling curves (issue 4): broker CPU per delivered message, at a fixed rate, against the
number of connections and of subscriptions the broker holds besides the measured load.

A measured load (fan-in 10 -> 1, or fan-out 1 -> 10) runs at a fixed number of deliveries per
second, so the broker's CPU per message is comparable between points (a flood would measure
something else: how the broker degrades when saturated). Meanwhile sol-load holds
`--background-connections C` idle connections carrying `--background-subscriptions M`
filters (4-6 levels deep, sharing the measured topics' top levels, ~10 % with + or #, none
matching the measured traffic; see tools/sol-load/src/topics.rs). The measured topics are 5
levels deep. One curve sweeps C with M at its smallest value, the other sweeps M with C at
the middle of its list (1,000 by default). A flat curve means the cost per message does not
grow with connections or subscriptions.

Writes every run and the medians to a JSON file and the curves to an SVG (plain Python).
"""

import dataclasses
import json
import math
import statistics
import sys

import harness
from harness import log

# Measured loads: deliveries per second `rate` in total.
LOADS = {
    "fan-in": lambda rate: ["fan-in", "--publishers", "10", "--subscribers", "1", "--rate", f"{rate:g}"],
    "fan-out": lambda rate: ["fan-out", "--publishers", "1", "--subscribers", "10", "--rate", f"{rate / 10:g}"],
}
MEASURED_CONNECTIONS = 11
TOPIC_LEVELS = 5
SEED = 1


@dataclasses.dataclass
class Sweep:
    """What to sweep and how long each point runs."""
    connections: list
    subscriptions: list
    loads: list
    rate: float
    duration: float
    drain: float
    repeats: int

    @property
    def fixed_subscriptions(self):
        """Background subscriptions while connections are swept."""
        return min(self.subscriptions)

    @property
    def fixed_connections(self):
        """Background connections while subscriptions are swept (the middle of the list)."""
        return sorted(self.connections)[len(self.connections) // 2]

    def points(self):
        """(connections, subscriptions) pairs to run, each once even if on both curves."""
        pts = [(c, self.fixed_subscriptions) for c in self.connections]
        pts += [(self.fixed_connections, m) for m in self.subscriptions]
        return sorted(set(pts))


def limits(connections, subscriptions):
    """Caps for Sol so the point fits (Mosquitto has none by default; rumqttd gets
    max_connections)."""
    return {
        "max_connections": connections + MEASURED_CONNECTIONS + 64,
        "max_subscriptions": subscriptions + MEASURED_CONNECTIONS + 64,
        "max_subscriptions_per_client": math.ceil(subscriptions / max(connections, 1)) + 8,
    }


def run_point(broker, load, c, m, sweep, loadgen):
    gen_args = LOADS[load](sweep.rate) + [
        "--duration", str(sweep.duration), "--drain", str(sweep.drain),
        "--topic-levels", str(TOPIC_LEVELS), "--seed", str(SEED),
        "--background-connections", str(c), "--background-subscriptions", str(m)]
    r = harness.measure(broker, gen_args, loadgen, harness.cpu_window(sweep.duration), limits(c, m),
                        timeout=sweep.duration + sweep.drain + 180)
    r.update(load=load, connections=c, subscriptions=m)
    return r


def medians(runs):
    groups = {}
    for r in runs:
        if "cpu_s_per_m" in r:
            groups.setdefault((r["broker"], r["load"], r["connections"], r["subscriptions"]), []).append(r["cpu_s_per_m"])
    return [{"broker": b, "load": lo, "connections": c, "subscriptions": m,
             "cpu_us_per_msg": round(statistics.median(v), 3), "runs": len(v)}
            for (b, lo, c, m), v in sorted(groups.items())]


def curves(meds, sweep):
    """{(axis, broker, load): [(x, µs/msg), ...]} for the two axes."""
    out = {}
    for p in meds:
        if p["subscriptions"] == sweep.fixed_subscriptions and p["connections"] in sweep.connections:
            out.setdefault(("connections", p["broker"], p["load"]), []).append((p["connections"], p["cpu_us_per_msg"]))
        if p["connections"] == sweep.fixed_connections and p["subscriptions"] in sweep.subscriptions:
            out.setdefault(("subscriptions", p["broker"], p["load"]), []).append((p["subscriptions"], p["cpu_us_per_msg"]))
    return {k: sorted(v) for k, v in out.items()}


def run(sweep, brokers, loadgen, json_path, svg_path):
    """Runs the sweep on every broker (the order alternating per point); writes the JSON and
    SVG; returns a list of failures (runs that failed, or whose background connections
    received messages, which would change the deliveries per message)."""
    runs, failures = [], []
    for i, (c, m) in enumerate(sweep.points()):
        for load in sweep.loads:
            for rep in range(sweep.repeats):
                order = brokers if (i + rep) % 2 == 0 else list(reversed(brokers))
                for b in order:
                    log(f"scaling {load} C={c} M={m} #{rep + 1} on {b.name}")
                    try:
                        r = run_point(b, load, c, m, sweep, loadgen)
                    except RuntimeError as e:
                        log(f"  failed: {e}")
                        failures.append(f"scaling {load} C={c} M={m} on {b.name}: {e}")
                        continue
                    for key in ("other_received", "errors"):
                        if r.get(key):
                            failures.append(f"scaling {load} C={c} M={m} on {b.name}: {key} {r[key]}")
                    r["repeat"] = rep
                    runs.append(r)
    meds = medians(runs)
    doc = {"command": " ".join(sys.argv), "machine": harness.machine(), "sweep": dataclasses.asdict(sweep),
           "fixed_connections": sweep.fixed_connections, "fixed_subscriptions": sweep.fixed_subscriptions,
           "measured_connections": MEASURED_CONNECTIONS, "topic_levels": TOPIC_LEVELS, "seed": SEED,
           "medians": meds, "runs": runs}
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    with open(svg_path, "w") as f:
        f.write(svg(curves(meds, sweep), sweep))
    print(summary(meds, sweep))
    log(f"scaling: wrote {json_path} and {svg_path}")
    return failures


def summary(meds, sweep):
    """A text table: one row per point, one column per broker and load."""
    cols = sorted({(p["broker"], p["load"]) for p in meds})
    by = {(p["broker"], p["load"], p["connections"], p["subscriptions"]): p["cpu_us_per_msg"] for p in meds}
    lines = [f"broker CPU us per delivered message at {sweep.rate:g} deliveries/s (medians)",
             "connections  subscriptions  " + "  ".join(f"{b}/{lo}".rjust(18) for b, lo in cols)]
    for c, m in sweep.points():
        cells = [f"{by[(b, lo, c, m)]:.3f}" if (b, lo, c, m) in by else "-" for b, lo in cols]
        lines.append(f"{c:>11,}  {m:>13,}  " + "  ".join(x.rjust(18) for x in cells))
    return "\n".join(lines)


# ---------------------------------------------------------------- SVG

COLOURS = {"sol": "#d9480f", "mosquitto": "#1c7ed6", "mosq-nodelay": "#5c940d", "rumqttd": "#862e9c"}
DASHES = {"fan-in": "", "fan-out": "6,4"}


def svg(curve_map, sweep, width=900, height=420):
    """Two panels (µs per delivered message against connections, against subscriptions),
    log-scale x, linear y from 0; one line per broker and load."""
    legend = sorted({(b, lo) for _, b, lo in curve_map})
    rows = max(1, math.ceil(len(legend) / 4))
    panel_w, top, bottom, left = (width - 60) / 2, 50 + 16 * (rows - 1), 60, 60
    plot_h = height - top - bottom
    ys = [y for pts in curve_map.values() for _, y in pts] or [1.0]
    ymax = nice_ceiling(max(ys) * 1.1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15">Broker CPU per delivered '
           f'message at {sweep.rate:,.0f} deliveries/s (lower is better; flat is the goal)</text>']
    panels = [("connections", sweep.connections, f"background connections ({sweep.fixed_subscriptions:,} subscriptions)"),
              ("subscriptions", sweep.subscriptions, f"background subscriptions ({sweep.fixed_connections:,} connections)")]
    for k, (axis, xs, title) in enumerate(panels):
        x0 = left + k * (panel_w + 20)
        w = panel_w - left + 20
        lo, hi = math.log10(min(xs)), math.log10(max(xs))
        span = (hi - lo) or 1.0

        def px(x, x0=x0, w=w, lo=lo, span=span):
            return x0 + (math.log10(x) - lo) / span * w

        def py(y):
            return top + plot_h - y / ymax * plot_h

        out.append(f'<text x="{x0 + w / 2}" y="{height - 15}" text-anchor="middle">{title}</text>')
        out.append(f'<line x1="{x0}" y1="{top + plot_h}" x2="{x0 + w}" y2="{top + plot_h}" stroke="black"/>')
        out.append(f'<line x1="{x0}" y1="{top}" x2="{x0}" y2="{top + plot_h}" stroke="black"/>')
        for x in xs:
            out.append(f'<text x="{px(x):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{x:,}</text>')
        for i in range(5):
            y = ymax * i / 4
            out.append(f'<line x1="{x0}" y1="{py(y):.1f}" x2="{x0 + w}" y2="{py(y):.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{x0 - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
        if k == 0:
            out.append(f'<text x="15" y="{top + plot_h / 2}" transform="rotate(-90 15 {top + plot_h / 2})" '
                       f'text-anchor="middle">CPU µs per delivered message</text>')
        for (ax, broker, load), pts in sorted(curve_map.items()):
            if ax != axis:
                continue
            colour, dash = COLOURS.get(broker, "black"), DASHES.get(load, "2,2")
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
                       f'stroke-dasharray="{dash}"/>')
            for x, y in pts:
                out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
    for i, (broker, load) in enumerate(legend):
        lx, ly = left + 10 + (i % 4) * 200, 36 + 16 * (i // 4)
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 24}" y2="{ly}" stroke="{COLOURS.get(broker, "black")}" '
                   f'stroke-width="2" stroke-dasharray="{DASHES.get(load, "2,2")}"/>')
        out.append(f'<text x="{lx + 30}" y="{ly + 4}">{broker} {load}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def nice_ceiling(v):
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above `v` (axis tops that read well)."""
    if v <= 0:
        return 1.0
    exp = math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * 10 ** exp >= v:
            return m * 10 ** exp
    return 10 ** (exp + 1)
