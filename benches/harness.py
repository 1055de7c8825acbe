"""What the benches share: the brokers under test, /proc sampling, running tools/sol-load, and
the frame of a main (`bench_run`: its directory, --out file and SIGTERM).

Brokers: Sol (built here, `release` profile), Debian's Mosquitto 2.0 (installed with apt-get
when missing), rumqttd 0.20.0 (installed with `cargo install` into a cache directory when
missing). Each run gets a fresh broker process on an ephemeral loopback port with a
configuration file written here; Sol and Mosquitto can make that listener TLS with the
throw-away certificates of `make_certs`, and Sol can make it a WebSocket listener (`protocol
websockets`; Debian's Mosquitto 2.0.11 is built without WebSockets). Python 3.9+ standard
library only. Linux only (/proc).
"""

import contextlib
import json
import os
import platform
import queue
import re
import resource
import shlex
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

# The same inflight window for every broker (Mosquitto's default).
INFLIGHT = 20
RUMQTTD_VERSION = "0.20.0"
# (broker CPU, sol-load CPU) when a bench runs them pinned (`--pin`), else None. Unpinned
# on two vCPUs the scheduler sometimes puts the broker and the generator on one CPU, where a
# wake-up is cheap, and sometimes on both, where each costs an inter-processor interrupt:
# the same build's p50 at 20,000 msg/s comes out 26-37 or 58-83 us by which it picked.
# Pinned, every run pays the second, as a broker whose clients are other machines does.
PIN = None


def pinned(cmd, which):
    """`cmd` under `taskset` on the CPU `PIN` gives `which` (0: broker, 1: sol-load)."""
    return cmd if PIN is None else ["taskset", "-c", str(PIN[which])] + cmd


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc sampling

def _tasks(pid):
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:
        return [str(pid)]


def _stat_seconds(pid):
    """User and system CPU seconds of all of `pid`'s threads: utime and stime of
    /proc/PID/stat (fields 14 and 15, 10 ms ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def _user_seconds(pid):
    """User-space CPU seconds of all of `pid`'s threads: the part of `_cpu_seconds` the
    process's own code spent, not the kernel's."""
    return _stat_seconds(pid)[0]


def _cpu_seconds(pid):
    """CPU seconds of all of `pid`'s threads: the nanosecond run times in
    /proc/PID/task/TID/schedstat, or utime + stime from /proc/PID/stat (10 ms ticks) where
    schedstat is missing. A multi-threaded broker (rumqttd) counts every thread."""
    total_ns = 0
    try:
        for tid in _tasks(pid):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total_ns += int(f.read().split()[0])
        return total_ns / 1e9
    except (OSError, ValueError, IndexError):
        pass
    return sum(_stat_seconds(pid))


# Host steal above which a run's timings say more about the host than about the brokers.
STEAL_WARN_PCT = 3.0
# Host steal above which `measure` runs a run again (at most STEAL_RERUNS times), so that a
# table's medians are of runs the host left alone. 0 reruns: keep every run (--smoke, whose
# timings are not published).
STEAL_RERUN_PCT = 5.0
STEAL_RERUNS = 2
# The host steal of every run `measure` kept in this process, in order (`steal_note`), and
# of the runs it made again.
steal_seen = []
steal_rerun = []


def cpu_times(stat_line):
    """(steal, total) jiffies of the machine from the `cpu` line of /proc/stat: steal is the
    time a hypervisor ran something else while this VM's CPUs wanted to run (0 on bare
    metal)."""
    fields = [int(x) for x in stat_line.split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def host_times():
    """`cpu_times` of the machine now."""
    with open("/proc/stat") as f:
        return cpu_times(f.readline())


def steal_pct(before, after):
    """Percent of all CPU time the host took between two `host_times` samples."""
    total = after[1] - before[1]
    return round(100.0 * (after[0] - before[0]) / total, 1) if total > 0 else 0.0


def steal_note(seen, rerun=()):
    """A line for under a table: the host steal of the runs `seen` (percentages), and how
    many were above STEAL_WARN_PCT, and how many runs were made again because the host
    took more than STEAL_RERUN_PCT (`rerun`, their steal); empty when nothing was."""
    parts = []
    if seen and max(seen) > STEAL_WARN_PCT:
        high = sum(1 for v in seen if v > STEAL_WARN_PCT)
        parts.append(f"host steal during the runs: median {median(seen):g} %, max {max(seen):g} %; {high} of "
                     f"{len(seen)} runs above {STEAL_WARN_PCT:g} % (the hypervisor took those CPUs: their "
                     f"timings measure the host as much as the brokers; rerun on a quiet host)")
    if rerun:
        parts.append(f"{len(rerun)} run(s) made again after the host took more than {STEAL_RERUN_PCT:g} % "
                     f"of the CPUs (up to {max(rerun):g} %); the tables hold the runs made again")
    return "\n".join(parts)


def with_steal_note(text):
    """`text` (a table) with the `steal_note` of this process's runs after it, if any."""
    note = steal_note(steal_seen, steal_rerun)
    return f"{text}\n{note}\n" if note else text


def disturbed(result, reruns_left):
    """Whether `measure` should make a run again: the host took more than STEAL_RERUN_PCT
    of the CPUs during it and reruns are left."""
    return reruns_left > 0 and result.get("host_steal_pct", 0.0) > STEAL_RERUN_PCT


def _status(path):
    status = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            status[k] = v.split()[0] if v.split() else ""
    return status


def proc_sample(pid):
    """CPU seconds (and the user-space part), RSS and peak RSS in KiB, and context switches
    of process `pid`.

    Context switches are per thread in /proc, so they are summed over the threads."""
    status = _status(f"/proc/{pid}/status")
    vol = nonvol = 0
    for tid in _tasks(pid):
        try:
            t = _status(f"/proc/{pid}/task/{tid}/status")
        except OSError:
            continue  # the thread ended meanwhile
        vol += int(t.get("voluntary_ctxt_switches", 0))
        nonvol += int(t.get("nonvoluntary_ctxt_switches", 0))
    return {
        "cpu": _cpu_seconds(pid),
        "user": _user_seconds(pid),
        "rss_kb": int(status.get("VmRSS", 0)),
        "hwm_kb": int(status.get("VmHWM", 0)),
        "vol": vol,
        "nonvol": nonvol,
    }


class Sampler(threading.Thread):
    """Samples a process every `interval` seconds: keeps the peak RSS and, with
    `keep=True`, every (seconds since start, RSS KiB) pair."""

    def __init__(self, pid, interval=0.1, keep=False):
        super().__init__(daemon=True)
        self.pid, self.interval, self.keep = pid, interval, keep
        self.peak_kb = 0
        self.series = []
        self.stop = threading.Event()

    def run(self):
        t0 = time.monotonic()
        while not self.stop.is_set():
            try:
                s = proc_sample(self.pid)
            except (OSError, ValueError):
                return
            self.peak_kb = max(self.peak_kb, s["rss_kb"])
            if self.keep:
                self.series.append((round(time.monotonic() - t0, 2), s["rss_kb"]))
            self.stop.wait(self.interval)

    def finish(self):
        self.stop.set()
        self.join()


# ---------------------------------------------------------------- brokers

def free_port():
    """A loopback port that was free a moment ago (brokers that cannot bind port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    """Waits until something accepts connections on `port`; False if `proc` died first."""
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


class Certs:
    """Throw-away certificates made by tests/tls/make-certs.sh (openssl CLI, EC P-256) in
    DIR: `ca` is the CA file clients trust, `listener_lines` make a Sol or Mosquitto
    listener TLS with the server certificate (127.0.0.1 and localhost)."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "certs")
        subprocess.run(["sh", os.path.join(REPO, "tests/tls/make-certs.sh"), self.dir], check=True,
                       stdout=subprocess.DEVNULL)
        # Mosquitto reads its files after switching to its own user: throw-away keys, readable.
        for d in (tmp, self.dir):
            os.chmod(d, 0o755)
        for name in os.listdir(self.dir):
            os.chmod(os.path.join(self.dir, name), 0o644)
        self.ca = os.path.join(self.dir, "ca.crt")
        self.listener_lines = [f"certfile {self.dir}/server.crt", f"keyfile {self.dir}/server.key"]


class Broker:
    """One broker under test. `start(limits)` returns (process, port) of a fresh instance;
    `limits` may hold max_connections, max_subscriptions (None: the broker's default).
    `start(limits, tls=certs)` makes its listener TLS with a `Certs`' server certificate,
    for brokers with `tls = True`; `start(limits, ws=True)` makes it a WebSocket listener,
    for brokers with `websockets = True`.

    Subclasses write their configuration file (`_conf`) and may find their port in their
    log (`_port`)."""

    kind = "?"
    # Whether the harness knows how to give this broker a TLS listener.
    tls = False
    # Whether it can give this broker a WebSocket listener (`protocol websockets`).
    websockets = False

    def __init__(self, name, binary, tmp, extra_conf=(), connection_messages=False):
        self.name, self.binary, self.tmp = name, binary, tmp
        self.extra_conf = list(extra_conf)
        self.connection_messages = connection_messages
        self.proc = self.logf = self.conf = None

    def _conf(self, port, limits):
        raise NotImplementedError

    def _port(self, port, logf, proc):
        return port

    def _command(self, conf):
        return [self.binary, "-c", conf]

    def write_conf(self, port, limits=None, tls=None, ws=False):
        """Writes this broker's configuration file for `port` (its listener TLS with the
        `Certs` `tls`, if given, and speaking WebSockets if `ws`) and returns its path."""
        if tls and not self.tls:
            raise ValueError(f"{self.name}: no TLS listener in this harness")
        if ws and not self.websockets:
            raise ValueError(f"{self.name}: no WebSocket listener in this harness")
        text, ext = self._conf(port, limits or {})
        if tls:
            # Sol and Mosquitto take the certificate lines after the one `listener` line.
            text += "\n".join(tls.listener_lines) + "\n"
        if ws:
            # Listener-scoped too: it applies to the one listener above.
            text += "protocol websockets\n"
        path = os.path.join(self.tmp, f"{self.name}.{ext}")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self, limits=None, tls=None, ws=False, port=None):
        """`port`: listen there (a restart on the same address, for brokers whose
        configuration names the port) rather than on a port free a moment ago."""
        fixed = port
        for _attempt in range(5):
            port = fixed or free_port()
            self.conf = self.write_conf(port, limits, tls, ws)
            logf = open(os.path.join(self.tmp, f"{self.name}.log"), "w+")
            proc = subprocess.Popen(pinned(self._command(self.conf), 0), stdout=logf, stderr=logf,
                                    stdin=subprocess.DEVNULL)
            port = self._port(port, logf, proc)
            if port and wait_port(port, proc):
                self.proc, self.logf = proc, logf
                return proc, port
            proc.kill()
            proc.wait()
            logf.seek(0)
            log(f"{self.name} did not start on port {port}, retrying: {logf.read()[-300:]!r}")
            logf.close()
        raise SystemExit(f"{self.name}: could not start")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.logf:
            self.logf.close()
            self.logf = None


class SolBroker(Broker):
    """Sol with `listener 0 127.0.0.1`; the port comes from its `listening on` log line."""

    kind = "sol"
    tls = True
    websockets = True

    def _conf(self, port, limits):
        lines = ["listener 0 127.0.0.1", "allow_anonymous true",
                 f"max_inflight_messages {INFLIGHT}", "log_dest stderr"]
        if not self.connection_messages:
            lines.append("connection_messages false")
        if limits.get("max_connections"):
            lines.append(f"max_connections {limits['max_connections']}")
        if limits.get("max_subscriptions"):
            lines.append(f"max_subscriptions {limits['max_subscriptions']}")
            per_client = limits.get("max_subscriptions_per_client", limits["max_subscriptions"])
            lines.append(f"max_subscriptions_per_client {per_client}")
        return "\n".join(lines + self.extra_conf) + "\n", "conf"

    def _port(self, port, logf, proc, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end and proc.poll() is None:
            logf.seek(0)
            # "listening on 127.0.0.1:PORT", " (WebSockets)" after it for such a listener.
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", logf.read())
            if m:
                return int(m.group(1))
            time.sleep(0.02)
        return 0

    def ceiling_bytes(self, conf):
        """The memory ceiling `sol check -c CONF` prints for `conf`, in bytes."""
        out = subprocess.run([self.binary, "check", "-c", conf], capture_output=True, text=True,
                             check=True).stdout
        ceiling = parse_ceiling(out)
        if ceiling is None:
            raise SystemExit(f"no memory ceiling in `sol check` output:\n{out}")
        return ceiling


class NullBroker(SolBroker):
    """tools/null-broker, the floor under a broker's work: reads the `listener 0 127.0.0.1`
    line of the harness's Sol configuration (the rest it ignores) and prints `listening on`
    as Sol does. It answers CONNECT, SUBSCRIBE and PINGREQ and passes every PUBLISH on to
    every subscriber unrouted (MQTT 3.1.1, plain TCP only)."""

    kind = "null"
    tls = False
    websockets = False


def parse_ceiling(check_output):
    """The `total` line of `sol check`'s memory ceiling, in bytes; None if there is none."""
    m = re.search(r"^\s*total\s+([\d.]+)\s*(B|KiB|MiB|GiB)\b", check_output, re.M)
    if not m:
        return None
    scale = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m.group(2)]
    return int(float(m.group(1)) * scale)


class MosquittoBroker(Broker):
    """Mosquitto on a port found by binding port 0 (retried if it is taken meanwhile). It
    has no connection or subscription caps by default, so `limits` need not be written."""

    kind = "mosquitto"
    tls = True

    def _conf(self, port, limits):
        lines = [f"listener {port} 127.0.0.1", "allow_anonymous true",
                 f"max_inflight_messages {INFLIGHT}", "log_dest stderr"]
        if not self.connection_messages:
            lines.append("connection_messages false")
        return "\n".join(lines + self.extra_conf) + "\n", "conf"


class RumqttdBroker(Broker):
    """rumqttd 0.20.0: its shipped example configuration (rumqttd.toml in the crate) reduced
    to one MQTT 3.1.1 (`v4`) listener on loopback: no console, Prometheus, websocket or v5
    listener (all optional sections). max_inflight_count is the others' window,
    router.max_connections is raised to the run's need when that is above the shipped 10,010;
    everything else as shipped, including next_connection_delay_ms = 1 (rumqttd waits 1 ms
    after each accepted connection, which caps its connect rate below 1,000/s)."""

    kind = "rumqttd"

    def _conf(self, port, limits):
        max_conn = max(10010, limits.get("max_connections") or 0)
        return f"""# Written by benches/harness.py from rumqttd {RUMQTTD_VERSION}'s rumqttd.toml.
id = 0

[router]
id = 0
max_connections = {max_conn}
max_outgoing_packet_count = 200
max_segment_size = 104857600
max_segment_count = 10

[v4.1]
name = "v4-1"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 1
    [v4.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 20480
    max_inflight_count = {INFLIGHT}
    dynamic_filters = true
""", "toml"  # rumqttd picks the format from the extension

    def _command(self, conf):
        return [self.binary, "-q", "-c", conf]


# ---------------------------------------------------------------- set-up

def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "sol-bench")


def ensure_mosquitto():
    path = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if path:
        return path
    log("installing mosquitto with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "mosquitto"], check=True, env=env)
    return shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def ensure_rumqttd(path=None):
    """The rumqttd binary: `path` (--rumqttd or $SOL_BENCH_RUMQTTD) if given, else the copy in
    the cache, installed there with `cargo install` when missing. Not `--locked`: the locked
    metrics 0.22.1 fails to compile on current rustc (E0521)."""
    path = path or os.environ.get("SOL_BENCH_RUMQTTD")
    if path:
        if not os.access(path, os.X_OK):
            raise SystemExit(f"rumqttd binary {path} is not executable")
        return path
    root = os.path.join(cache_dir(), "rumqttd")
    binary = os.path.join(root, "bin", "rumqttd")
    if not os.access(binary, os.X_OK):
        log(f"installing rumqttd {RUMQTTD_VERSION} into {root} (cargo install, a few minutes)")
        subprocess.run(["cargo", "install", "rumqttd", "--version", RUMQTTD_VERSION, "--root", root],
                       check=True)
    return binary


def binaries(packages, no_build, profile="release"):
    """Builds the cargo `packages` in `profile` (unless `no_build`) and returns the paths
    of their binaries, named as the packages; exits if one is missing."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    if not no_build:
        log(f"building {', '.join(packages)} ({profile} profile)")
        args = [a for p in packages for a in ("-p", p)]
        subprocess.run(["cargo", "build", "--profile", profile, "--locked"] + args, cwd=REPO, check=True)
    paths = [os.path.join(target, profile, p) for p in packages]
    for b in paths:
        if not os.access(b, os.X_OK):
            raise SystemExit(f"{b} missing: build first or drop --no-build")
        stale = stale_sources(b)
        if stale:
            raise SystemExit(f"{b} is older than {len(stale)} of its sources ({', '.join(stale[:3])}): "
                             "it is not what the checkout says; build first or drop --no-build")
    return paths


def stale_sources(binary):
    """The sources of `binary` changed since it was built: the files cargo's dep-info file
    beside it (`BINARY.d`, `BINARY: SOURCE...`) lists that are newer than the binary. A
    table measured with a binary left from an experiment is labelled with the checkout's
    commit all the same (it happened: docs/performance.md, "Flush subscribers"), so
    `--no-build` runs refuse one. Empty without a dep-info file."""
    try:
        with open(binary + ".d") as f:
            _, _, sources = f.readline().partition(": ")
        built = os.path.getmtime(binary)
    except OSError:
        return []
    return [s for s in sources.split() if os.path.exists(s) and os.path.getmtime(s) > built]


def build(no_build):
    """Builds sol (speed-tuned `release` profile) and sol-load; returns their paths."""
    sol, loadgen = binaries(["sol", "sol-load"], no_build)
    return sol, loadgen


@contextlib.contextmanager
def bench_run(prefix, out_path=None):
    """The frame of a bench's main: yields (tmp, out), a fresh temporary directory (named
    `prefix...`, readable by all: Mosquitto started as root reaches it after dropping
    privileges) and the `--out` file opened for appending (None without one). Meanwhile
    SIGTERM exits (status 1), so that the callers' `finally` blocks stop their brokers; on
    the way out the handler is put back, the file closed and the directory removed."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    os.chmod(tmp, 0o755)
    out = open(out_path, "a") if out_path else None
    old = signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        yield tmp, out
    finally:
        signal.signal(signal.SIGTERM, old)
        if out:
            out.close()
        shutil.rmtree(tmp, ignore_errors=True)


def raise_nofile(need):
    """Raises the open-file soft limit to the hard one (brokers and sol-load inherit it)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < need:
        log(f"warning: open-file hard limit {hard} is below {need}; large runs may fail")


def machine():
    """What the numbers were measured on."""
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version()}


# ---------------------------------------------------------------- text tables

def median(values):
    """The median of `values`; None if there are none."""
    return statistics.median(values) if values else None


def fmt(v):
    """A table cell for number `v`: thousands separated, else three significant digits."""
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}" if v != int(v) else f"{int(v)}"


def columns(header, rows, left=2):
    """`rows` under `header`, the first `left` columns left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) if i < left else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---------------------------------------------------------------- published tables

def markers(name):
    """The comment lines that enclose block `name` in a Markdown file (`splice`)."""
    return f"<!-- compare.py begin {name} -->", f"<!-- compare.py end {name} -->"


def splice(text, name, body):
    """`text` with what lies between the markers of block `name` replaced by `body`; the
    block is appended at the end if `text` has no such markers (move it where it belongs:
    the markers go with it). Raises ValueError if only one marker is there, or they are
    in the wrong order, or there are two of one."""
    begin, end = markers(name)
    i, j = text.find(begin), text.find(end)
    if i < 0 and j < 0:
        return text.rstrip("\n") + f"\n\n{begin}\n{body.strip(chr(10))}\n{end}\n"
    if i < 0 or j < i or text.count(begin) > 1 or text.count(end) > 1:
        raise ValueError(f"block {name!r}: expected one {begin!r} followed by one {end!r}")
    return text[:i + len(begin)] + "\n" + body.strip("\n") + "\n" + text[j:]


def git_commit():
    """The checkout's short commit, with `+changes` if tracked files differ from it; `?`
    outside a git checkout."""
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("+changes" if dirty else "")


def provenance(command, info, date, commit):
    """The lines heading a published table: the exact command, the commit, the machine
    (`machine()`) and the date."""
    return (f"Command (Sol at `{commit}`), {date}:\n\n```sh\n{command}\n```\n\n"
            f"Machine: {info['cpu']}, {info['cores']} cores, Linux {info['kernel']}.\n")


def write_docs(path, name, text):
    """Writes `text` (a table as printed), headed by `provenance` of this process's command
    line, into block `name` of the Markdown file `path` (see `splice`)."""
    command = "benches/compare.py " + shlex.join(sys.argv[1:])
    body = provenance(command, machine(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), git_commit())
    body += f"\n```\n{text.strip(chr(10))}\n```\n"
    with open(path) as f:
        old = f.read()
    with open(path, "w") as f:
        f.write(splice(old, name, body))
    log(f"wrote block {name!r} of {path}")


# ---------------------------------------------------------------- sol-load

class LoadGen:
    """One sol-load process; its output is read by threads so it never blocks on a pipe."""

    def __init__(self, loadgen, args, port, label):
        self.cmd = pinned([loadgen] + list(args) + ["-p", str(port), "--label", label], 1)
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, stdin=subprocess.DEVNULL)
        self.stdout, self.stderr = [], []
        self.lines = queue.Queue()
        self._threads = [threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout, False), daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr, True), daemon=True)]
        for t in self._threads:
            t.start()

    def _read(self, pipe, into, announce):
        for line in pipe:
            into.append(line.rstrip("\n"))
            if announce:
                self.lines.put(line)
        if announce:
            self.lines.put(None)

    def wait_ready(self, timeout):
        """Waits for the `ready N` line (set-up done, measured phase begun); False if the
        generator ended or `timeout` passed first."""
        end = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                return False
            if line is None:
                return False
            if line.startswith("ready"):
                return True

    def finish(self, timeout):
        """Waits for the end; returns the JSON result. Raises RuntimeError if it failed."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for t in self._threads:
            t.join()
        err = "; ".join(line for line in self.stderr if not line.startswith("ready"))
        if self.proc.returncode != 0:
            raise RuntimeError(f"sol-load exited with {self.proc.returncode}: {err}")
        line = next((line for line in self.stdout if line.startswith("{")), None)
        if line is None:
            raise RuntimeError(f"sol-load printed no result: {err}")
        return json.loads(line)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def human(self):
        return [line for line in self.stderr if line and not line.startswith("ready")]


def cpu_window(duration):
    """The default `during` of `measure`: broker CPU over the `duration` seconds after set-up
    (the publishing window; sol-load's `received_in_window` counts the same span)."""
    def during(pid, _base):
        s0, t0 = proc_sample(pid), time.monotonic()
        time.sleep(duration)
        s1, t1 = proc_sample(pid), time.monotonic()
        return {"broker_cpu_window_s": round(s1["cpu"] - s0["cpu"], 4),
                "broker_user_window_s": round(s1["user"] - s0["user"], 4), "window_s": round(t1 - t0, 4)}
    return during


def no_user_ceiling(delivered, window_s, user_s):
    """Messages per second had the broker spent no user-space time: `delivered` in
    `window_s` seconds of wall time less the broker's `user_s`. An upper bound where the
    broker and the generator take turns (a QoS 1 flood bound by one subscriber's window:
    every round trip waits for the broker's turn), since no more of the wall time than the
    broker's own code took can be saved by making that code faster. None when undefined."""
    rest = window_s - user_s
    return delivered / rest if delivered and rest > 0 else None


def measure(broker, gen_args, loadgen, during, limits=None, timeout=180.0, tls=None, ws=False, setup=None):
    """`measure_once`, made again (up to STEAL_RERUNS times) while the host took more
    than STEAL_RERUN_PCT of the CPUs during the run: timings the hypervisor disturbed
    are not kept. The runs made again are counted in `steal_rerun` and the result's
    `steal_reruns`."""
    reruns = 0
    while True:
        result = measure_once(broker, gen_args, loadgen, during, limits, timeout, tls, ws, setup)
        if not disturbed(result, STEAL_RERUNS - reruns):
            break
        log(f"  the host took {result['host_steal_pct']:g} % of the CPUs: this run is made again")
        steal_rerun.append(result["host_steal_pct"])
        reruns += 1
    steal_seen.append(result["host_steal_pct"])
    result["steal_reruns"] = reruns
    return result


def measure_once(broker, gen_args, loadgen, during, limits=None, timeout=180.0, tls=None, ws=False,
                 setup=None):
    """Runs sol-load with `gen_args` against a fresh `broker` and samples the broker; with
    `tls` (a `Certs`), over TLS: the broker's listener and every sol-load connection; with
    `ws`, over WebSockets (`protocol websockets`, `sol-load --websocket`), on TLS or not.
    `setup(port)`, if given, runs once the broker listens and before sol-load starts (e.g.
    waits until a bridge is up); it raises RuntimeError to fail the run.

    Once sol-load says `ready` (set-up done, measured phase begun), `during(pid, base)` runs
    and returns broker-side fields (`base` is the broker's sample before sol-load started).
    Adds the broker's CPU over the whole run (`broker_cpu_s`) and peak RSS, and, when
    `during` measured `broker_cpu_window_s` and messages were delivered, `cpu_s_per_m`:
    broker CPU seconds per million messages delivered in the window, which is the same
    number as microseconds per delivered message; with the window's user-space CPU, also
    `user_s_per_m` and `ceiling_no_user` (`no_user_ceiling`)."""
    proc, port = broker.start(limits, tls, ws)
    if tls:
        gen_args = list(gen_args) + ["--tls-ca", tls.ca]
    if ws:
        gen_args = list(gen_args) + ["--websocket"]
    gen = None
    try:
        if setup:
            setup(port)
        time.sleep(0.2)
        base = proc_sample(proc.pid)
        host0 = host_times()
        sampler = Sampler(proc.pid)
        sampler.start()
        gen = LoadGen(loadgen, gen_args, port, broker.name)
        ready = gen.wait_ready(timeout=90)
        extra = during(proc.pid, base) if ready else {}
        result = gen.finish(timeout=timeout)
        end = proc_sample(proc.pid)
        sampler.finish()
        if not ready:
            raise RuntimeError(f"sol-load never became ready: {gen.human()}")
        result.update(extra)
        result["host_steal_pct"] = steal_pct(host0, host_times())
        if result["host_steal_pct"] > STEAL_WARN_PCT:
            log(f"  warning: the host took {result['host_steal_pct']:g} % of the CPUs during this run (steal)")
        result["broker"] = broker.name
        result["broker_cpu_s"] = round(end["cpu"] - base["cpu"], 4)
        result["broker_peak_rss_kb"] = max(end["hwm_kb"], sampler.peak_kb)
        delivered = result.get("received_in_window")
        if delivered and "broker_cpu_window_s" in result:
            result["cpu_s_per_m"] = round(result["broker_cpu_window_s"] / delivered * 1e6, 4)
        if delivered and "broker_user_window_s" in result:
            result["user_s_per_m"] = round(result["broker_user_window_s"] / delivered * 1e6, 4)
            ceiling = no_user_ceiling(delivered, result["window_s"], result["broker_user_window_s"])
            if ceiling:
                result["ceiling_no_user"] = round(ceiling)
        for h in gen.human():
            log(f"  {h}")
        if not broker.alive():
            raise RuntimeError(f"{broker.name} died during the run")
        return result
    finally:
        if gen:
            gen.kill()
        broker.stop()
