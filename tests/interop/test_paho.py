"""MQTT 3.1.1 interoperability tests driven by paho-mqtt 2.x.

Run through tests/interop/run.sh, or directly:
    BROKER_HOST=127.0.0.1 BROKER_PORT=1883 python -m pytest -q tests/interop/test_paho.py

Negative checks ("X is NOT delivered") use a marker: after the action under
test, a marker is published (QoS 1) on a topic the same subscriber receives;
the check is that the marker arrives and X did not arrive before it.

Tests of behaviour where Mosquitto 2.0 (the reference broker used to validate
this suite) deviates from MQTT 3.1.1 are marked xfail(strict=True) only when
INTEROP_BROKER=mosquitto; against Sol they are ordinary tests.
"""

import time

import paho.mqtt.client as mqtt
import pytest

from interop_helpers import MOSQUITTO_REFERENCE, TIMEOUT, RawClient, unique


# ------------------------------------------------------------------ 1. QoS

@pytest.mark.parametrize("pub_qos", [0, 1, 2])
def test_qos_round_trip_and_downgrade(make_client, prefix, pub_qos):
    """Payload arrives intact; delivery QoS = min(publish QoS, subscription QoS)."""
    sub = make_client()
    granted = sub.subscribe([(f"{prefix}/sub0", 0), (f"{prefix}/sub1", 1), (f"{prefix}/sub2", 2)])
    assert granted == [0, 1, 2]
    pub = make_client()
    payloads = {}
    for sub_qos in (0, 1, 2):
        payload = f"qos {pub_qos}->{sub_qos} ".encode() + bytes(range(256))
        payloads[f"{prefix}/sub{sub_qos}"] = (payload, min(pub_qos, sub_qos))
        pub.publish(f"{prefix}/sub{sub_qos}", payload, qos=pub_qos)
    got = {}
    for _ in range(3):
        m = sub.expect()
        assert m.topic not in got, f"duplicate delivery {m}"
        got[m.topic] = m
    for topic, (payload, qos) in payloads.items():
        assert topic in got, f"nothing received on {topic}"
        assert got[topic].payload == payload
        assert got[topic].qos == qos, f"{topic}: delivered at QoS {got[topic].qos}, expected {qos}"
        assert got[topic].retain is False


def test_large_payload(make_client, prefix):
    """A 200 kB payload (3-byte remaining length) survives intact."""
    sub = make_client()
    sub.subscribe(f"{prefix}/big", 1)
    pub = make_client()
    payload = bytes(i % 251 for i in range(200_000))
    pub.publish(f"{prefix}/big", payload, qos=1)
    m = sub.expect()
    assert m.topic == f"{prefix}/big"
    assert m.payload == payload


# ------------------------------------------------------------ 2. wildcards

WILDCARD_CASES = [
    # (filter, matching topics, non-matching topics) -- all relative to the prefix
    ("sensors/+/temp",
     ["sensors/kitchen/temp", "sensors/garage/temp", "sensors//temp"],
     ["sensors/temp", "sensors/a/b/temp", "sensors/kitchen/humidity", "sensors/kitchen/temp/x", "Sensors/x/temp"]),
    ("home/#",
     ["home", "home/x", "home/livingroom/lamp", "home/a/b/c/d", "home/"],
     ["homes", "homes/x", "house/home", "Home/x"]),
    ("+/+",
     ["a/b", "x/y"],
     ["a", "a/b/c"]),
    ("a/+/c/#",
     ["a/b/c", "a/b/c/d", "a//c/d/e"],
     ["a/b/d", "a/c", "a/b/x/c"]),
]


@pytest.mark.parametrize("flt,matching,nonmatching", WILDCARD_CASES, ids=[c[0] for c in WILDCARD_CASES])
def test_wildcard_matching(make_client, prefix, flt, matching, nonmatching):
    sub = make_client()
    sub.subscribe(f"{prefix}/{flt}", 1)
    pub = make_client()
    for t in nonmatching:
        pub.publish(f"{prefix}/{t}", b"no", qos=1)
    for t in matching:
        pub.publish(f"{prefix}/{t}", b"yes", qos=1)
    end_topic = f"{prefix}/{matching[0]}"
    pub.publish(end_topic, b"END", qos=1)
    expected = {f"{prefix}/{t}" for t in matching}
    seen = set()
    got = sub.collect_until(
        lambda m: (seen.add(m.topic) if m.payload == b"yes" else None) or (m.payload == b"END" and expected <= seen))
    wrong = [m.topic for m in got if m.payload == b"no"]
    assert not wrong, f"{flt} matched {wrong}"
    yes = sorted(m.topic for m in got if m.payload == b"yes")
    assert yes == sorted(expected), f"{flt}: got {yes}"


def test_hash_and_plus_do_not_match_sys(make_client, prefix):
    """'#' and '+/...' must not match topics starting with '$' [MQTT-4.7.2-1]."""
    wild = make_client()
    wild.subscribe([("#", 0), ("+/broker/uptime", 0), ("+/broker/#", 0)])
    sys_sub = make_client()
    sys_sub.subscribe("$SYS/broker/uptime", 0)
    # Two uptime publications after both subscriptions: at least one periodic
    # $SYS publication happened while '#' was subscribed (sys_interval 1).
    for _ in range(2):
        m = sys_sub.expect(timeout=5)
        assert m.topic == "$SYS/broker/uptime"
    pub = make_client()
    pub.publish(f"{prefix}/marker", b"marker", qos=1)
    got = wild.collect_until(lambda m: m.topic == f"{prefix}/marker")
    leaked = [m.topic for m in got if m.topic.startswith("$")]
    assert not leaked, f"wildcard filters matched {leaked}"


def _overlap(make_client, prefix):
    sub = make_client()
    granted = sub.subscribe([(f"{prefix}/a/+", 0), (f"{prefix}/a/#", 2), (f"{prefix}/#", 1)])
    assert granted == [0, 2, 1]
    pub = make_client()
    pub.publish(f"{prefix}/a/b", b"overlap", qos=2)
    # The end marker matches the same three filters, so it comes the same way (at QoS 2
    # from Sol): paho hands a QoS 2 message to the application only at its PUBREL, so a
    # marker at QoS 1 could overtake the message and end the collection before it.
    pub.publish(f"{prefix}/a/end", b"END", qos=2)
    got = sub.collect_until(lambda m: m.payload == b"END")
    copies = [m for m in got if m.topic == f"{prefix}/a/b"]
    assert copies, "message matching three filters was not delivered"
    assert all(m.payload == b"overlap" for m in copies)
    return copies


@pytest.mark.xfail(
    MOSQUITTO_REFERENCE, strict=True,
    reason="Mosquitto 2.0 delivers one copy at the QoS of the first matching "
           "subscription, violating MQTT-3.3.5-1 (eclipse-mosquitto/mosquitto#3319)")
def test_overlapping_subscriptions_max_qos(make_client, prefix):
    """A message matching several of one client's filters is delivered at
    the maximum QoS of the matching subscriptions [MQTT-3.3.5-1]."""
    copies = _overlap(make_client, prefix)
    assert max(m.qos for m in copies) == 2, f"no copy at QoS 2: {copies}"


def test_overlapping_subscriptions_single_copy(make_client, prefix):
    """...and only once.  MQTT 3.1.1 section 3.3.5 permits (MAY) one extra
    copy per additional matching subscription; Sol promises exactly one."""
    copies = _overlap(make_client, prefix)
    assert len(copies) == 1, f"expected exactly one copy, got {copies}"


# ------------------------------------------------------------- 3. retained

def test_retained_flags_and_clearing(make_client, prefix):
    topic = f"{prefix}/state"
    live = make_client()
    live.subscribe(topic, 2)
    pub = make_client()

    # v1 then v2 retained: the live subscriber sees both with RETAIN 0
    # [MQTT-3.3.1-9]; a new subscriber gets only the latest, with RETAIN 1
    # [MQTT-3.3.1-8], at min(stored QoS, subscription QoS).
    pub.publish(topic, b"v1", qos=1, retain=True)
    pub.publish(topic, b"v2", qos=1, retain=True)
    for expected in (b"v1", b"v2"):
        m = live.expect()
        assert (m.payload, m.retain, m.qos) == (expected, False, 1)

    late = make_client()
    late.subscribe(topic, 2)
    late.publish(topic, b"marker", qos=1)  # not retained
    got = late.collect_until(lambda m: m.payload == b"marker")
    assert [(m.payload, m.retain, m.qos) for m in got] == [(b"v2", True, 1), (b"marker", False, 1)]

    late0 = make_client()
    late0.subscribe(topic, 0)
    m = late0.expect()
    assert (m.payload, m.retain, m.qos) == (b"v2", True, 0)

    # The live subscriber also saw late's (non-retained) marker.
    m = live.expect()
    assert (m.payload, m.retain) == (b"marker", False)

    # A zero-length retained publish is delivered normally to live
    # subscribers and removes the retained message [MQTT-3.3.1-10/11].
    pub.publish(topic, b"", qos=1, retain=True)
    m = live.expect()
    assert (m.topic, m.payload, m.qos, m.retain) == (topic, b"", 1, False)
    after = make_client()
    after.subscribe(topic, 1)
    after.publish(topic, b"marker2", qos=1)
    m = after.expect()
    assert (m.payload, m.retain) == (b"marker2", False), f"retained message not cleared: got {m}"


# ----------------------------------------------------------------- 4. will

def test_will_on_abrupt_close_is_published_and_retained(make_client, prefix):
    topic = f"{prefix}/status"
    watcher = make_client()
    watcher.subscribe(topic, 1)
    # A raw client: CONNECT with a will (QoS 1, retain), then close the TCP
    # connection without DISCONNECT.
    dying = RawClient(unique("dying"), will=dict(topic=topic, payload=b"offline", qos=1, retain=True))
    dying.abort()
    m = watcher.expect()
    assert (m.topic, m.payload, m.qos, m.retain) == (topic, b"offline", 1, False)

    later = make_client()
    later.subscribe(topic, 1)
    m = later.expect()
    assert (m.topic, m.payload, m.qos, m.retain) == (topic, b"offline", 1, True)

    cleaner = make_client()
    cleaner.publish(topic, b"", qos=1, retain=True)


def test_will_of_paho_client_on_abrupt_close(make_client, prefix):
    """Same, with paho as the dying client (its socket closed under it)."""
    topic = f"{prefix}/status"
    watcher = make_client()
    watcher.subscribe(topic, 1)
    dying = make_client(will=dict(topic=topic, payload=b"paho gone", qos=1, retain=False))
    # Prove the connection is fully up before killing it.
    dying.subscribe(f"{prefix}/unused", 0)
    sock = dying.client.socket()
    sock.shutdown(2)  # SHUT_RDWR: the broker sees EOF, no DISCONNECT was sent
    m = watcher.expect()
    assert (m.topic, m.payload, m.qos, m.retain) == (topic, b"paho gone", 1, False)


def test_no_will_after_clean_disconnect(make_client, prefix):
    topic = f"{prefix}/status"
    watcher = make_client()
    watcher.subscribe(f"{prefix}/#", 1)
    polite = make_client(will=dict(topic=topic, payload=b"must not appear", qos=1, retain=True))
    polite.disconnect()
    # A raw client too, waiting until the broker has closed its connection.
    raw = RawClient(unique("raw"), will=dict(topic=topic, payload=b"must not appear", qos=1, retain=True))
    raw.sock.sendall(b"\xe0\x00")  # DISCONNECT
    raw.wait_closed_by_peer(timeout=5)
    pub = make_client()
    pub.publish(f"{prefix}/marker", b"marker", qos=1)
    got = watcher.collect_until(lambda m: m.payload == b"marker")
    assert [m.payload for m in got] == [b"marker"], f"will published after clean disconnect: {got}"
    # And nothing was retained.
    later = make_client()
    later.subscribe(topic, 1)
    later.publish(topic, b"marker", qos=1)
    assert later.expect().payload == b"marker"


# ----------------------------------------------------- 5. persistent session

def test_persistent_session_queues_qos1_in_order(make_client, prefix):
    cid = unique("persist")
    topic = f"{prefix}/q"
    # Start from a clean slate, then create the persistent session.
    make_client(client_id=cid, clean_session=True).disconnect()
    first = make_client(client_id=cid, clean_session=False)
    assert first.session_present is False
    assert first.subscribe(topic, 1) == [1]
    first.disconnect()

    pub = make_client()
    for i in range(20):
        pub.publish(topic, f"msg {i}".encode(), qos=1)

    again = make_client(connect=False, client_id=cid, clean_session=False)
    again.connect()
    assert again.session_present is True, "CONNACK session present flag not set"
    got = [again.expect() for _ in range(20)]
    assert [m.payload for m in got] == [f"msg {i}".encode() for i in range(20)]
    assert all(m.qos == 1 and m.topic == topic for m in got)
    again.disconnect()

    # clean session 1 discards the session [MQTT-3.1.2-6]; session present 0
    # [MQTT-3.2.2-1]; a following clean_session=False connect finds nothing.
    clean = make_client(client_id=cid, clean_session=True)
    assert clean.session_present is False
    clean.disconnect()
    fresh = make_client(client_id=cid, clean_session=False)
    assert fresh.session_present is False
    fresh.disconnect()
    make_client(client_id=cid, clean_session=True).disconnect()


# ------------------------------------------------------------- 6. MQTT 3.1

def test_mqtt31_client(make_client, prefix):
    topic = f"{prefix}/v31"
    old = make_client(client_id=unique("v31"), protocol=mqtt.MQTTv31)  # <= 23 bytes
    new = make_client()
    assert old.subscribe(topic, 2) == [2]
    assert new.subscribe(topic, 2) == [2]
    for qos in (0, 1, 2):
        old.publish(topic, f"from 3.1 at {qos}".encode(), qos=qos)
        for c in (old, new):
            m = c.expect()
            assert (m.payload, m.qos) == (f"from 3.1 at {qos}".encode(), qos)
    new.publish(topic, b"from 3.1.1", qos=1)
    assert old.expect().payload == b"from 3.1.1"
    assert new.expect().payload == b"from 3.1.1"
    old.disconnect()


# ------------------------------------------------------------- 7. takeover

def test_client_id_takeover(make_client, prefix):
    """A second connection with the same client id disconnects the first
    [MQTT-3.1.4-2]."""
    cid = unique("takeover")
    first = make_client(client_id=cid)
    assert not first.disconnected.is_set()
    second = make_client(client_id=cid)
    assert first.disconnected.wait(TIMEOUT), "first client was not disconnected"
    # The second connection is alive and working.
    second.subscribe(f"{prefix}/t", 1)
    second.publish(f"{prefix}/t", b"still here", qos=1)
    assert second.expect().payload == b"still here"
    assert not second.disconnected.is_set()
    second.disconnect()


def test_client_id_takeover_raw_first(make_client, prefix):
    """Same, observed on the socket: the broker closes the old connection."""
    cid = unique("takeover")
    first = RawClient(cid)
    second = make_client(client_id=cid)
    assert first.wait_closed_by_peer(TIMEOUT), "broker did not close the first connection"
    second.publish(f"{prefix}/x", b"x", qos=1)
    assert not second.disconnected.is_set()


# ----------------------------------------------------------- 8. unsubscribe

def test_unsubscribe_stops_delivery(make_client, prefix):
    sub = make_client()
    sub.subscribe([(f"{prefix}/a", 1), (f"{prefix}/marker", 1)])
    pub = make_client()
    pub.publish(f"{prefix}/a", b"before", qos=1)
    assert sub.expect().payload == b"before"
    sub.unsubscribe(f"{prefix}/a")
    pub.publish(f"{prefix}/a", b"after", qos=1)
    pub.publish(f"{prefix}/marker", b"marker", qos=1)
    got = sub.collect_until(lambda m: m.payload == b"marker")
    assert [m.payload for m in got] == [b"marker"], f"delivered after UNSUBACK: {got}"


# ---------------------------------------------------------- 9. throughput

def test_1000_qos1_messages_complete_and_in_order(make_client, prefix):
    n = 1000
    topic = f"{prefix}/burst"
    sub = make_client()
    sub.subscribe(topic, 1)
    pub = make_client()
    infos = [pub.publish(topic, str(i).encode(), qos=1, wait=False) for i in range(n)]
    deadline = time.monotonic() + 30
    got = []
    while len(got) < n:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {len(got)} of {n} messages within 30 s"
        got.append(sub.expect(timeout=remaining))
    for info in infos:
        pub.wait_published(info, timeout=max(deadline - time.monotonic(), 0.1))
    payloads = [int(m.payload) for m in got]
    assert payloads == list(range(n)), "messages lost, duplicated or reordered"
    assert all(m.qos == 1 for m in got)
