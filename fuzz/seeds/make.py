#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/corpus/codec, fuzz/corpus/broker) from real packets.

Run from the repository root: python3 fuzz/seeds/make.py. The broker seeds are spelled in
the event format that fuzz/src/broker.rs reads (see its `run` and `packet`).
"""
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")


def s(text):
    b = text.encode()
    return len(b).to_bytes(2, "big") + b


def pkt(first, body):
    n, rl = len(body), bytearray()
    while True:
        d, n = n % 128, n // 128
        rl.append(d | (0x80 if n else 0))
        if not n:
            break
    return bytes([first]) + bytes(rl) + body


CODEC = {
    "connect-311": pkt(0x10, s("MQTT") + bytes([4, 0x02]) + (60).to_bytes(2, "big") + s("c1")),
    "connect-31-will-user-pass": pkt(
        0x10,
        s("MQIsdp") + bytes([3, 0xEE]) + (10).to_bytes(2, "big")
        + s("c2") + s("w/t") + s("gone") + s("user") + s("pw"),
    ),
    "connack": pkt(0x20, bytes([1, 0])),
    "publish-qos0-retain": pkt(0x31, s("a/b") + b"hello"),
    "publish-qos1-dup": pkt(0x3A, s("a/b") + (7).to_bytes(2, "big") + b"x"),
    "publish-qos2": pkt(0x34, s("s/\u00e9") + (9).to_bytes(2, "big")),
    "acks": pkt(0x40, b"\x00\x07") + pkt(0x50, b"\x00\x09") + pkt(0x62, b"\x00\x09")
    + pkt(0x70, b"\x00\x09") + pkt(0xB0, b"\x00\x05"),
    "subscribe": pkt(0x82, b"\x00\x05" + s("a/+") + b"\x01" + s("#") + b"\x02"),
    "suback": pkt(0x90, b"\x00\x05\x01\x80"),
    "unsubscribe": pkt(0xA2, b"\x00\x06" + s("a/+") + s("$SYS/#")),
    "ping-disconnect": pkt(0xC0, b"") + pkt(0xD0, b"") + pkt(0xE0, b""),
    "non-minimal-length": bytes([0xC0, 0x80, 0x00]),
    "split-publish": pkt(0x30, s("t") + b"payload")[:6],
}

# --- broker events (see fuzz/src/broker.rs) ---
ACCEPT, PACKET, RAW, WRITE, CLOSE, ADVANCE, RECONFIGURE, SET_AUTH = 0, 1, 4, 5, 6, 7, 8, 9
LEVEL = {"a": 0, "b": 1, "c": 2, "$SYS": 3, "": 4, "broker": 5, "c0": 6, "alice": 7}
CID = {"": 0, "c0": 1, "c1": 2, "c2": 3}
PID = {1: 0, 2: 1, 3: 2, 65535: 3}
USER = {"alice": 0, "bob": 1, "eve": 2, "a/b": 3}
PASSWORD = {"secret-a": 0, "secret-b": 1, "wrong": 2, "": 3}
SECURED = 0x20


def secured(passwords=0, acl=0, refuse_anonymous=(False, False), small=False):
    """The first bytes of a secured run: PASSWORD_FILES[passwords - 1] and ACLS[acl - 1]
    (0: none), listeners 0 and 1 refusing anonymous clients or not."""
    listeners = sum(1 << i for i, refuse in enumerate(refuse_anonymous) if refuse)
    return bytes([SECURED | int(small), passwords | acl << 2 | listeners << 4])


def topic(levels):
    return bytes([len(levels) - 1] + [LEVEL[l] for l in levels])


def filt(levels):
    out = [len(levels) - 1]
    for l in levels:
        out += [0] if l == "+" else [1] if l == "#" else [2, LEVEL[l]]
    return bytes(out)


def accept(c, listener=0):
    return bytes([c | listener << 2, ACCEPT])


def connect(c, cid, clean=True, keep_alive_idx=3, will=None, user=None, password=None):
    body = bytes([c, PACKET, 0, 0, 1])  # kind CONNECT, id (unused), level 3.1.1
    if will:
        body += b"\x01" + topic(will) + b"\x04gone" + b"\x01\x00"  # will qos 1, no retain
    else:
        body += b"\x00"
    body += bytes([1 | USER[user] << 1 if user else 0, int(clean), keep_alive_idx, CID[cid]])
    if user:
        body += bytes([1 | PASSWORD[password] << 1 if password is not None else 0])
    return body + b"\x00"  # split: none


def publish(c, levels, qos, pid=1, payload=b"hi", retain=False):
    return (bytes([c, PACKET, 2, PID[pid], qos]) + topic(levels)
            + bytes([0, int(retain), len(payload)]) + payload + b"\x00")


def subscribe(c, filters, pid=1):
    body = bytes([c, PACKET, 10, PID[pid], len(filters) - 1])
    for levels, qos in filters:
        body += filt(levels) + bytes([qos])
    return body + b"\x00"


def ack(c, kind, pid):
    return bytes([c, PACKET, kind, PID[pid], 0])


def write(c, n=0xFFFF):
    return bytes([c, WRITE]) + n.to_bytes(2, "big")


def advance(step_idx):
    return bytes([0, ADVANCE, step_idx])


def reconfigure(choice):
    """Caps of `limits(choice)`; bits 5 and 6 make listeners 0 and 1 refuse anonymous."""
    return bytes([0, RECONFIGURE, choice])


def set_auth(passwords=0, acl=0):
    return bytes([0, SET_AUTH, passwords | acl << 2])


def written(*conns):
    return b"".join(write(c) for c in conns)


BROKER = {
    "qos1-fan-out": b"\x00" + accept(0) + connect(0, "c0") + subscribe(0, [(["a", "#"], 1)])
    + accept(1) + connect(1, "c1") + publish(1, ["a", "b"], 1) + write(1) + write(0, 3)
    + write(0) + ack(0, 6, 1) + advance(1) + bytes([1, CLOSE]),
    "qos2-flow-small-caps": b"\x01" + accept(0) + connect(0, "c0", clean=False, keep_alive_idx=2)
    + subscribe(0, [(["+"], 2)]) + accept(1) + connect(1, "c1", keep_alive_idx=2) + publish(1, ["a"], 2, 2)
    + ack(1, 8, 2) + write(1) + write(0) + ack(0, 7, 1) + ack(0, 9, 1) + write(0)
    + bytes([0, CLOSE]) + advance(4),
    "will-and-takeover": b"\x00" + accept(0) + connect(0, "c0", will=["a", "b"])
    + accept(1) + connect(1, "c1") + subscribe(1, [(["a", "b"], 0)]) + accept(2)
    + connect(2, "c0") + write(0) + write(1) + write(2) + advance(3),
    "timeouts-and-raw": b"\x00" + accept(3) + advance(3) + accept(2) + bytes([2, RAW, 3])
    + b"\x10\xff\xff" + accept(1) + connect(1, "", keep_alive_idx=1) + advance(2) + write(1),
    "flow-control-pause": b"\x01" + accept(0) + connect(0, "c0", keep_alive_idx=2)
    + subscribe(0, [(["a"], 1)]) + accept(1) + connect(1, "c1", keep_alive_idx=2)
    + b"".join(publish(1, ["a"], 1, pid) for pid in (1, 2, 3, 65535, 1, 2, 3))
    + write(0) + ack(0, 6, 1) + ack(0, 6, 2) + write(0) + advance(2) + write(1) + advance(3),
    # Logins against PASSWORD_FILES[0] ($6$ alice, $7$ bob); listener 1 refuses anonymous.
    "auth-logins": secured(passwords=1, refuse_anonymous=(False, True))
    + accept(0) + connect(0, "c0") + accept(1, 1) + connect(1, "c1")
    + accept(2) + connect(2, "c2", user="alice", password="secret-a")
    + accept(3) + connect(3, "c1", user="alice", password="wrong") + written(0, 1, 2, 3)
    + accept(1, 1) + connect(1, "c1", user="bob", password="secret-b")
    + accept(3) + connect(3, "", user="eve", password="secret-a") + written(1, 3)
    + set_auth(passwords=2) + accept(3, 1) + connect(3, "c0", user="alice", password="secret-b")
    + written(0, 3) + bytes([1, CLOSE]) + accept(1) + connect(1, "c1", user="bob") + written(1),
    # ACLS[0]: alice (client c0), bob and an anonymous client subscribe; publishes hit
    # allow, deny, `+`, `#`, `%c` and `%u` rules, live and retained.
    "acl-deliveries": secured(acl=1)
    + accept(0) + connect(0, "c0", user="alice")
    + subscribe(0, [(["#"], 1), (["c0", "#"], 1), (["alice", "+"], 0)])
    + accept(1) + connect(1, "c1", user="bob") + subscribe(1, [(["+", "b"], 0), (["c", "#"], 0)])
    + accept(2) + connect(2, "c2") + subscribe(2, [(["a", "#"], 0), (["$SYS", "#"], 0)])
    + publish(0, ["a", "b"], 1) + publish(0, ["a", "c"], 1, 2) + publish(0, ["b"], 0)
    + publish(0, ["c0", "a"], 0) + publish(0, ["alice", "a"], 0) + publish(1, ["c", "a"], 0)
    + publish(1, ["a"], 0) + publish(0, ["a", "a"], 0, retain=True) + written(0, 1, 2)
    + ack(0, 6, 1) + accept(3) + connect(3, "c2", user="a/b") + subscribe(3, [(["#"], 0)])
    + advance(3) + written(0, 1, 2, 3),
    # A will to a topic alice may not write is refused; bob's session keeps a message
    # routed under ACLS[0] across a reload to ACLS[1] and small caps, then resumes.
    "will-denied-and-reload": secured(passwords=1, acl=1)
    + accept(0) + connect(0, "c0", will=["a", "c"], user="alice", password="secret-a")
    + accept(1) + connect(1, "c1", clean=False, will=["c", "a"], user="bob", password="secret-b")
    + subscribe(1, [(["+", "b"], 1)]) + written(0, 1)
    + accept(0) + connect(0, "c0", clean=False, user="alice", password="secret-a")
    + subscribe(0, [(["a", "#"], 1)]) + bytes([1, CLOSE]) + publish(0, ["a", "b"], 1)
    + set_auth(passwords=1, acl=2) + reconfigure(0x41)
    + accept(1) + connect(1, "c1", clean=False, user="bob", password="secret-b", keep_alive_idx=2)
    + written(0, 1) + ack(1, 6, 1) + publish(0, ["a", "b"], 1, 2) + written(0, 1) + advance(4),
    # Under ACLS[1], eve resumes the session alice left with a queued message; what is
    # routed after that is checked against eve's rules. ACLS[2]'s patterns after a reload.
    "resumed-by-another-user": secured(acl=2)
    + accept(0) + connect(0, "c0", clean=False, user="alice") + subscribe(0, [(["#"], 1)])
    + bytes([0, CLOSE]) + accept(1) + connect(1, "c1") + publish(1, ["a"], 1)
    + accept(0) + connect(0, "c0", clean=False, user="eve") + publish(1, ["c"], 0)
    + written(0, 1) + set_auth(acl=3) + subscribe(0, [(["c0", "#"], 0), (["a", "+"], 0)])
    + publish(0, ["c0", "alice", "a"], 0) + publish(1, ["a", "b"], 0) + publish(1, ["a", "c"], 0)
    + written(0, 1) + reconfigure(0x20) + accept(2) + connect(2, "c2") + written(2),
}

for target, seeds in (("codec", CODEC), ("broker", BROKER)):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
