#!/usr/bin/env python3
"""Persistence benchmark (issue 10): Sol against Mosquitto 2.0, both with persistence on and
the same autosave_interval, measured in the same run, alternating, medians.

Three parts (`--parts`, default all):

- `writes`: bytes written to disk per hour on a home-gateway workload. About 2,000 retained
  topics published at QoS 1 by 10 publisher connections (window 20), 50 persistent
  subscribers (clean session off, `home/#` at QoS 1, online throughout). Two readings of
  "2,000 retained topics updated every 10 s on average": `uniform`, every topic every 10 s
  (200 msg/s), and `mix`, 10 % of the topics every 10 s and the rest every 5 minutes
  (26 msg/s). Each topic has its own period (+-10 % jitter per update) and a random phase;
  the schedule is seeded. Every topic is published once before the measured window, which
  starts one autosave interval (plus 10 s) later. Measured from /proc/PID/io over the window:
  `write_bytes` (page-granular: a page dirtied is counted once, 4 KiB, until written back),
  `wchar` (bytes passed to write syscalls, socket writes included), and the store's own
  write syscalls (Sol: `wchar` of its `sol-store` thread; Mosquitto, single-threaded: its
  "Saving in-memory database" log lines times the database size). Per hour = window bytes x
  3600 / window seconds. Also the store file's size at the end of the window.
- `restart`: 100,000 retained messages (`r/0/0` .. `r/99/999`) and 50 offline persistent
  sessions with 1,000 queued QoS 1 messages each (50,000 queued, 1,000 bodies shared by the
  50 queues), made with QoS 1 publishes, then a clean stop (SIGTERM). Each restart is timed
  from exec until a client's CONNECT gets its CONNACK, and until a subscriber of `r/99/999`
  gets that retained message; Sol's own "store: ... opened in N ms" line is read too. The
  last start checks the state: every retained topic comes back and every session gets its
  1,000 messages (session present). With `--cold` the page cache is emptied before each
  start, so the file is read from the disk as after a reboot.
- `throughput`: QoS 1 fan-in with tools/sol-load against each durability mode: Sol with
  persistence off, interval mode, and `persistence_sync true`; Mosquitto off and on. Loads:
  compare.py's `fanin-q1` (64 -> 1, clean subscriber: nothing durable), the same with a
  persistent subscriber (every message is queued in a durable session), and that at a fixed
  20,000 msg/s (broker CPU per message, where a flood does not decide).

    benches/persistence.py                                   # everything, official settings
    benches/persistence.py --parts writes --intervals 10 --duration 180 --repeats 3
    benches/persistence.py --parts writes --intervals 60 --duration 600 --repeats 1
    benches/persistence.py --parts restart,throughput
    benches/persistence.py --smoke                           # CI: small versions, ~30 s

The store directories are made under `--dir` (default /var/tmp, which should be a disk, not
tmpfs: the script prints the filesystem and warns on tmpfs). Python 3.9+ standard library
only; Linux only (/proc). Run as root (Mosquitto drops to its user, Sol to `nobody`).
"""

import argparse
import collections
import heapq
import json
import os
import random
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import log  # noqa: E402

KEEPALIVE = 600      # seconds, in every CONNECT; the loop pings well before it runs out
PING_EVERY = 60.0
WINDOW = harness.INFLIGHT


# ---------------------------------------------------------------- a small MQTT 3.1.1 client

def varint(n):
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_str(s):
    b = s.encode() if isinstance(s, str) else s
    return len(b).to_bytes(2, "big") + b


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect(client_id, clean, keepalive=KEEPALIVE):
    return packet(0x10, mqtt_str("MQTT") + bytes([4, 0x02 if clean else 0x00]) + keepalive.to_bytes(2, "big")
                  + mqtt_str(client_id))


def subscribe(packet_id, topic_filter, qos):
    return packet(0x82, packet_id.to_bytes(2, "big") + mqtt_str(topic_filter) + bytes([qos]))


def publish(topic, payload, qos=0, retain=False, packet_id=0):
    body = mqtt_str(topic) + (packet_id.to_bytes(2, "big") if qos else b"") + payload
    return packet(0x30 | (qos << 1) | int(retain), body)


PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"


def split_packets(buf):
    """The complete packets at the start of `buf`: ([(first byte, body bytes)], bytes used)."""
    out, i, n = [], 0, len(buf)
    while n - i >= 2:
        length, mult, j = 0, 1, i + 1
        while True:
            if j >= n:
                return out, i
            b = buf[j]
            j += 1
            length += (b & 0x7F) * mult
            if b < 0x80:
                break
            mult <<= 7
            if mult > 1 << 21:
                raise ValueError("malformed remaining length")
        if j + length > n:
            break
        out.append((buf[i], bytes(buf[j:j + length])))
        i = j + length
    return out, i


def publish_fields(first, body):
    """(topic bytes, qos, packet id or None) of a PUBLISH."""
    qos = (first >> 1) & 3
    tl = int.from_bytes(body[:2], "big")
    pid = int.from_bytes(body[2 + tl:4 + tl], "big") if qos else None
    return body[2:2 + tl], qos, pid


class Client:
    """One MQTT 3.1.1 connection: blocking handshake (CONNECT, SUBSCRIBE), then driven by a
    `Loop`. Publishes QoS 1 with at most `window` unacknowledged; acknowledges every QoS 1
    PUBLISH it receives; counts what it receives (and, with `topics`, which topics)."""

    def __init__(self, port, client_id, clean=True, window=WINDOW, timeout=30.0, record_topics=False):
        self.client_id, self.window = client_id, window
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf, self.out = bytearray(), bytearray()
        self.pending = collections.deque()  # (topic, payload, qos, retain)
        self.inflight = self.sent = self.acked = self.received = 0
        self.next_id = 0
        self.topics = set() if record_topics else None
        self.payloads = {}  # topic -> last payload, with record_topics
        self.last_rx = time.monotonic()
        self.sock.sendall(connect(client_id, clean))
        _first, body = self._wait(2)
        if len(body) != 2 or body[1] != 0:
            raise RuntimeError(f"{client_id}: CONNACK refused ({body.hex()})")
        self.session_present = bool(body[0] & 1)

    def _wait(self, kind):
        """Blocks until a packet of type `kind` arrives (others are handled meanwhile)."""
        while True:
            packets, used = split_packets(self.buf)
            del self.buf[:used]
            for i, (first, body) in enumerate(packets):
                if first >> 4 == kind:
                    self._pushback(packets[i + 1:])  # what came after it is the loop's
                    self.flush_blocking()
                    return first, body
                self._handle(first, body)
            data = self.sock.recv(1 << 16)
            if not data:
                raise RuntimeError(f"{self.client_id}: the broker closed the connection")
            self.buf += data

    def _pushback(self, packets):
        for first, body in reversed(packets):
            self.buf[0:0] = packet(first, body)

    def read_until(self, condition):
        """Blocks (with the socket's timeout) until `condition()` holds."""
        while True:
            packets, used = split_packets(self.buf)
            del self.buf[:used]
            for first, body in packets:
                self._handle(first, body)
            self.flush_blocking()
            if condition():
                return
            data = self.sock.recv(1 << 16)
            if not data:
                raise RuntimeError(f"{self.client_id}: the broker closed the connection")
            self.buf += data

    def subscribe(self, topic_filter, qos):
        self.sock.sendall(subscribe(1, topic_filter, qos))
        _first, body = self._wait(9)
        if body[2:3] == b"\x80":
            raise RuntimeError(f"{self.client_id}: subscription to {topic_filter} refused")

    def flush_blocking(self):
        if self.out:
            self.sock.sendall(self.out)
            self.out.clear()

    def _handle(self, first, body):
        kind = first >> 4
        if kind == 3:
            topic, qos, pid = publish_fields(first, body)
            if qos:
                self.out += b"\x40\x02" + pid.to_bytes(2, "big")
            self.received += 1
            if self.topics is not None:
                self.topics.add(topic)
                self.payloads[topic] = body[2 + len(topic) + (2 if qos else 0):]
        elif kind == 4:
            self.inflight -= 1
            self.acked += 1
        elif kind in (9, 11, 13):
            pass
        else:
            raise RuntimeError(f"{self.client_id}: unexpected packet type {kind}")

    # -- non-blocking side, for the Loop

    def pump(self):
        """Moves pending publishes into the window and writes what it can."""
        while self.pending and self.inflight < self.window:
            topic, payload, qos, retain = self.pending.popleft()
            pid = 0
            if qos:
                self.next_id = self.next_id % 65535 + 1
                pid = self.next_id
                self.inflight += 1
            self.out += publish(topic, payload, qos, retain, pid)
            self.sent += 1
        if self.out:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                return
            del self.out[:n]

    def on_readable(self):
        try:
            data = self.sock.recv(1 << 18)
        except BlockingIOError:
            return
        if not data:
            raise RuntimeError(f"{self.client_id}: the broker closed the connection")
        self.last_rx = time.monotonic()
        self.buf += data
        packets, used = split_packets(self.buf)
        del self.buf[:used]
        for first, body in packets:
            self._handle(first, body)

    def done(self):
        return not self.pending and not self.inflight and not self.out

    def close(self, disconnect=True):
        try:
            if disconnect:
                self.sock.setblocking(True)
                self.sock.settimeout(2)
                self.sock.sendall(self.out + DISCONNECT)
        except OSError:
            pass
        self.sock.close()


class Loop:
    """Drives clients with one selector; calls `due(now)` (a schedule) and returns when
    `until()` holds or the time is up."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.clients = []
        self.last_ping = time.monotonic()

    def add(self, client):
        client.read_until(lambda: True)  # packets that came with the handshake's last reply
        client.sock.setblocking(False)
        self.sel.register(client.sock, selectors.EVENT_READ, client)
        self.clients.append(client)
        return client

    def run(self, seconds, until=None, due=None, every=None, tick=1.0):
        """Runs up to `seconds`; `due(now)` publishes what is due and returns the next due
        time; `every(now)` is called each `tick` seconds. True if `until()` became true."""
        start = time.monotonic()
        end = start + seconds
        next_tick = start + tick
        next_due = start
        while True:
            now = time.monotonic()
            if until and until():
                return True
            if now >= end:
                return False
            if due and now >= next_due:
                next_due = due(now)
            if every and now >= next_tick:
                every(now)
                next_tick += tick
            for c in self.clients:
                if c.pending or c.out:
                    c.pump()
            if now - self.last_ping > PING_EVERY:
                for c in self.clients:
                    c.out += PINGREQ
                self.last_ping = now
            wake = min(end, next_tick if every else end, next_due if due else end)
            timeout = max(0.0, min(wake - time.monotonic(), 0.05))
            if any(c.out for c in self.clients):
                timeout = min(timeout, 0.002)
            for key, _ in self.sel.select(timeout):
                key.data.on_readable()

    def close(self, disconnect=True):
        for c in self.clients:
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError, OSError):
                pass
            c.close(disconnect)
        self.clients = []
        self.sel.close()


# ---------------------------------------------------------------- /proc/PID/io, filesystems

def parse_io(text):
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        if v.strip():
            out[k.strip()] = int(v)
    return out


def proc_io(pid):
    with open(f"/proc/{pid}/io") as f:
        return parse_io(f.read())


def thread_io(pid, name):
    """/proc/PID/task/TID/io summed over the threads called `name` (None if there is none)."""
    total, found = collections.Counter(), False
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() != name:
                    continue
            with open(f"/proc/{pid}/task/{tid}/io") as f:
                total.update(parse_io(f.read()))
            found = True
        except OSError:
            continue
    return dict(total) if found else None


def filesystem(path, mounts=None):
    """(device, mount point, type) of the filesystem holding `path`, from /proc/self/mounts."""
    if mounts is None:
        with open("/proc/self/mounts") as f:
            mounts = f.read()
    path = os.path.realpath(path)
    best = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        dev, mnt, fstype = fields[0], fields[1].replace("\\040", " "), fields[2]
        inside = path == mnt or path.startswith(mnt.rstrip("/") + "/")
        if inside and (best is None or len(mnt) >= len(best[1])):
            best = (dev, mnt, fstype)
    return best


def per_hour(delta, seconds):
    return delta * 3600.0 / seconds


# ---------------------------------------------------------------- brokers

class Sol(harness.SolBroker):
    """Sol on a port chosen here (not port 0), so that a restart can be timed from exec."""

    def _conf(self, port, limits):
        text, ext = super()._conf(port, limits)
        return text.replace("listener 0 127.0.0.1", f"listener {port} 127.0.0.1", 1), ext

    def _port(self, port, logf, proc):
        return port


def persistence_lines(kind, mode, directory, interval):
    """Configuration lines for durability `mode` ("off", "interval", "sync" (Sol only), "on"
    (= interval)) of a `kind` ("sol" or "mosquitto") broker storing in `directory`."""
    if mode == "off":
        return []
    if kind == "sol":
        lines = ["persistence true", f"persistence_location {directory}", f"autosave_interval {interval}"]
        if mode == "sync":
            lines.append("persistence_sync true")
        return lines
    if mode == "sync":
        raise ValueError("Mosquitto has no acknowledge-after-sync mode")
    # Mosquitto joins location and file name without a separator: the slash is needed.
    return ["persistence true", f"persistence_location {directory.rstrip('/')}/", f"autosave_interval {interval}"]


def cap_lines(kind, retained, queued):
    """Caps high enough for `retained` retained messages and `queued` messages queued per
    client (and in total), so that neither broker drops any of the benchmark's state."""
    if kind == "sol":
        return [f"max_retained_messages {retained + 1000}", f"max_retained_bytes {max(64, retained // 1000)}M",
                f"max_queued_messages {queued}", "max_queued_bytes 0", "max_queued_memory 1024M",
                "max_offline_sessions 10000"]
    return [f"max_queued_messages {queued}", "max_queued_bytes 0"]


STORE_FILE = {"sol": "sol.db", "mosquitto": "mosquitto.db"}


class Setup:
    """Makes brokers with fresh store directories under one base directory."""

    def __init__(self, sol, mosquitto, base, keep=False):
        self.sol, self.mosquitto, self.keep = sol, mosquitto, keep
        self.base = tempfile.mkdtemp(prefix="sol-persistence-", dir=base)
        os.chmod(self.base, 0o755)  # brokers read their config and write their store as other users
        self.n = 0

    def broker(self, kind, mode, interval, caps=(), directory=None, nodelay=False):
        """A broker object and its store directory (new unless `directory` is given)."""
        self.n += 1
        if directory is None:
            directory = os.path.join(self.base, f"{kind}-{mode}-{self.n}")
            os.mkdir(directory)
            os.chmod(directory, 0o777)
        extra = persistence_lines(kind, mode, directory, interval) + list(caps)
        if nodelay and kind == "mosquitto":
            extra.append("set_tcp_nodelay true")  # Sol always sets TCP_NODELAY
        name = f"{kind}-{mode}"
        if kind == "sol":
            return Sol(name, self.sol, self.base, extra), directory
        return harness.MosquittoBroker(name, self.mosquitto, self.base, extra), directory

    def cleanup(self):
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)


def log_lines(broker):
    broker.logf.flush()
    broker.logf.seek(0)
    return broker.logf.read().splitlines()


def stop(broker, timeout=60.0):
    """SIGTERM and wait (longer than harness's 10 s: a big store is written at the stop);
    returns (seconds the stop took, exit code, log lines)."""
    t0 = time.monotonic()
    proc = broker.proc
    lines = []
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"  {broker.name} did not stop within {timeout:g} s: killed")
            proc.kill()
            proc.wait()
    took = time.monotonic() - t0
    code = proc.returncode if proc is not None else None
    if broker.logf:
        lines = log_lines(broker)
    broker.stop()  # closes the log
    return took, code, lines


def suspicious(lines):
    """Log lines a benchmark must not produce silently (errors, damage, drops)."""
    words = ("error", "damaged", "dropped", "lost", "warning", "refused", "corrupt")
    return [x for x in lines if any(w in x.lower() for w in words)
            and "0 refused" not in x and "dropped (expired" not in x]


def sol_store_stats(port):
    """Sol's $SYS/broker/store/... values (retained, refreshed every sys_interval)."""
    c = Client(port, "store-stats", record_topics=True, timeout=5)
    try:
        c.subscribe("$SYS/broker/store/#", 0)
        end = time.monotonic() + 0.5
        c.sock.settimeout(0.1)
        while time.monotonic() < end:
            try:
                c.read_until(lambda: False)
            except (TimeoutError, socket.timeout):
                pass
        out = {}
        for topic, payload in c.payloads.items():
            key = topic.decode().rsplit("$SYS/broker/store/", 1)[1].replace("/", "_")
            value = payload.decode().split()[0]
            out[key] = int(value) if value.isdigit() else value
        return out
    finally:
        c.close()


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return None


# ---------------------------------------------------------------- part 1: bytes written per hour

READINGS = {
    # name -> [(fraction of the topics, period s)]
    "uniform": [(1.0, 10.0)],
    "mix": [(0.1, 10.0), (0.9, 300.0)],
}


def periods(topics, reading):
    """The update period of each topic under `reading` (hot topics first)."""
    out = []
    for k, (fraction, period) in enumerate(READINGS[reading]):
        n = topics - len(out) if k == len(READINGS[reading]) - 1 else round(topics * fraction)
        out += [period] * n
    return out


def expected_rate(topics, reading):
    """Messages per second the schedule publishes on average."""
    return sum(1.0 / p for p in periods(topics, reading))


def gateway_topic(i):
    return f"home/zone{i // 100:02d}/dev{i:04d}/state"


def gateway_payload(i, n, size):
    """A device state of `size` bytes (JSON-looking; the content does not matter)."""
    body = b'{"dev":%d,"n":%d,"state":"on","battery":%d,"linkquality":%d}' % (i, n, 50 + i % 50, n % 255)
    return body.ljust(size, b" ")[:size]


class Schedule:
    """Each topic updated every `period` s (each update +-10 %, seeded), random phase."""

    def __init__(self, topics, reading, seed, start):
        self.rng = random.Random(seed)
        self.periods = periods(topics, reading)
        self.heap = [(start + self.rng.uniform(0, p), i) for i, p in enumerate(self.periods)]
        heapq.heapify(self.heap)
        self.count = [1] * topics  # the initial fill was update 0

    def pop_due(self, now):
        due = []
        while self.heap and self.heap[0][0] <= now:
            t, i = heapq.heappop(self.heap)
            due.append(i)
            heapq.heappush(self.heap, (t + self.periods[i] * self.rng.uniform(0.9, 1.1), i))
        return due

    def next_time(self):
        return self.heap[0][0]


def persistent_subscribers(port, prefix, topic_filter, n):
    """`n` connected clients `PREFIX-000`.. with persistent sessions subscribed to
    `topic_filter` at QoS 1."""
    subs = []
    for k in range(n):
        c = Client(port, f"{prefix}-{k:03d}", clean=False)
        c.subscribe(topic_filter, 1)
        subs.append(c)
    return subs


def gateway_run(setup, kind, reading, interval, args):
    """One measured run of the home-gateway workload; returns a result dict."""
    # Queues long enough for the initial burst (every topic once to every subscriber); Sol
    # publishes its store counters every second.
    caps = cap_lines(kind, args.topics, 4 * args.topics) + (["sys_interval 1"] if kind == "sol" else [])
    broker, directory = setup.broker(kind, "on" if kind == "mosquitto" else "interval", interval, caps)
    proc, port = broker.start()
    loop = Loop()
    try:
        subs = [loop.add(c) for c in persistent_subscribers(port, "gw-sub", "home/#", args.subscribers)]
        pubs = [loop.add(Client(port, f"gw-pub-{k:02d}")) for k in range(args.publishers)]
        # The initial state: every topic once.
        for i in range(args.topics):
            pubs[i % len(pubs)].pending.append((gateway_topic(i), gateway_payload(i, 0, args.payload), 1, True))
        if not loop.run(120, until=lambda: all(p.done() for p in pubs)):
            raise RuntimeError("the initial publishes were not acknowledged within 120 s")
        sched = Schedule(args.topics, reading, args.seed, time.monotonic())

        def due(now):
            for i in sched.pop_due(now):
                sched.count[i] += 1
                pubs[i % len(pubs)].pending.append(
                    (gateway_topic(i), gateway_payload(i, sched.count[i], args.payload), 1, True))
            return sched.next_time()

        warmup = args.warmup if args.warmup is not None else interval + 10
        loop.run(warmup, due=due)
        io0, st0, lines0 = proc_io(proc.pid), thread_io(proc.pid, "sol-store"), len(log_lines(broker))
        sys0 = sol_store_stats(port) if kind == "sol" else {}
        sent0 = sum(p.sent for p in pubs)
        series = []
        t0 = time.monotonic()

        def sample(now):
            series.append((round(now - t0, 1), proc_io(proc.pid)["write_bytes"] - io0["write_bytes"]))

        loop.run(args.duration, due=due, every=sample)
        seconds = time.monotonic() - t0
        io1, st1, lines = proc_io(proc.pid), thread_io(proc.pid, "sol-store"), log_lines(broker)
        sys1 = sol_store_stats(port) if kind == "sol" else {}
        sent_window = sum(p.sent for p in pubs) - sent0
        size_end = file_size(os.path.join(directory, STORE_FILE[kind]))
        # Let the deliveries finish, then check none was lost.
        sent = sum(p.sent for p in pubs)
        loop.run(30, until=lambda: all(p.done() for p in pubs)
                 and all(s.received >= sent for s in subs))
        received = [s.received for s in subs]
        if not broker.alive():
            raise RuntimeError(f"{broker.name} died during the run")
    finally:
        loop.close()
        took, code, all_lines = stop(broker)
    saves = [x for x in lines[lines0:] if "Saving in-memory database" in x]
    r = {
        "part": "writes", "broker": kind, "reading": reading, "autosave_interval": interval,
        "window_s": round(seconds, 2), "published_in_window": sent_window,
        "msg_per_s": round(sent_window / seconds, 1),
        "write_bytes": io1["write_bytes"] - io0["write_bytes"],
        "cancelled_write_bytes": io1["cancelled_write_bytes"] - io0["cancelled_write_bytes"],
        "wchar": io1["wchar"] - io0["wchar"],
        "syscw": io1["syscw"] - io0["syscw"],
        "store_file_bytes_end": size_end,
        "store_file_bytes_after_stop": file_size(os.path.join(directory, STORE_FILE[kind])),
        "write_bursts": bursts(series),
        "published": sent, "lost": sum(max(0, sent - x) for x in received),
        "stop_s": round(took, 3), "exit_code": code, "log_warnings": suspicious(all_lines),
    }
    for k in ("syncs", "compactions", "bytes_written", "errors"):
        if isinstance(sys1.get(k), int) and isinstance(sys0.get(k), int):
            r["sys_store_" + k] = sys1[k] - sys0[k]
    if st0 is not None and st1 is not None:
        r["store_thread_wchar"] = st1["wchar"] - st0["wchar"]
        r["store_thread_write_bytes"] = st1["write_bytes"] - st0["write_bytes"]
    if kind == "mosquitto":
        r["saves_logged"] = len(saves)
        # Each save writes the whole database: saves x its size is what the saves wrote.
        r["store_write_syscall_bytes_est"] = len(saves) * (size_end or 0)
    else:
        r["store_write_syscall_bytes_est"] = r.get("store_thread_wchar")
    for k in ("write_bytes", "wchar", "store_write_syscall_bytes_est"):
        if r.get(k) is not None:
            r[k + "_per_h"] = round(per_hour(r[k], seconds))
    r["series"] = series
    return r


def bursts(series):
    """Separate write bursts in a (t, cumulative write_bytes) series: how many saves it saw."""
    n, prev, writing = 0, 0, False
    for _t, b in series:
        grew = b > prev
        if grew and not writing:
            n += 1
        writing, prev = grew, b
    return n


def part_writes(setup, args, out):
    results = []
    kinds = args.peers
    for interval in args.intervals:
        for reading in args.readings:
            for rep in range(args.repeats):
                order = kinds if rep % 2 == 0 else list(reversed(kinds))
                for kind in order:
                    log(f"writes: {reading}, autosave_interval {interval}, #{rep + 1} on {kind} "
                        f"({args.duration:g} s window)")
                    r = gateway_run(setup, kind, reading, interval, args)
                    r["repeat"] = rep
                    log(f"  write_bytes {r['write_bytes']:,} ({r['write_bytes_per_h'] / 1e6:,.1f} MB/h), "
                        f"store writes {r.get('store_write_syscall_bytes_est') or 0:,}, file "
                        f"{r['store_file_bytes_end'] or 0:,} B, {r['msg_per_s']} msg/s, lost {r['lost']}")
                    for w in r["log_warnings"]:
                        log(f"  log: {w}")
                    results.append(r)
                    emit(out, r)
    return results


# ---------------------------------------------------------------- part 2: restart time

def retained_topic(i):
    return f"r/{i // 1000}/{i % 1000}"


def fill(port, args):
    """100,000 retained messages and `sessions` offline sessions with `queued` messages each."""
    loop = Loop()
    try:
        subs = persistent_subscribers(port, "q-sub", "q/#", args.sessions)
        for c in subs:
            c.close()
        pub = loop.add(Client(port, "filler"))
        payload = b"x" * args.restart_payload
        for i in range(args.retained):
            pub.pending.append((retained_topic(i), payload, 1, True))
        for i in range(args.queued):
            pub.pending.append((f"q/{i}", payload, 1, False))
        t0 = time.monotonic()
        if not loop.run(600, until=pub.done):
            raise RuntimeError("fill: not every publish was acknowledged within 600 s")
        return time.monotonic() - t0
    finally:
        loop.close()


def connack_time(port, proc, t0, timeout=60.0):
    """Polls until a CONNECT gets its CONNACK; returns (the client, seconds since t0)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("the broker exited while starting")
        try:
            c = Client(port, "probe", clean=True, timeout=timeout)
            return c, time.monotonic() - t0
        except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
            time.sleep(0.001)
    raise RuntimeError(f"no CONNACK within {timeout:g} s")


def timed_start(broker, retained):
    """Starts `broker` on a free port; times CONNACK and the first retained message."""
    port = harness.free_port()
    broker.conf = broker.write_conf(port)
    broker.logf = open(os.path.join(broker.tmp, f"{broker.name}.log"), "w+")
    t0 = time.monotonic()
    proc = subprocess.Popen(broker._command(broker.conf), stdout=broker.logf, stderr=broker.logf,
                            stdin=subprocess.DEVNULL)
    broker.proc = proc
    probe, t_connack = connack_time(port, proc, t0)
    probe.subscribe(retained_topic(retained - 1), 0)  # the retained message comes after SUBACK
    probe.read_until(lambda: probe.received > 0)
    t_retained = time.monotonic() - t0
    probe.close()
    return port, t_connack, t_retained


def opened_ms(lines):
    for x in lines:
        if "store:" in x and " opened in " in x:
            return int(x.rsplit(" opened in ", 1)[1].split()[0])
    return None


def verify(broker, port, args):
    """Counts the retained topics under r/# and each session's queued messages."""
    loop = Loop()
    try:
        r = Client(port, "verify", record_topics=True)
        r.subscribe("r/#", 1)
        loop.add(r)
        loop.run(120, until=lambda: len(r.topics) >= args.retained or time.monotonic() - r.last_rx > 10)
        retained = len(r.topics)
        sessions, present = [], 0
        for k in range(args.sessions):
            c = Client(port, f"q-sub-{k:03d}", clean=False)
            present += c.session_present
            sessions.append(loop.add(c))
        loop.run(300, until=lambda: all(s.received >= args.queued for s in sessions)
                 or time.monotonic() - max(s.last_rx for s in sessions) > 10)
        queued = [s.received for s in sessions]
        return {"retained_back": retained, "sessions_present": present, "queued_back": sum(queued),
                "queued_min": min(queued) if queued else 0}
    finally:
        loop.close()


def drop_caches():
    """Empties the page cache (root only), so that a start reads its file from the disk as
    after a reboot."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def part_restart(setup, args, out):
    kinds = args.peers
    caps = {k: cap_lines(k, args.retained, max(args.queued * 2, 2 * args.retained)) for k in kinds}
    made = {}
    results = []
    for kind in kinds:
        mode = "on" if kind == "mosquitto" else "interval"
        broker, directory = setup.broker(kind, mode, args.restart_interval, caps[kind], nodelay=True)
        _proc, port = broker.start()
        log(f"restart: filling {kind}: {args.retained:,} retained, {args.sessions} sessions x {args.queued:,} queued")
        took = fill(port, args)
        stop_s, code, lines = stop(broker)
        size = file_size(os.path.join(directory, STORE_FILE[kind]))
        log(f"  filled in {took:.1f} s, stopped in {stop_s:.2f} s (exit {code}), store file {size:,} B")
        made[kind] = (mode, directory, size)
        for w in suspicious(lines):
            log(f"  log: {w}")
    for rep in range(args.restarts + 1):
        check = rep == args.restarts
        order = kinds if rep % 2 == 0 else list(reversed(kinds))
        for kind in order:
            mode, directory, size0 = made[kind]
            broker, _ = setup.broker(kind, mode, args.restart_interval, caps[kind], directory=directory,
                                     nodelay=True)
            if args.cold:
                drop_caches()
            port, t_connack, t_retained = timed_start(broker, args.retained)
            proc = broker.proc
            rss = harness.proc_sample(proc.pid)["rss_kb"]
            r = {"part": "restart", "broker": kind, "repeat": rep, "check": check, "cold": args.cold,
                 "connack_ms": round(t_connack * 1000, 1), "first_retained_ms": round(t_retained * 1000, 1),
                 "rss_kb_after_start": rss, "store_file_bytes": size0}
            if check:
                r.update(verify(broker, port, args))
            else:
                time.sleep(args.settle)  # Sol rewrites its file after a restore, in the background
            io = proc_io(proc.pid)
            r["write_bytes_start_to_stop"] = io["write_bytes"]
            stop_s, code, lines = stop(broker)
            r.update({"store_opened_ms": opened_ms(lines), "stop_s": round(stop_s, 3), "exit_code": code,
                      "store_file_bytes_after": file_size(os.path.join(directory, STORE_FILE[kind])),
                      "log_warnings": suspicious(lines)})
            r["log_store"] = [x for x in lines if "store" in x.lower() or "restor" in x.lower()
                              or "sav" in x.lower()][:10]
            log(f"restart #{rep + 1} {kind}: CONNACK {r['connack_ms']} ms, first retained "
                f"{r['first_retained_ms']} ms, store opened {r['store_opened_ms']} ms"
                + (f"; back: {r['retained_back']:,} retained, {r['sessions_present']} sessions, "
                   f"{r['queued_back']:,} queued" if check else ""))
            for w in r["log_warnings"]:
                log(f"  log: {w}")
            results.append(r)
            emit(out, r)
    return results


# ---------------------------------------------------------------- part 3: throughput

TP_SCENARIOS = {
    # compare.py's fanin-q1: the subscriber's session is clean, so nothing is durable.
    "fanin-q1": ["fan-in", "--qos", "1", "--size", "64"],
    # The same with a persistent subscriber: every message queued in a durable session.
    "fanin-q1-persistent": ["sessions", "--publishers", "64", "--subscribers", "1", "--qos", "1", "--size", "64",
                            "--rate", "0", "--offline", "0"],
    # That at a fixed rate Mosquitto also delivers in full: broker CPU per message.
    "fanin-q1-persistent-20k": ["sessions", "--publishers", "64", "--subscribers", "1", "--qos", "1",
                                "--size", "64", "--rate", "20000", "--offline", "0"],
    # 1 -> 1: a flood in which Mosquitto does not starve the subscriber (it reads one packet
    # per connection per loop turn, so 64 flooding publishers get 64 turns to its one).
    "q1-persistent-1to1": ["sessions", "--publishers", "1", "--subscribers", "1", "--qos", "1", "--size", "64",
                           "--rate", "0", "--offline", "0"],
    # Not in the default set: every message also replaces a retained message (64 topics).
    "fanin-q1-persistent-retain": ["sessions", "--publishers", "64", "--subscribers", "1", "--qos", "1",
                                   "--size", "64", "--rate", "0", "--offline", "0", "--retain"],
}
TP_DEFAULT = ["fanin-q1", "fanin-q1-persistent", "fanin-q1-persistent-20k", "q1-persistent-1to1"]
TP_MODES = {  # name -> (kind, mode)
    "sol-off": ("sol", "off"), "sol-interval": ("sol", "interval"), "sol-sync": ("sol", "sync"),
    "mosq-off": ("mosquitto", "off"), "mosq-on": ("mosquitto", "on"),
}


def io_window(duration):
    """harness.measure's `during`: broker CPU and /proc/PID/io over the publishing window."""
    def during(pid, _base):
        s0, io0 = harness.proc_sample(pid), proc_io(pid)
        time.sleep(duration)
        s1, io1 = harness.proc_sample(pid), proc_io(pid)
        return {"broker_cpu_window_s": round(s1["cpu"] - s0["cpu"], 4),
                "write_bytes_window": io1["write_bytes"] - io0["write_bytes"]}
    return during


def part_throughput(setup, args, loadgen, out):
    results = []
    for sc in args.tp_scenarios:
        for rep in range(args.repeats):
            order = args.tp_modes if rep % 2 == 0 else list(reversed(args.tp_modes))
            for name in order:
                kind, mode = TP_MODES[name]
                broker, directory = setup.broker(kind, mode, args.tp_interval)
                broker.name = name
                cmd = TP_SCENARIOS[sc] + ["--duration", str(args.tp_duration), "--drain", "5"]
                log(f"throughput: {sc} #{rep + 1} on {name}")
                try:
                    r = harness.measure(broker, cmd, loadgen, io_window(args.tp_duration),
                                        timeout=args.tp_duration + 120)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    log(f"  failed: {e}")
                    r = {"broker": name, "failed": str(e)}
                r.update({"part": "throughput", "scenario_name": sc, "mode": name, "repeat": rep,
                          "autosave_interval": args.tp_interval if mode != "off" else None,
                          "store_file_bytes": file_size(os.path.join(directory, STORE_FILE[kind]))})
                results.append(r)
                emit(out, r)
    return results


# ---------------------------------------------------------------- tables

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, float) and abs(v) < 1000:
        return f"{v:.{digits}g}"
    return f"{v:,.0f}"


def render(header, rows):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def ratio(a, b):
    return f"{a / b:.3g}x" if a is not None and b else "-"


def writes_table(results):
    rows = []
    keys = sorted({(r["autosave_interval"], r["reading"]) for r in results})
    metrics = [("msg_per_s", "msg/s published"), ("write_bytes", "write_bytes in window"),
               ("write_bytes_per_h", "write_bytes per hour"), ("cancelled_write_bytes", "cancelled_write_bytes"),
               ("store_write_syscall_bytes_est_per_h", "store write() bytes per hour"),
               ("wchar_per_h", "wchar per hour (sockets too)"), ("write_bursts", "write bursts seen"),
               ("saves_logged", "Mosquitto saves logged"), ("sys_store_syncs", "Sol $SYS store syncs"),
               ("sys_store_compactions", "Sol $SYS store compactions"),
               ("store_file_bytes_end", "store file at end, B"), ("lost", "deliveries lost")]
    for interval, reading in keys:
        sel = [r for r in results if r["autosave_interval"] == interval and r["reading"] == reading]
        n = len([r for r in sel if r["broker"] == "sol"])
        window = med([r["window_s"] for r in sel])
        for key, label in metrics:
            s = med([r.get(key) for r in sel if r["broker"] == "sol"])
            m = med([r.get(key) for r in sel if r["broker"] == "mosquitto"])
            rows.append([f"{reading} / {interval} s ({n} run(s), {fmt(window)} s)", label, fmt(s), fmt(m), ratio(s, m)])
    return render(["reading / autosave_interval", "metric", "sol", "mosquitto", "sol/mosquitto"], rows)


def restart_table(results):
    rows = []
    timing = [r for r in results if not r["check"]]
    for key, label in [("connack_ms", "exec -> CONNACK, ms"), ("first_retained_ms", "exec -> first retained message, ms"),
                       ("store_opened_ms", "Sol's 'store opened in', ms"), ("rss_kb_after_start", "RSS after start, KiB"),
                       ("store_file_bytes", "store file after fill + stop, B"),
                       ("write_bytes_start_to_stop", "write_bytes from start to stop, B"),
                       ("stop_s", "clean stop, s")]:
        s = med([r.get(key) for r in timing if r["broker"] == "sol"])
        m = med([r.get(key) for r in timing if r["broker"] == "mosquitto"])
        rows.append([label, fmt(s), fmt(m), ratio(s, m)])
    for r in results:
        if r["check"]:
            rows.append([f"{r['broker']}: state back after restart",
                         f"{r['retained_back']:,} retained, {r['sessions_present']} sessions, "
                         f"{r['queued_back']:,} queued", "", ""])
    return render(["metric (median)", "sol", "mosquitto", "sol/mosquitto"], rows)


def throughput_table(results, scenarios, modes):
    rows = []
    metrics = [("recv_rate", "delivered msg/s"), ("cpu_s_per_m", "broker CPU us/msg"), ("lost", "lost"),
               ("duplicates", "duplicates"), ("write_bytes_window", "write_bytes in window"),
               ("gen_cpu_pct", "generator CPU %")]
    for sc in scenarios:
        for key, label in metrics:
            meds = {m: med([r.get(key) for r in results if r.get("scenario_name") == sc and r.get("mode") == m])
                    for m in modes}
            row = [sc, label] + [fmt(meds[m]) for m in modes]
            if key == "recv_rate":
                row += [ratio(meds.get("sol-interval"), meds.get("sol-off")), ratio(meds.get("sol-sync"), meds.get("sol-off")),
                        ratio(meds.get("mosq-on"), meds.get("mosq-off"))]
            else:
                row += ["", "", ""]
            rows.append(row)
    return render(["scenario", "metric"] + modes + ["sol int/off", "sol sync/off", "mosq on/off"], rows)


def emit(out, r):
    if out:
        out.write(json.dumps(r) + "\n")
        out.flush()


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="writes,restart,throughput")
    ap.add_argument("--peers", default="sol,mosquitto", help="writes and restart: brokers (sol, mosquitto)")
    ap.add_argument("--dir", default="/var/tmp", help="where the store directories are made (a disk, not tmpfs)")
    ap.add_argument("--keep", action="store_true", help="keep the store directories")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--out", help="append every run as a JSON line to this file")
    ap.add_argument("--smoke", action="store_true", help="CI: every part, small, ~30 s")
    g = ap.add_argument_group("writes")
    g.add_argument("--readings", default="uniform,mix", help=f"from: {', '.join(READINGS)}")
    g.add_argument("--intervals", default="10", help="autosave_interval values, comma-separated")
    g.add_argument("--duration", type=float, default=180.0, help="measured window, s")
    g.add_argument("--warmup", type=float, help="s between the initial publishes and the window "
                   "(default autosave_interval + 10)")
    g.add_argument("--topics", type=int, default=2000)
    g.add_argument("--subscribers", type=int, default=50)
    g.add_argument("--publishers", type=int, default=10)
    g.add_argument("--payload", type=int, default=100, help="payload bytes of a device state")
    g = ap.add_argument_group("restart")
    g.add_argument("--retained", type=int, default=100000)
    g.add_argument("--sessions", type=int, default=50)
    g.add_argument("--queued", type=int, default=1000, help="messages queued per session")
    g.add_argument("--restart-payload", type=int, default=64)
    g.add_argument("--restarts", type=int, default=3, help="timed restarts per broker (then one check)")
    g.add_argument("--restart-interval", type=int, default=60)
    g.add_argument("--settle", type=float, default=2.0, help="s a timed start runs before its stop")
    g.add_argument("--cold", action="store_true", help="empty the page cache before each start (root): "
                   "the store is read from the disk, as after a reboot")
    g = ap.add_argument_group("throughput")
    g.add_argument("--tp-scenarios", default=",".join(TP_DEFAULT), help=f"from: {', '.join(TP_SCENARIOS)}")
    g.add_argument("--tp-modes", default=",".join(TP_MODES), help=f"from: {', '.join(TP_MODES)}")
    g.add_argument("--tp-duration", type=float, default=10.0)
    g.add_argument("--tp-interval", type=int, default=2,
                   help="autosave_interval of the interval modes (short, so that saves happen in the run)")
    args = ap.parse_args()
    split = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    if args.smoke:
        harness.STEAL_RERUNS = 0  # smoke timings are not published: no run is made again
        args.repeats, args.intervals, args.readings = 1, "1", "mix"
        args.duration, args.warmup, args.topics, args.subscribers, args.publishers = 3.0, 1.5, 200, 5, 2
        args.retained, args.sessions, args.queued, args.restarts, args.settle = 2000, 5, 100, 1, 0.2
        args.tp_scenarios, args.tp_modes, args.tp_duration = "fanin-q1-persistent", "sol-off,sol-sync,mosq-on", 1.0
    args.parts, args.peers, args.readings = split(args.parts), split(args.peers), split(args.readings)
    args.intervals = [int(x) for x in split(args.intervals)]
    args.tp_scenarios, args.tp_modes = split(args.tp_scenarios), split(args.tp_modes)
    for s in args.tp_scenarios:
        if s not in TP_SCENARIOS:
            raise SystemExit(f"unknown scenario {s}")
    for m in args.tp_modes:
        if m not in TP_MODES:
            raise SystemExit(f"unknown mode {m}")

    sol, loadgen = harness.build(args.no_build)
    mosquitto = harness.ensure_mosquitto()
    harness.raise_nofile(1024)
    fs = filesystem(args.dir)
    info = {**harness.machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "store_dir": args.dir,
            "filesystem": fs, "mosquitto": subprocess.run([mosquitto, "-h"], capture_output=True,
                                                         text=True).stdout.splitlines()[:1]}
    log(f"machine: {info}")
    if fs and fs[2] in ("tmpfs", "ramfs"):
        log(f"warning: {args.dir} is on {fs[2]}: write_bytes will not mean disk writes; use --dir")
    setup = Setup(sol, mosquitto, args.dir, keep=args.keep)
    out = open(args.out, "a") if args.out else None
    emit(out, {"machine": info, "args": {k: v for k, v in vars(args).items()}})
    failures = []
    try:
        if "writes" in args.parts:
            res = part_writes(setup, args, out)
            print(f"\nbytes written, home-gateway workload: {args.topics} retained topics, {args.subscribers} "
                  f"persistent QoS 1 subscribers, medians")
            print(writes_table(res))
            failures += [f"writes {r['broker']}: {r['lost']} lost" for r in res if r["lost"]]
        if "restart" in args.parts:
            res = part_restart(setup, args, out)
            print(f"\nrestart with {args.retained:,} retained and {args.sessions} x {args.queued:,} queued, "
                  f"medians of {args.restarts}")
            print(restart_table(res))
            for r in res:
                if r["check"] and (r["retained_back"] != args.retained or r["sessions_present"] != args.sessions
                                   or r["queued_back"] != args.sessions * args.queued):
                    failures.append(f"restart {r['broker']}: state missing after restart: {r}")
        if "throughput" in args.parts:
            res = part_throughput(setup, args, loadgen, out)
            print(f"\nQoS 1 fan-in by durability mode, {args.tp_duration:g} s runs, interval modes "
                  f"autosave_interval {args.tp_interval}, medians of {args.repeats}")
            print(throughput_table(res, args.tp_scenarios, args.tp_modes))
            failures += [f"throughput {r['mode']} {r['scenario_name']}: {r['failed']}" for r in res if "failed" in r]
            failures += [f"throughput {r['mode']} {r['scenario_name']}: {r['errors']} connection errors"
                         for r in res if r.get("errors")]
            failures += [f"throughput {r['mode']} {r['scenario_name']}: {r['lost']} lost"
                         for r in res if r.get("lost") and r["mode"].startswith("sol")]
    finally:
        setup.cleanup()
        if out:
            out.close()
    for f in failures:
        log(f"FAILED: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
