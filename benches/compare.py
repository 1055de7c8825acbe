#!/usr/bin/env python3
"""Side-by-side benchmark: Sol against Mosquitto 2.0 on loopback, with tools/sol-load.

Builds Sol (speed-tuned `release` profile) and sol-load, installs Debian's mosquitto with
apt-get if it is missing, then runs every scenario against each broker in turn (the order
alternates between repetitions), each run on a freshly started broker on an ephemeral
loopback port. While a run lasts, the broker's CPU time, RSS and context switches are
sampled from /proc/PID/stat and /proc/PID/status. Prints a table of medians with
Sol/other ratios; --out FILE keeps every run as one JSON line.

    benches/compare.py --quick              # smoke test: seconds per run, one repetition
    benches/compare.py                      # 10 s runs, 3 repetitions, 10k idle connections
    benches/compare.py --scenarios fanin-q0,latency --repeats 5 --out /tmp/r.jsonl

Python 3.9+ standard library only. Linux only (/proc).
"""

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# name -> (sol-load arguments, metrics to tabulate). A metric is (json key, label, better),
# better being "high" or "low". Broker-side metrics are computed by this script.
SCENARIOS = {
    "fanin-q0": (["fan-in", "--qos", "0", "--size", "64"],
                 [("recv_rate", "msg/s delivered", "high"), ("lost", "lost", "low")]),
    "fanout-q0": (["fan-out", "--qos", "0", "--size", "64"],
                  [("recv_rate", "msg/s delivered", "high"), ("lost", "lost", "low")]),
    "fanin-q1": (["fan-in", "--qos", "1", "--size", "64"],
                 [("recv_rate", "msg/s delivered", "high"), ("lost", "lost", "low")]),
    "fanout-q1": (["fan-out", "--qos", "1", "--size", "64"],
                  [("recv_rate", "msg/s delivered", "high"), ("lost", "lost", "low")]),
    "latency": (["latency", "--qos", "0", "--size", "64", "--rate", "20000"],
                [("lat_p50_us", "p50 us", "low"), ("lat_p99_us", "p99 us", "low"),
                 ("lat_max_us", "max us", "low"), ("lost", "lost", "low")]),
    # Two threads: one generator thread is the limit in a connect storm (kernel connect/close).
    "storm": (["storm", "--threads", "2"], [("connects_per_s", "connects/s", "high")]),
    "idle-rss": (["idle"], [("rss_per_conn", "RSS B/idle conn", "low")]),
    "idle-wakeups": (["idle"], [("wakeups_per_s", "ctx switches/s idle", "low")]),
}
COMMON = [("broker_cpu_s", "broker CPU s", "low"), ("broker_peak_rss_kb", "broker peak RSS KiB", "low"),
          ("gen_cpu_pct", "generator CPU %", "low")]
DEFAULT_SCENARIOS = ["fanin-q0", "fanout-q0", "fanin-q1", "latency", "storm", "idle-rss", "idle-wakeups"]


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc sampling

def proc_sample(pid):
    """CPU seconds (user+system), RSS and peak RSS in KiB, context switches of `pid`."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            status[k] = v.split()[0] if v.split() else ""
    return {
        "cpu": cpu,
        "rss_kb": int(status.get("VmRSS", 0)),
        "hwm_kb": int(status.get("VmHWM", 0)),
        "vol": int(status.get("voluntary_ctxt_switches", 0)),
        "nonvol": int(status.get("nonvoluntary_ctxt_switches", 0)),
    }


class Sampler(threading.Thread):
    """Samples a process every `interval` seconds and keeps the peak RSS."""

    def __init__(self, pid, interval=0.1):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                s = proc_sample(self.pid)
                self.peak_kb = max(self.peak_kb, s["rss_kb"])
            except (OSError, ValueError):
                return
            self.stop.wait(self.interval)


# ---------------------------------------------------------------- brokers

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class Broker:
    """One broker under test: `start()` returns (process, port) on a fresh instance."""

    def __init__(self, name, kind, binary, extra_conf, tmp, max_conn):
        self.name, self.kind, self.binary = name, kind, binary
        self.extra_conf, self.tmp, self.max_conn = extra_conf, tmp, max_conn
        self.proc = None

    def _conf(self, port):
        lines = ["allow_anonymous true", "max_inflight_messages 20", "log_dest stderr"]
        lines += self.extra_conf
        if self.kind == "sol":
            lines = ["listener 0 127.0.0.1"] + lines + [f"max_connections {self.max_conn}"]
        else:
            lines = [f"listener {port} 127.0.0.1"] + lines
        path = os.path.join(self.tmp, f"{self.name}.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self):
        for _attempt in range(5):
            port = 0 if self.kind == "sol" else free_port()
            conf = self._conf(port)
            logf = open(os.path.join(self.tmp, f"{self.name}.log"), "w+")
            proc = subprocess.Popen([self.binary, "-c", conf], stdout=logf, stderr=logf,
                                    stdin=subprocess.DEVNULL)
            if self.kind == "sol":
                port = self._sol_port(logf, proc)
            if port and wait_port(port, proc):
                self.proc, self.logf = proc, logf
                return proc, port
            proc.kill()
            proc.wait()
            logf.seek(0)
            log(f"{self.name} did not start on port {port}, retrying: {logf.read()[-300:]!r}")
            logf.close()
        raise SystemExit(f"{self.name}: could not start")

    @staticmethod
    def _sol_port(logf, proc, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end and proc.poll() is None:
            logf.seek(0)
            for line in logf.read().splitlines():
                if "listening on 127.0.0.1:" in line:
                    return int(line.rsplit(":", 1)[1])
            time.sleep(0.02)
        return 0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.logf.close()


# ---------------------------------------------------------------- one run

def run_once(broker, scenario, args, loadgen):
    gen_args, _metrics = SCENARIOS[scenario]
    proc, port = broker.start()
    try:
        time.sleep(0.2)
        base = proc_sample(proc.pid)
        cmd = [loadgen] + gen_args + ["-p", str(port), "--label", broker.name]
        idle = scenario.startswith("idle")
        if idle:
            n = args.idle_connections if scenario == "idle-rss" else args.wakeup_connections
            hold = args.idle_hold
            cmd += ["--connections", str(n), "--duration", str(hold)]
        else:
            cmd += ["--duration", str(args.duration)]
        sampler = Sampler(proc.pid)
        sampler.start()
        gen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        extra = {}
        human = []
        if idle:
            for line in gen.stderr:
                if line.startswith("ready"):
                    break
                human.append(line.rstrip())
            settle = min(1.0, hold / 4)
            time.sleep(settle)
            s0 = proc_sample(proc.pid)
            window = max(0.5, hold - settle - 1.0)
            time.sleep(window)
            s1 = proc_sample(proc.pid)
            extra["rss_idle_kb"] = s0["rss_kb"]
            extra["rss_base_kb"] = base["rss_kb"]
            extra["rss_per_conn"] = round((s0["rss_kb"] - base["rss_kb"]) * 1024 / n, 1)
            extra["wakeups_per_s"] = round((s1["vol"] + s1["nonvol"] - s0["vol"] - s0["nonvol"]) / window, 2)
            extra["voluntary_per_s"] = round((s1["vol"] - s0["vol"]) / window, 2)
        out, err = gen.communicate(timeout=args.duration + args.idle_hold + 120)
        human += [line for line in err.splitlines() if line]
        end = proc_sample(proc.pid)
        sampler.stop.set()
        sampler.join()
        if gen.returncode != 0:
            raise RuntimeError(f"sol-load failed on {broker.name}/{scenario}: {err.strip()}")
        line = next(line for line in out.splitlines() if line.startswith("{"))
        result = json.loads(line)
        result.update(extra)
        result["broker"] = broker.name
        result["scenario_name"] = scenario
        result["broker_cpu_s"] = round(end["cpu"] - base["cpu"], 3)
        result["broker_peak_rss_kb"] = max(end["hwm_kb"], sampler.peak_kb)
        for h in human:
            log(f"  {h}")
        return result
    finally:
        broker.stop()


# ---------------------------------------------------------------- table

def median(values):
    return statistics.median(values) if values else None


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}" if v != int(v) else f"{int(v)}"


def table(results, brokers, scenarios):
    names = [b.name for b in brokers]
    others = names[1:]
    header = ["scenario", "metric"] + names + [f"sol/{o}" for o in others]
    rows = []
    for sc in scenarios:
        for key, label, better in SCENARIOS[sc][1] + COMMON:
            meds = {}
            for n in names:
                vals = [r[key] for r in results if r["broker"] == n and r["scenario_name"] == sc and key in r]
                meds[n] = median([float(v) for v in vals])
            if all(v is None for v in meds.values()):
                continue
            ratios = []
            for o in others:
                s, m = meds.get(names[0]), meds.get(o)
                ratios.append(f"{s / m:.3g}x" if s is not None and m else "-")
            rows.append([sc, label + (" (+)" if better == "high" else " (-)")]
                        + [fmt(meds[n]) for n in names] + ratios)
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---------------------------------------------------------------- set-up

def ensure_mosquitto():
    path = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if path:
        return path
    log("installing mosquitto with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "mosquitto"], check=True, env=env)
    return shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def build(no_build):
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    if not no_build:
        log("building sol (release profile) and sol-load")
        subprocess.run(["cargo", "build", "--release", "-p", "sol", "-p", "sol-load"], cwd=REPO, check=True)
    sol, loadgen = (os.path.join(target, "release", b) for b in ("sol", "sol-load"))
    for b in (sol, loadgen):
        if not os.access(b, os.X_OK):
            raise SystemExit(f"{b} missing: build first or drop --no-build")
    return sol, loadgen


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke test: 2 s runs, 1 repetition, 1000 idle connections")
    ap.add_argument("--duration", type=float, help="seconds of load per run (default 10; --quick 2)")
    ap.add_argument("--repeats", type=int, help="runs per broker and scenario (default 3; --quick 1)")
    ap.add_argument("--idle-connections", type=int, help="connections for idle-rss (default 10000; --quick 1000)")
    ap.add_argument("--wakeup-connections", type=int, default=1000, help="connections for idle-wakeups (default 1000)")
    ap.add_argument("--idle-hold", type=float, help="seconds the idle connections are held (default 20; --quick 4)")
    ap.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS),
                    help=f"comma-separated, from: {', '.join(SCENARIOS)}")
    ap.add_argument("--no-nodelay", action="store_true", help="skip Mosquitto with set_tcp_nodelay true")
    ap.add_argument("--connection-messages", action="store_true",
                    help="keep both brokers' per-connection log lines (off by default: they cost CPU in the storm)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--out", help="append every run as a JSON line to this file")
    args = ap.parse_args()
    q = args.quick
    args.duration = args.duration or (2.0 if q else 10.0)
    args.repeats = args.repeats or (1 if q else 3)
    args.idle_connections = args.idle_connections or (1000 if q else 10000)
    args.idle_hold = args.idle_hold or (4.0 if q else 20.0)
    scenarios = [s for s in args.scenarios.split(",") if s]
    for s in scenarios:
        if s not in SCENARIOS:
            raise SystemExit(f"unknown scenario {s}; known: {', '.join(SCENARIOS)}")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by both brokers
    need = max(args.idle_connections, args.wakeup_connections) + 256
    if hard < need:
        log(f"warning: open-file hard limit {hard} is below {need}; idle runs may fail")

    mosquitto = ensure_mosquitto()
    sol, loadgen = build(args.no_build)
    version = subprocess.run([mosquitto, "-h"], capture_output=True, text=True).stdout.splitlines()[:1]
    log(f"mosquitto: {version[0] if version else '?'}")

    quiet = [] if args.connection_messages else ["connection_messages false"]
    tmp = tempfile.mkdtemp(prefix="sol-compare-")
    os.chmod(tmp, 0o755)  # mosquitto started as root reads its config before dropping privileges
    brokers = [Broker("sol", "sol", sol, quiet, tmp, need),
               Broker("mosquitto", "mosquitto", mosquitto, quiet, tmp, need)]
    if not args.no_nodelay:
        brokers.append(Broker("mosq-nodelay", "mosquitto", mosquitto, quiet + ["set_tcp_nodelay true"], tmp, need))

    results = []
    out = open(args.out, "a") if args.out else None
    for sc in scenarios:
        for rep in range(args.repeats):
            order = brokers if rep % 2 == 0 else list(reversed(brokers))
            for b in order:
                log(f"{sc} #{rep + 1} on {b.name}")
                try:
                    r = run_once(b, sc, args, loadgen)
                except (RuntimeError, StopIteration, subprocess.TimeoutExpired) as e:
                    log(f"  failed: {e}")
                    continue
                r["repeat"] = rep
                results.append(r)
                if out:
                    out.write(json.dumps(r) + "\n")
                    out.flush()
    print()
    print(f"medians of {args.repeats} run(s), {args.duration:g} s each; (+) higher is better, (-) lower is better")
    print(table(results, brokers, scenarios))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
