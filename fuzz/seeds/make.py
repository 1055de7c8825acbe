#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/corpus/codec, fuzz/corpus/broker, fuzz/corpus/ws) from real
packets.

Run from the repository root: python3 fuzz/seeds/make.py. The broker seeds are spelled in
the event format that fuzz/src/broker.rs reads (see its `run` and `packet`). The ws seeds are
a byte choosing the split, then an upgrade request and/or client frames (fuzz/src/ws.rs).
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
    # Mosquitto bridges (try_private) set the level's high bit; 0x85 is refused.
    "connect-311-bridge": pkt(0x10, s("MQTT") + bytes([0x84, 0x02]) + (60).to_bytes(2, "big") + s("b1")),
    "connect-31-bridge": pkt(0x10, s("MQIsdp") + bytes([0x83, 0x00]) + (60).to_bytes(2, "big") + s("b2")),
    "connect-5-bridge-bit": pkt(0x10, s("MQTT") + bytes([0x85, 0x02]) + (60).to_bytes(2, "big") + b"\x00" + s("b3")),
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

# --- MQTT 5.0 ---------------------------------------------------------------------------


def varint(n):
    out = bytearray()
    while True:
        d, n = n % 128, n // 128
        out.append(d | (0x80 if n else 0))
        if not n:
            return bytes(out)


def props(*items):
    """A property section: its length, then (id, value bytes) items."""
    body = b"".join(bytes([i]) + v for i, v in items)
    return varint(len(body)) + body


def u16(n):
    return n.to_bytes(2, "big")


def u32(n):
    return n.to_bytes(4, "big")


def pair(k, v):
    return s(k) + s(v)


CODEC.update({
    # Level 5 CONNECT: session expiry, receive maximum, maximum packet size, topic alias
    # maximum, user property; a will with delay, expiry, payload format, content type.
    "v5-connect-will-props": pkt(
        0x10,
        s("MQTT") + bytes([5, 0x2E]) + (30).to_bytes(2, "big")
        + props((0x11, u32(3600)), (0x21, u16(2)), (0x27, u32(1024)), (0x22, u16(10)),
                (0x26, pair("k", "v")))
        + s("c5")
        + props((0x18, u32(5)), (0x02, u32(60)), (0x01, b"\x01"), (0x03, s("text/plain")))
        + s("w/t") + s("gone") + s("user"),
    ),
    "v5-connack-props": pkt(
        0x20, bytes([1, 0]) + props((0x21, u16(20)), (0x27, u32(128)), (0x22, u16(10)),
                                    (0x12, s("auto-0123")), (0x13, u16(5)), (0x25, b"\x00")),
    ),
    # PUBLISH with a topic alias set, then used with an empty topic; expiry, user
    # properties, payload format, response topic, correlation data, subscription ids.
    "v5-publish-alias": pkt(
        0x32, s("a/b") + u16(7)
        + props((0x23, u16(1)), (0x02, u32(60)), (0x26, pair("k", "v1")), (0x26, pair("k", "v2")),
                (0x01, b"\x01"), (0x08, s("r/t")), (0x09, s("id")))
        + b"hello",
    ) + pkt(0x30, s("") + props((0x23, u16(1))) + b"again")
    + pkt(0x30, s("a") + props((0x0B, varint(1)), (0x0B, varint(268435455))) + b"x"),
    # Acknowledgments: short forms, reason codes, properties; long forms of success.
    "v5-acks": pkt(0x40, b"\x00\x07") + pkt(0x40, b"\x00\x07\x10")
    + pkt(0x50, b"\x00\x07\x80" + props((0x1F, s("no")))) + pkt(0x62, b"\x00\x07\x92\x00")
    + pkt(0x70, b"\x00\x07\x00\x00") + pkt(0x40, b"\x00\x07\x00"),
    "v5-subscribe-options": pkt(
        0x82, u16(5) + props((0x0B, varint(42)), (0x26, pair("k", "v")))
        + s("a/+") + bytes([0x01 | 0x04 | 0x08 | 0x10]) + s("$share/g/#") + bytes([0x22]),
    ) + pkt(0x90, u16(5) + props((0x1F, s("ok"))) + b"\x01\x9e\xa1"),
    "v5-unsubscribe-unsuback": pkt(0xA2, u16(6) + props((0x26, pair("k", "v"))) + s("a/+"))
    + pkt(0xB0, u16(6) + props() + b"\x00\x11"),
    "v5-disconnect-auth": pkt(0xE0, b"") + pkt(0xE0, b"\x04") + pkt(0xE0, b"\x00\x00")
    + pkt(0xE0, b"\x00" + props((0x11, u32(0)), (0x1F, s("bye"))))
    + pkt(0xF0, b"\x18" + props((0x15, s("SCRAM-SHA-1")), (0x16, b"\x00\x03r=x"))) + pkt(0xF0, b""),
    # Malformed sections: an unknown identifier, a duplicate, a value out of range.
    "v5-bad-properties": pkt(0x30, s("a") + b"\x02\x7f\x00")
    + pkt(0x30, s("a") + props((0x02, u32(1)), (0x02, u32(2))))
    + pkt(0x30, s("a") + props((0x23, u16(0)))),
})


def connect5(c, cid, clean=True, keep_alive_idx=3, will=None, user=None, password=None,
             props5=b"\x00", will_props5=b"\x00"):
    """An MQTT 5.0 CONNECT event: `props5` and `will_props5` are what
    `connect_properties` and `will_properties` read (a mask byte, then values). Without
    a user, `password` is sent alone (MQTT 5.0 allows it)."""
    body = bytes([c, PACKET, 0, 0, 5])  # kind CONNECT, id (unused), level 5.0
    if will:
        body += b"\x01" + topic(will) + b"\x04gone" + b"\x01\x00"  # will qos 1, no retain
    else:
        body += b"\x00"
    if user:
        user_byte = 1 | USER[user] << 1
    else:
        # Bit 7: a password without a user (bits 5-6 choose it).
        user_byte = 0x80 | PASSWORD[password] << 5 if password is not None else 0
    body += bytes([user_byte, int(clean), keep_alive_idx, CID[cid]])
    if user:
        body += bytes([1 | PASSWORD[password] << 1 if password is not None else 0])
    body += props5
    if will:
        body += will_props5
    return body + b"\x00"  # split: none


# Indexes into the driver's vocabularies (fuzz/src/broker.rs).
SESSION_EXPIRY = {0: 0, 10: 1, 3600: 2, 0xFFFFFFFF: 3}
RECEIVE_MAX = {1: 0, 2: 1, 65535: 2}
MAX_PACKET = {48: 0, 96: 1, 1024: 2}
ALIAS_MAX = {0: 0, 2: 1, 10: 2}
ALIAS = {1: 0, 2: 1, 3: 2, 11: 3}
MESSAGE_EXPIRY = {0: 0, 1: 1, 60: 2, 86400: 3}
WILL_DELAY = {0: 0, 1: 1, 100: 2}
SUB_ID = {1: 0, 2: 1, 127: 2, 268435455: 3}


def cprops(expiry=None, receive_max=None, max_packet=None, alias_max=None, user=False,
           requests=False, auth_method=False):
    mask, out = 0, b""
    if expiry is not None:
        mask, out = mask | 1, out + bytes([SESSION_EXPIRY[expiry]])
    if receive_max is not None:
        mask, out = mask | 2, out + bytes([RECEIVE_MAX[receive_max]])
    if max_packet is not None:
        mask, out = mask | 4, out + bytes([MAX_PACKET[max_packet]])
    if alias_max is not None:
        mask, out = mask | 8, out + bytes([ALIAS_MAX[alias_max]])
    mask |= 16 * user | 32 * requests | 64 * auth_method
    return bytes([mask]) + out


def wprops(delay=None, expiry=None, utf8=False, user=False, response=False):
    mask, out = 0, b""
    if delay is not None:
        mask, out = mask | 1, out + bytes([WILL_DELAY[delay]])
    if expiry is not None:
        mask, out = mask | 2, out + bytes([MESSAGE_EXPIRY[expiry]])
    mask |= 4 * utf8 | 8 * user | 16 * response
    return bytes([mask]) + out


def raw_props(data):
    """A property section of raw bytes (mask bit 7): at most 16 of them."""
    return bytes([0x80, len(data)]) + data


def publish5(c, levels, qos, pid=1, payload=b"hi", retain=False, alias=None, use_alias=False,
             expiry=None, user=False, format_byte=None, response=None, content_type=False,
             sub_id=False, raw=None):
    body = (bytes([c, PACKET, 2, PID[pid], qos]) + topic(levels)
            + bytes([0, int(retain), len(payload)]) + payload)
    if raw is not None:
        return body + raw_props(raw) + b"\x00"
    mask, out = 0, b""
    if alias is not None:
        mask, out = mask | 1 | (2 if use_alias else 0), out + bytes([ALIAS[alias]])
    if expiry is not None:
        mask, out = mask | 4, out + bytes([MESSAGE_EXPIRY[expiry]])
    mask |= 8 * user
    if format_byte is not None:
        mask, out = mask | 16, out + bytes([format_byte])
    if response is not None:
        corr = b"id"
        mask, out = mask | 32, out + topic(response) + bytes([len(corr)]) + corr
    if content_type or sub_id:
        mask, out = mask | 64, out + bytes([int(content_type) | 2 * int(sub_id)])
    return body + bytes([mask]) + out + b"\x00"


SHARE = {None: 0, "g": 1, "h": 2, "bad": 3}


def subscribe5(c, filters, pid=1, sub_id=None, user=False):
    """`filters`: (levels, qos, share, no_local, retain_as_published, retain_handling)."""
    body = bytes([c, PACKET, 10, PID[pid], len(filters) - 1])
    for levels, qos, share, nl, rap, rh in filters:
        f = filt(levels)
        body += bytes([f[0] | SHARE[share] << 6]) + f[1:] + bytes([qos])
        body += bytes([int(nl) | int(rap) << 1 | rh << 2])
    mask, out = 0, b""
    if sub_id is not None:
        mask, out = 1, bytes([SUB_ID[sub_id]])
    mask |= 2 * user
    return body + bytes([mask]) + out + b"\x00"


def subscribe_shared(c, filters, pid=1):
    """An MQTT 3.1.1 SUBSCRIBE whose filters may be shared: (levels, qos, share)."""
    body = bytes([c, PACKET, 10, PID[pid], len(filters) - 1])
    for levels, qos, share in filters:
        f = filt(levels)
        body += bytes([f[0] | SHARE[share] << 6]) + f[1:] + bytes([qos])
    return body + b"\x00"


ACK_REASON = {0x00: 0, 0x10: 1, 0x80: 2, 0x97: 3}
REL_REASON = {0x00: 0, 0x92: 1}


def ack5(c, kind, pid, reason=0, reason_string=False):
    idx = ACK_REASON[reason] if kind in (6, 7) else REL_REASON[reason]
    return bytes([c, PACKET, kind, PID[pid], idx, int(reason_string), 0])


def disconnect5(c, reason=0, expiry=None, reason_string=False):
    mask, out = int(reason_string), b""
    if expiry is not None:
        mask, out = mask | 4, bytes([SESSION_EXPIRY[expiry]])
    return bytes([c, PACKET, 13, 0, {0: 0, 4: 1, 0x80: 2}[reason], mask]) + out + b"\x00"


def auth5(c, reason=0x18, method=True):
    return bytes([c, PACKET, 14, 0, 1, {0: 0, 0x18: 1, 0x19: 2}[reason], 4 * int(method), 0])


BROKER.update({
    # Two 5.0 clients: c0 subscribes with an identifier, No Local and Retain As Published;
    # c1 sets topic aliases and uses them (QoS 0, 1, 2), with expiry, user properties,
    # payload format, response topic and correlation data; acknowledgments with reasons.
    "v5-alias-properties": b"\x00" + accept(0)
    + connect5(0, "c0", props5=cprops(expiry=3600, receive_max=2, max_packet=1024, alias_max=10,
                                      user=True, requests=True))
    + subscribe5(0, [(["a", "#"], 2, None, False, True, 0), (["c"], 1, None, True, False, 1)],
                 sub_id=2, user=True)
    + accept(1) + connect5(1, "c1", props5=cprops(expiry=10))
    + publish5(1, ["a", "b"], 1, alias=1, expiry=60, user=True, format_byte=1,
               response=["c", "a"], content_type=True)
    + publish5(1, ["a", "b"], 2, pid=2, payload=b"again", alias=1, use_alias=True)
    + publish5(1, ["a", "b"], 0, payload=b"\xff", format_byte=1)
    + publish5(1, ["c"], 0, alias=2) + publish5(1, ["c"], 0, payload=b"mine", alias=2, use_alias=True)
    + write(1) + ack5(1, 8, 2) + write(0) + ack5(0, 6, 1, 0x10, reason_string=True)
    + ack5(0, 7, 2) + write(0) + ack5(0, 9, 2) + write(0) + written(0, 1) + advance(2)
    + written(0, 1),
    # Receive Maximum 1 with a 3.1.1 publisher's burst: one in flight at a time; an
    # acknowledgment sent before the PUBLISH it answers was read.
    "v5-receive-maximum": b"\x00" + accept(0)
    + connect5(0, "c0", clean=False, props5=cprops(expiry=3600, receive_max=1))
    + subscribe5(0, [(["a"], 2, None, False, False, 0)]) + write(0) + accept(1) + connect(1, "c1")
    + b"".join(publish(1, ["a"], 1, pid) for pid in (1, 2, 3, 65535)) + write(1)
    + ack5(0, 6, 1) + write(0, 9) + write(0) + ack5(0, 6, 2) + write(0) + ack5(0, 6, 3) + write(0)
    + publish(1, ["a"], 2, 2) + write(0) + ack5(0, 7, 1) + ack5(0, 9, 1) + write(0)
    + bytes([0, CLOSE]) + accept(0)
    + connect5(0, "c0", clean=False, props5=cprops(expiry=3600, receive_max=2)) + write(0)
    + ack5(0, 6, 1) + ack5(0, 6, 2) + write(0) + written(0, 1),
    # Shared subscriptions from a 3.1.1 and a 5.0 client, an invalid share name, No Local
    # on a shared one (a protocol error); retained messages and Retain Handling 1 and 2.
    "v5-shared-retained": b"\x08" + accept(0) + connect(0, "c0")
    + subscribe_shared(0, [(["a", "#"], 1, "g"), (["+"], 0, "bad")]) + accept(1)
    + connect5(1, "c1") + subscribe5(1, [(["a", "#"], 2, "g", False, True, 0),
                                         (["a", "b"], 1, "h", False, False, 0)], sub_id=127)
    + accept(2) + connect5(2, "c2")
    + publish5(2, ["a", "b"], 1, retain=True, user=True)
    + publish5(2, ["a", "c"], 0, payload=b"r", retain=True, expiry=60)
    + subscribe5(2, [(["a", "#"], 1, None, True, True, 1)], pid=2, sub_id=1)
    + subscribe5(2, [(["a", "#"], 1, None, False, False, 1)], pid=3, sub_id=1)
    + subscribe5(2, [(["a", "c"], 0, None, False, False, 2)], pid=65535)
    + b"".join(publish5(2, ["a", "b"], 1, pid) for pid in (1, 2, 3))
    + written(0, 1, 2) + ack(0, 6, 1) + ack5(1, 6, 1) + ack5(2, 6, 1) + written(0, 1, 2)
    + accept(3) + connect5(3, "", props5=cprops(max_packet=48))
    + subscribe5(3, [(["a", "#"], 0, "h", True, False, 0)]) + written(3),
    # Wills: a delayed one after DISCONNECT 0x04, one discarded by DISCONNECT 0x00, one
    # after a protocol error (a Session Expiry Interval where CONNECT had none), one whose
    # client returns within the delay; time passes.
    "v5-wills-disconnect": b"\x00" + accept(3) + connect5(3, "c2")
    + subscribe5(3, [(["#"], 1, None, False, False, 0)], sub_id=268435455) + accept(0)
    + connect5(0, "c0", will=["a", "b"], props5=cprops(expiry=10),
               will_props5=wprops(delay=1, expiry=60, utf8=True, user=True, response=True))
    + disconnect5(0, 4, expiry=3600) + accept(1)
    + connect5(1, "c1", will=["b"], will_props5=wprops(expiry=1)) + disconnect5(1, 0)
    + accept(1) + connect5(1, "c1", will=["c"]) + disconnect5(1, 0, expiry=10)
    + accept(2) + connect5(2, "", clean=False, will=["a"], props5=cprops(expiry=3600),
                           will_props5=wprops(delay=100))
    + bytes([2, CLOSE]) + written(3) + advance(2) + written(3) + accept(0)
    + connect5(0, "c0", clean=False, will=["a", "b"], props5=cprops(expiry=3600),
               will_props5=wprops(delay=100)) + bytes([0, CLOSE]) + accept(0)
    + connect5(0, "c0", clean=False) + advance(3) + written(0, 3) + ack5(3, 6, 1) + written(3),
    # AUTH and an authentication method (refused: none configured), a client's
    # Subscription Identifier and topic alias out of range (protocol errors), raw
    # property sections, a 3.1.1 client's AUTH bytes.
    "v5-auth-and-malformed": b"\x00" + accept(0) + connect5(0, "c0", props5=cprops(auth_method=True))
    + written(0) + accept(0) + connect5(0, "c0") + auth5(0) + written(0)
    + accept(1) + connect5(1, "c1", props5=raw_props(b"\x11\x00\x00\x00\x0a\x11\x00\x00\x00\x0a"))
    + written(1) + accept(1) + connect5(1, "c1", password="secret-a")
    + publish5(1, ["a"], 0, sub_id=True) + written(1)
    + accept(1) + connect5(1, "c1") + publish5(1, ["a"], 0, alias=11) + written(1)
    + accept(1) + connect5(1, "c1") + publish5(1, ["a"], 0, alias=3, use_alias=True) + written(1)
    + accept(2) + connect5(2, "c2") + publish5(2, ["a"], 1, raw=b"\x26\x00\x01k") + written(2)
    + accept(3) + connect(3, "c1") + bytes([3, RAW, 2]) + b"\xf0\x00" + written(3),
    # Maximum Packet Size 48: a small delivery passes, a large one is dropped; a topic
    # alias maximum of 0 in small caps (choice bit 7).
    "v5-max-packet-size": b"\x81" + accept(0)
    + connect5(0, "c0", props5=cprops(max_packet=48, alias_max=2))
    + subscribe5(0, [(["#"], 1, None, False, False, 0)], sub_id=268435455)
    + accept(1) + connect5(1, "c1") + publish5(1, ["a"], 1, payload=b"small")
    + publish5(1, ["a", "b", "c"], 1, pid=2, payload=b"0123456789abcdef", user=True)
    + publish5(1, ["a"], 0, alias=1) + written(0, 1) + ack5(0, 6, 1) + written(0),
    # ACLS[0] with topic aliases: alice sets an alias on a topic she may write, then one
    # on a topic she may not; both are used with an empty topic.
    "v5-acl-aliases": secured(passwords=1, acl=1)
    + accept(0) + connect5(0, "c0", user="alice", password="secret-a")
    + subscribe5(0, [(["a", "#"], 1, None, False, False, 0)]) + accept(1)
    + connect5(1, "c1", user="bob", password="secret-b")
    + subscribe5(1, [(["+", "b"], 0, None, False, False, 0)], sub_id=1)
    + publish5(0, ["a", "b"], 1, alias=1) + publish5(0, ["a", "c"], 1, pid=2, alias=2)
    + publish5(0, ["a", "b"], 0, payload=b"via", alias=1, use_alias=True)
    + publish5(0, ["a", "c"], 0, payload=b"via", alias=2, use_alias=True)
    + written(0, 1) + set_auth(passwords=1, acl=2) + publish5(0, ["a", "b"], 0, alias=1, use_alias=True)
    + written(0, 1),
})

# --- WebSocket streams (see fuzz/src/ws.rs): split seed, upgrade request, client frames ---
def ws_frame(first, payload, mask=b"\x37\xfa\x21\x3d", length=None):
    """A masked client frame; `length` forces the length field's form (126 or 127)."""
    n = len(payload)
    form = length or (n if n <= 125 else 126 if n <= 0xFFFF else 127)
    head = bytes([first, 0x80 | form])
    if form == 126:
        head += n.to_bytes(2, "big")
    elif form == 127:
        head += n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_request(*extra, protocol="mqtt", version="13"):
    lines = ["GET /mqtt HTTP/1.1", "Host: broker", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: " + version]
    if protocol is not None:
        lines.append("Sec-WebSocket-Protocol: " + protocol)
    return ("\r\n".join(lines + list(extra)) + "\r\n\r\n").encode()


WS_CONNECT = CODEC["connect-311"]
WS_PUBLISH = CODEC["publish-qos1-dup"]
WS = {
    "handshake-connect-ping-close": b"\x07" + ws_request() + ws_frame(0x82, WS_CONNECT)
    + ws_frame(0x89, b"hi") + ws_frame(0x82, WS_PUBLISH[:3]) + ws_frame(0x82, WS_PUBLISH[3:])
    + ws_frame(0x88, (1000).to_bytes(2, "big") + b"bye"),
    "handshake-v31-no-protocol": b"\x00" + ws_request(protocol="mqttv3.1, mqtt")
    + ws_frame(0x82, CODEC["connect-31-will-user-pass"]) + ws_request(protocol=None),
    "handshake-refused-version": b"\x01" + ws_request("Origin: http://x", version="8"),
    "fragments-with-controls": b"\x01" + ws_frame(0x02, WS_CONNECT[:4])
    + ws_frame(0x89, bytes(range(125))) + ws_frame(0x00, WS_CONNECT[4:9])
    + ws_frame(0x8A, b"") + ws_frame(0x80, WS_CONNECT[9:]) + ws_frame(0x82, b""),
    # The 64-bit frame is cut short: its header and the start of its payload.
    "lengths-16-and-64": b"\x33" + ws_frame(0x82, bytes(300))
    + ws_frame(0x82, bytes(range(256)) * 274)[:200],
    "text-frame": b"\x02" + ws_frame(0x81, b"Hello"),
    "unmasked": b"\x02" + ws_frame(0x82, WS_CONNECT) + bytes([0x82, 5]) + b"Hello",
    "non-minimal-length": b"\x05" + ws_frame(0x82, b"abc", length=126),
    "close-bad-status-and-reason": b"\x09" + ws_frame(0x88, (1005).to_bytes(2, "big"))
    + ws_frame(0x88, b"\x03\xe8\xc3"),
    "reserved-bits-opcode": b"\x04" + ws_frame(0xC2, b"x") + ws_frame(0x83, b""),
}

for target, seeds in (("codec", CODEC), ("broker", BROKER), ("ws", WS)):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
