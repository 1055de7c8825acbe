#!/usr/bin/env python3
"""Instructions per message, counted: Sol and Mosquitto under `valgrind --tool=callgrind`
(issue 14, "cost per message as a slow CPU sees it"), and the CI check that keeps Sol's
counts from growing.

Gateways run Sol on 580 MHz MIPS and Cortex-A7/A53 cores at modest rates, where messages
arrive one at a time and instructions, not the loopback, are the limit. Timing cannot
resolve a few hundred instructions per message on a shared machine; callgrind counts them.

Each broker runs fresh on a loopback port under callgrind, driven by `sol-load` at a paced
rate. Every workload runs twice, for a short and a long duration, and the figure is
Δinstructions / Δunits between the two runs, so start-up, connection set-up and shutdown
cancel. A unit is a delivered message (a delivery to one subscriber in fan-out) or one
connect/CONNACK/DISCONNECT cycle. A run whose `sol-load` lost a message, saw an error, or
fell behind the paced rate (the broker did not keep up under callgrind) is rejected.

    benches/instructions.py                      # Sol (3 runs each) and Mosquitto, the table
    benches/instructions.py --peers sol --repeats 1 --workloads fanin-q0,fanin-q1
    benches/instructions.py --json out.json --breakdown 15   # + top functions per message
    benches/instructions.py --peers sol --workloads fanin-q0 --repeats 1 --keep /tmp/cg
                                                 # + the callgrind files, for line by line
    benches/instructions.py --check              # CI: Sol, short runs, against the baseline
    benches/instructions.py --update             # rewrite benches/instructions.json

`--check` measures Sol only on the short workload set (`CHECK_DURATIONS`, `CHECK_REPEATS`
runs each, the median) and compares each figure with the committed baseline
(benches/instructions.json): it fails, printing the figures, when one grows more than 5 %
over it. A deliberate growth (a feature that costs instructions) is recorded by running
`--update` and committing the new baseline in the same commit, whose message says why;
a drop is locked in the same way, so the next growth is measured from there.

Brokers: Sol from the `profiling` cargo profile (the `release` code with line tables, so
callgrind can name functions), built here unless `--no-build`, as configured by
benches/harness.py (`listener 0`, anonymous, `max_inflight_messages 20`,
`connection_messages false`); Debian's /usr/sbin/mosquitto with its stock settings plus
the same lines. Both get `user root`: started as root, each would switch to an unprivileged
user and could then not write the callgrind output file valgrind created as root (the
per-message path does not change). Both get `sys_interval 0`: a `$SYS` update is work done
every 10 s, not per message (about 60,000 instructions in Sol with nothing connected), and
would fall in one run of a pair and not the other.

Workload shapes and why they are stable: see WORKLOADS and docs/performance.md
("Instructions per message"). Needs valgrind (Debian: apt-get install valgrind). Python
3.9+, standard library only.
"""

import argparse
import datetime
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BASELINE = os.path.join(harness.REPO, "benches", "instructions.json")
# A figure more than this fraction above the baseline fails `--check`.
TOLERANCE = 0.05
# The full measurement: durations (seconds) of the short and long run, and Sol's repeats.
DURATIONS = (2.0, 6.0)
REPEATS = 3
# `--check` (CI): shorter runs, the median of this many (one run that a busy machine
# pushed off, see WORKLOADS, does not move it).
CHECK_DURATIONS = (1.0, 3.0)
CHECK_REPEATS = 3
# A run is rejected when fewer than this fraction of the paced messages (or cycles) were
# sent, or delivered while publishing: the broker (or sol-load) did not keep up.
KEPT_UP = 0.97
# A rejected run (a busy machine stalled the broker under callgrind) is run again this often.
RETRIES = 1


class Workload:
    """One sol-load invocation, paced. `per` names the unit the figure divides by."""

    def __init__(self, name, title, per, args, rate):
        self.name, self.title, self.per, self.args = name, title, per, list(args)
        self.rate = rate

    def command(self, duration):
        return self.args + ["--rate", str(self.rate), "--duration", str(duration)]

    def units(self, load):
        """What the figure divides by: deliveries, or connect cycles for a storm."""
        return load["connects"] if self.per == "cycle" else load["received"]


# 64 B payloads, MQTT 3.1.1, `--drain 2` (sol-load waits for the last deliveries), every
# PUBLISH in its own write, written when it falls due (`--write-mode single`: publisher n's
# schedule is offset by n / rate, so the run's messages are evenly spaced).
#
# How much a message costs depends on how many packets arrive together: one read, one pass
# of the event loop and one write can serve one packet or several. Under callgrind Sol
# needs about 0.2-0.4 ms of wall time per message, so at 5,000 msg/s (one every 200 µs)
# how many share a read depends on how much CPU the machine gives Sol and sol-load, and
# repeated counts of one build differ by 1-20 %. Those two rows (`issue-*`) are the
# issue's shape, kept to compare with its independent harness. Even at 1,000 msg/s a
# busy machine (load 3-4 on 2 cores) moved the QoS 1 fan-in count by up to 11 %. At the
# rates below, 250 msg/s fan-in (4 ms apart), 100 msg/s fan-out and 200 connects/s, every
# packet arrives on its own (the gateway case, where nothing batches) and repeated counts
# agree within 0.0-0.4 % most of the time (about one run in twelve is off by up to 8 %,
# which a median of three absorbs): those are the rows `--check` measures.
_PUBSUB = ["--size", "64", "--drain", "2", "--write-mode", "single"]
WORKLOADS = {w.name: w for w in [
    Workload("fanin-q0", "fan-in 4 -> 1, QoS 0, 250 msg/s", "message",
             ["fan-in", "--publishers", "4", "--qos", "0"] + _PUBSUB, 250),
    Workload("fanin-q1", "fan-in 4 -> 1, QoS 1, 250 msg/s", "message",
             ["fan-in", "--publishers", "4", "--qos", "1"] + _PUBSUB, 250),
    Workload("fanout-q0", "fan-out 1 -> 10, QoS 0, 100 msg/s", "delivery",
             ["fan-out", "--subscribers", "10", "--qos", "0"] + _PUBSUB, 100),
    Workload("fanout-q1", "fan-out 1 -> 10, QoS 1, 100 msg/s", "delivery",
             ["fan-out", "--subscribers", "10", "--qos", "1"] + _PUBSUB, 100),
    Workload("connect", "connect/CONNACK/DISCONNECT, 200 cycles/s, 2 at a time", "cycle",
             ["storm", "--concurrency", "2"], 200),
    Workload("issue-q0", "fan-in 4 -> 1, QoS 0, 5,000 msg/s (batching varies)", "message",
             ["fan-in", "--publishers", "4", "--qos", "0"] + _PUBSUB, 5000),
    Workload("issue-q1", "fan-in 4 -> 1, QoS 1, 5,000 msg/s (batching varies)", "message",
             ["fan-in", "--publishers", "4", "--qos", "1"] + _PUBSUB, 5000),
]}
# The stable shapes (see above).
CHECK_WORKLOADS = ["fanin-q0", "fanin-q1", "fanout-q0", "fanout-q1", "connect"]


# ---------------------------------------------------------------- pure parts (unit-tested)

def parse_collected(log_text):
    """The instruction count callgrind prints at exit (`==PID== Collected : N`); None if
    there is none (the program did not exit cleanly)."""
    found = re.findall(r"^==\d+== Collected : (\d+)\s*$", log_text, re.M)
    return int(found[-1]) if found else None


def parse_totals(out_text):
    """The first event's total (Ir) of a callgrind output file: its `totals:` line, else its
    `summary:` line; None if it has neither."""
    for key in ("totals", "summary"):
        m = re.search(rf"^{key}:\s+(\d+)", out_text, re.M)
        if m:
            return int(m.group(1))
    return None


def per_unit(short, long):
    """Δinstructions / Δunits between a short and a long run, each (instructions, units):
    what one more message (or cycle) costs, start-up and shutdown cancelled."""
    d_units = long[1] - short[1]
    if d_units <= 0:
        raise ValueError(f"the long run has no more units than the short one ({long[1]} <= {short[1]})")
    return (long[0] - short[0]) / d_units


def spread(values):
    """(max - min) / median of repeated figures: 0.02 is a 2 % spread."""
    med = statistics.median(values)
    return (max(values) - min(values)) / med if med else 0.0


def summary(figures, rejected=()):
    """One broker's result for one workload: its figures, their median and spread, and why
    runs were rejected, if any were (median None when every run was)."""
    out = {"figures": [round(f, 1) for f in figures],
           "median": round(statistics.median(figures), 1) if figures else None,
           "max": round(max(figures), 1) if figures else None,
           "spread": round(spread(figures), 4) if figures else None}
    if rejected:
        out["rejected"] = list(rejected)
    return out


def load_problems(workload, load, duration):
    """Why a sol-load result cannot be used for a figure (empty list: it can)."""
    problems = []
    if load.get("errors"):
        problems.append(f"{load['errors']} errors")
    paced = workload.rate * duration
    if workload.per == "cycle":
        if load["connects"] < KEPT_UP * paced:
            problems.append(f"{load['connects']} cycles of {paced:.0f} paced")
        return problems
    if load.get("lost"):
        problems.append(f"{load['lost']} messages lost")
    if load["sent"] < KEPT_UP * paced:
        problems.append(f"sent {load['sent']} of {paced:.0f} paced")
    if load["received_in_window"] < KEPT_UP * load["expected"]:
        problems.append(f"{load['received_in_window']} of {load['expected']} delivered while "
                        "publishing: the broker fell behind")
    return problems


def compare(measured, baseline, tolerance=TOLERANCE):
    """Each workload's figure against the baseline's: rows (name, baseline, measured,
    ratio, verdict) and whether all pass. A figure more than `tolerance` above its
    baseline fails, and so does one the baseline does not have."""
    rows, ok = [], True
    for name, now in measured.items():
        base = baseline.get(name)
        if base is None:
            rows.append((name, None, now, None, "FAIL: not in the baseline (run --update)"))
            ok = False
            continue
        ratio = now / base
        if ratio > 1 + tolerance:
            verdict = f"FAIL: +{(ratio - 1) * 100:.1f} % (more than {tolerance * 100:.0f} %)"
            ok = False
        elif ratio < 1 - tolerance:
            verdict = f"ok, {(ratio - 1) * 100:.1f} %: lock the gain in with --update"
        else:
            verdict = "ok"
        rows.append((name, base, now, ratio, verdict))
    return rows, ok


_ANNOTATE_LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*?):(.*?)(?: \[[^\]]*\])?\s*$")


def parse_annotate(text, by="function"):
    """Self instructions from `callgrind_annotate --inclusive=no --auto=no` output, summed
    per function (`by="function"`: over the source files its instructions came from, as
    inlined code is listed under its own file) or per source file (`by="file"`)."""
    per = {}
    for line in text.splitlines():
        m = _ANNOTATE_LINE.match(line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        key = (m.group(3) if by == "function" else m.group(2)).strip()
        per[key] = per.get(key, 0) + int(m.group(1).replace(",", ""))
    return per


def breakdown(short, long, d_units, top):
    """The `top` functions by self instructions per unit: Δ of each function's count
    between the short and the long run, over Δunits. Rows (function, per unit), largest
    first, and the per-unit total of the rest."""
    delta = {f: (long.get(f, 0) - short.get(f, 0)) / d_units for f in set(short) | set(long)}
    ranked = sorted(delta.items(), key=lambda kv: -kv[1])
    return ranked[:top], sum(v for _, v in ranked[top:])


# ---------------------------------------------------------------- brokers under callgrind

class _Callgrind:
    """Mixed into a harness broker: runs it under callgrind, output in `out`."""

    out = None

    def _command(self, conf):
        return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.out}"] + super()._command(conf)

    def _conf(self, port, limits):
        text, ext = super()._conf(port, limits)
        return text + "user root\nsys_interval 0\n", ext


class SolCallgrind(_Callgrind, harness.SolBroker):
    def _port(self, port, logf, proc, timeout=60.0):
        # valgrind takes a while to start a program.
        return super()._port(port, logf, proc, timeout)


class MosquittoCallgrind(_Callgrind, harness.MosquittoBroker):
    pass


def stop_and_count(broker):
    """SIGTERM, wait for callgrind's dump; the instruction count (output file, else log)."""
    proc = broker.proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{broker.name} did not exit within 120 s of SIGTERM")
    broker.logf.seek(0)
    log_text = broker.logf.read()
    broker.stop()
    total = None
    if os.path.exists(broker.out):
        with open(broker.out) as f:
            total = parse_totals(f.read())
    if total is None:
        total = parse_collected(log_text)
    if total is None:
        raise RuntimeError(f"{broker.name}: no instruction count; log ends {log_text[-400:]!r}")
    return total


def run_once(broker, loadgen, workload, duration, out):
    """One broker under callgrind, one sol-load run: (instructions, units, load JSON)."""
    broker.out = out
    if os.path.exists(out):
        os.unlink(out)
    _proc, port = broker.start()
    gen = harness.LoadGen(loadgen, workload.command(duration), port, broker.name)
    try:
        load = gen.finish(timeout=duration + 120)
    except RuntimeError:
        broker.stop()
        raise
    instructions = stop_and_count(broker)
    problems = load_problems(workload, load, duration)
    if problems:
        raise RuntimeError(f"{broker.name} {workload.name} {duration:g} s rejected: " + "; ".join(problems))
    return instructions, workload.units(load), load


# Numbers the callgrind files of a process's runs (kept ones must not be overwritten).
_RUN = itertools.count()


def measure(broker, loadgen, workload, durations, tmp, keep=False):
    """One figure: the short and the long run. With `keep`, the two callgrind files stay
    (for `--breakdown`) and their paths are returned too."""
    runs = []
    for d in durations:
        out = os.path.join(tmp, f"{broker.name}-{workload.name}-{d:g}.{next(_RUN)}.callgrind")
        for attempt in range(RETRIES + 1):
            try:
                i, u, load = run_once(broker, loadgen, workload, d, out)
                break
            except RuntimeError as e:
                if attempt == RETRIES:
                    raise
                harness.log(f"{e}; once more")
        units = "deliveries" if workload.per == "delivery" else workload.per + "s"
        harness.log(f"{broker.name} {workload.name} {d:g} s: {i:,} instructions, {u:,} {units} "
                    f"(whole run {i / u:,.0f} per {workload.per})")
        runs.append((i, u, out))
        if not keep:
            os.unlink(out)
    (i0, u0, f0), (i1, u1, f1) = runs
    return per_unit((i0, u0), (i1, u1)), (f0, f1, u1 - u0)


# ---------------------------------------------------------------- set-up and reporting

def build(no_build):
    """The `profiling` Sol and the `release` sol-load; their paths."""
    sol, = harness.binaries(["sol"], no_build, "profiling")
    loadgen, = harness.binaries(["sol-load"], no_build)
    return sol, loadgen


def git_commit():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=harness.REPO, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=harness.REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def shown(path):
    """`path` relative to the repository when it is inside it."""
    rel = os.path.relpath(os.path.abspath(path), harness.REPO)
    return path if rel.startswith("..") else rel


def fmt(v):
    return "-" if v is None else f"{v:,.0f}"


def print_rejected(results):
    """Why runs gave no figure (a loss, an error, a broker that fell behind under callgrind)."""
    for name, r in results.items():
        for peer, res in r.items():
            for why in res.get("rejected", []):
                print(f"rejected: {why}")


def print_table(results, workloads, peers):
    """Workload, Sol (median and spread of its runs), Mosquitto, Sol / Mosquitto."""
    titles = {w.name: f"{w.name}: {w.title}, per {w.per}" for w in workloads}
    width = max(len(t) for t in titles.values())
    print(f"\n{'workload':<{width}} {'Sol':>8} {'spread':>7} {'Mosquitto':>10} {'ratio':>6}")
    for w in workloads:
        r = results.get(w.name, {})
        sol, mos = r.get("sol"), r.get("mosquitto")
        s = sol["median"] if sol else None
        m = mos["median"] if mos else None
        sp = f"{sol['spread'] * 100:.1f} %" if sol and len(sol["figures"]) > 1 else "-"
        if sol and sol.get("rejected"):
            sp += f" ({len(sol['rejected'])} rejected)"
        ratio = f"{s / m:.2f}" if s and m else "-"
        st = "rejected" if sol and s is None else fmt(s)
        mt = "rejected" if mos and m is None else fmt(m)
        print(f"{titles[w.name]:<{width}} {st:>8} {sp:>7} {mt:>10} {ratio:>6}")
    runs = [(w.name, results[w.name]["sol"]["figures"]) for w in workloads if results.get(w.name, {}).get("sol")]
    if runs:
        print("\nSol's runs: " + "; ".join(f"{n} " + ", ".join(f"{v:,.0f}" for v in f) for n, f in runs))
    if "mosquitto" not in peers:
        print("(Mosquitto not measured: --peers sol)")


def annotate(path, by):
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    return parse_annotate(out, by)


def keep_files(paths, directory):
    """Copies callgrind files into `directory` (made if missing) and says where they are."""
    os.makedirs(directory, exist_ok=True)
    for path in paths:
        to = os.path.join(directory, os.path.basename(path))
        shutil.copyfile(path, to)
        print(f"kept {to}")


def print_breakdown(name, files, top):
    """Markdown tables: the `top` functions, then source files, by self instructions per unit."""
    f0, f1, d_units = files
    for by in ("function", "file"):
        rows, rest = breakdown(annotate(f0, by), annotate(f1, by), d_units, top)
        total = sum(v for _, v in rows) + rest
        print(f"\n{name}: self instructions per unit by {by} (Δ of the long and the short run), "
              f"total {total:,.0f}\n")
        print(f"| {by} | per unit | share |\n|---|---:|---:|")
        for key, v in rows:
            key = re.sub(r"^/rustc/[0-9a-f]+/", "rustc:", key.replace(harness.REPO + "/", ""))
            print(f"| `{key}` | {v:,.0f} | {v / total * 100:.1f} % |")
        print(f"| the rest | {rest:,.0f} | {rest / total * 100:.1f} % |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", default="sol,mosquitto", help="sol, mosquitto or both (default)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated: " + ", ".join(WORKLOADS))
    ap.add_argument("--repeats", type=int, default=None,
                    help=f"runs of each Sol workload (default {REPEATS}; --check {CHECK_REPEATS}); Mosquitto runs once")
    ap.add_argument("--durations", default=None,
                    help=f"short,long seconds (default {DURATIONS[0]:g},{DURATIONS[1]:g}; "
                         f"--check {CHECK_DURATIONS[0]:g},{CHECK_DURATIONS[1]:g})")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    ap.add_argument("--breakdown", type=int, metavar="N", default=0,
                    help="after the table, Sol's top N functions and source files by self instructions per unit "
                         "in its highest run (callgrind_annotate)")
    ap.add_argument("--keep", metavar="DIR",
                    help="copy the callgrind files of Sol's highest run of each workload (short and long) "
                         "into DIR, for `callgrind_annotate --auto=yes --inclusive=no FILE` line by line")
    ap.add_argument("--check", action="store_true", help="Sol only, short runs: fail on >5 %% growth over the baseline")
    ap.add_argument("--update", action="store_true", help="measure as --check does and rewrite the baseline")
    ap.add_argument("--baseline", default=BASELINE, help="baseline file (default benches/instructions.json)")
    ap.add_argument("--sol", help="the Sol binary to measure (default: target/profiling/sol)")
    ap.add_argument("--mosquitto", help="the Mosquitto binary (default: Debian's)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    a = ap.parse_args()

    gate = a.check or a.update
    peers = ["sol"] if gate else [p for p in a.peers.split(",") if p]
    for p in peers:
        if p not in ("sol", "mosquitto"):
            raise SystemExit(f"--peers: unknown broker {p!r}")
    names = CHECK_WORKLOADS if gate else [n for n in a.workloads.split(",") if n]
    for n in names:
        if n not in WORKLOADS:
            raise SystemExit(f"--workloads: unknown workload {n!r} (known: {', '.join(WORKLOADS)})")
    workloads = [WORKLOADS[n] for n in names]
    repeats = a.repeats or (CHECK_REPEATS if gate else REPEATS)
    durations = CHECK_DURATIONS if gate else DURATIONS
    if a.durations:
        durations = tuple(float(x) for x in a.durations.split(","))
        if len(durations) != 2 or not 0 < durations[0] < durations[1]:
            raise SystemExit("--durations: two increasing positive numbers, short,long")
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind missing (Debian: apt-get install valgrind)")

    sol_bin, loadgen = build(a.no_build)
    sol_bin = a.sol or sol_bin
    tmp = tempfile.mkdtemp(prefix="sol-icount-")
    os.chmod(tmp, 0o755)
    brokers = {"sol": SolCallgrind("sol", sol_bin, tmp)}
    if "mosquitto" in peers:
        brokers["mosquitto"] = MosquittoCallgrind("mosquitto", a.mosquitto or harness.ensure_mosquitto(), tmp)

    results, kept = {}, {}
    try:
        for w in workloads:
            results[w.name] = {}
            for peer in peers:
                runs = repeats if peer == "sol" else 1
                figures, rejected = [], []
                for k in range(runs):
                    keep = (a.breakdown > 0 or a.keep is not None) and peer == "sol"
                    try:
                        fig, files = measure(brokers[peer], loadgen, w, durations, tmp, keep)
                    except RuntimeError as e:
                        harness.log(f"{e}: no figure from this run")
                        rejected.append(str(e))
                        continue
                    figures.append(fig)
                    if keep:
                        # The breakdown is of the highest run (nearest one packet per read).
                        if w.name in kept and kept[w.name][0] >= fig:
                            drop = files
                        else:
                            drop, kept[w.name] = kept.get(w.name, (0, ()))[1], (fig, files)
                        for f in drop[:2]:
                            os.unlink(f)
                    harness.log(f"{peer} {w.name}: {fig:,.0f} instructions per {w.per}")
                results[w.name][peer] = summary(figures, rejected)
        print_table(results, workloads, peers)
        print_rejected(results)
        for name, (_fig, files) in kept.items():
            if a.breakdown > 0:
                print_breakdown(name, files, a.breakdown)
            if a.keep is not None:
                keep_files(files[:2], a.keep)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    record = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["benches/instructions.py"] + sys.argv[1:]),
        "commit": git_commit(),
        "machine": harness.machine(),
        "load_average": os.getloadavg()[0],
        "durations_s": list(durations),
        "repeats": repeats,
        "results": results,
    }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
    measured = {n: r["sol"]["median"] for n, r in results.items() if r.get("sol", {}).get("median") is not None}
    missing = [n for n, r in results.items() if "sol" in r and r["sol"]["median"] is None]
    if gate and missing:
        print(f"\nno figure for {', '.join(missing)}: every run was rejected (see above)")
        return 1
    if a.update:
        record["about"] = ("Sol's instructions per message (per cycle for `connect`) as benches/instructions.py "
                           "--check measures them; --check fails when one grows more than 5 % over this. "
                           "Rewritten by --update, committed with the change that moved them.")
        record["figures"] = measured
        with open(a.baseline, "w") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
        print(f"\nbaseline written: {shown(a.baseline)}")
    elif a.check:
        with open(a.baseline) as f:
            base = json.load(f)
        rows, ok = compare(measured, base["figures"])
        print(f"\nagainst {shown(a.baseline)} ({base['commit']}, {base['date']}):")
        print(f"{'workload':<12} {'baseline':>9} {'now':>9} {'ratio':>6}  verdict")
        for name, b, now, ratio, verdict in rows:
            r = "-" if ratio is None else f"{ratio:.3f}"
            print(f"{name:<12} {fmt(b):>9} {fmt(now):>9} {r:>6}  {verdict}")
        if not ok:
            print("\nAn instruction count grew more than 5 %. If the growth is deliberate, run "
                  "benches/instructions.py --update and commit the baseline with the change, "
                  "saying why in the commit message.")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
