"""Helpers for the MQTT 5.0 paho-mqtt interoperability tests (test_paho_v5.py).

Like interop_helpers.Client, but speaking MQTT 5.0: CONNECT with Clean Start
and properties, SUBSCRIBE with subscription options and properties, PUBLISH
with properties, received messages with their properties, and the reason
code and properties of a DISCONNECT sent by the server.

Every wait is bounded by a timeout; nothing relies on sleeping for ordering.
"""

import queue
import socket
import struct
import threading
import time
from typing import NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from interop_helpers import HOST, PORT, TIMEOUT, unique

__all__ = [
    "Msg5", "V5Client", "RawV5Client", "props", "props_dict", "sub_opts", "reason",
    "PacketTypes", "SubscribeOptions", "TIMEOUT", "unique",
]


def props(packet_type, **values):
    """A paho Properties object for packet_type, e.g.
    props(PacketTypes.PUBLISH, ContentType="text/plain", UserProperty=[("a", "1")]).
    UserProperty and SubscriptionIdentifier may be lists."""
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p


def props_dict(p):
    """The properties present in a paho Properties object, as a dict keyed by
    the compressed property name ("UserProperty", "MessageExpiryInterval", ...).
    Multi-valued properties (UserProperty, SubscriptionIdentifier) are lists."""
    if p is None:
        return {}
    out = {}
    for name in p.names:
        key = name.replace(" ", "")
        if hasattr(p, key):
            out[key] = getattr(p, key)
    return out


def sub_opts(qos=0, no_local=False, retain_as_published=False, retain_handling=0):
    return SubscribeOptions(qos=qos, noLocal=no_local, retainAsPublished=retain_as_published,
                            retainHandling=retain_handling)


def reason(packet_type, code):
    """A paho ReasonCode for packet_type with the numeric value code."""
    return ReasonCode(packet_type, identifier=code)


class Msg5(NamedTuple):
    topic: str
    payload: bytes
    qos: int
    retain: bool
    props: dict  # see props_dict
    mid: int

    def prop(self, name, default=None):
        return self.props.get(name, default)


class V5Client:
    """A paho-mqtt 2.x MQTT 5.0 client driven by loop_start(), with blocking helpers.

    manual_ack=True: QoS 1/2 messages are not acknowledged until ack(msg).
    will: dict(topic=, payload=, qos=, retain=, properties=Properties(WILLMESSAGE)).
    """

    def __init__(self, client_id=None, manual_ack=False, will=None):
        self.client_id = unique("v5") if client_id is None else client_id
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            # A dropped connection must show up as such, not be papered over
            # by paho's automatic reconnect.
            reconnect_on_failure=False,
            manual_ack=manual_ack,
        )
        if will is not None:
            self.client.will_set(**will)
        self.messages = queue.Queue()
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.connect_reason = None
        self.session_present = None
        self.connack_props = {}
        # Set when the connection ends: the DISCONNECT reason code (an int;
        # paho reports a lost connection without DISCONNECT as a non-server
        # disconnect), its properties, and whether the server sent DISCONNECT.
        self.disconnect_reason = None
        self.disconnect_props = {}
        self.disconnect_from_server = None
        self._acks = {}
        self._pub_reasons = {}
        self._cond = threading.Condition()
        self._loop_started = False
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe
        self.client.on_publish = self._on_publish

    # -- callbacks (paho's network thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connect_reason = reason_code.value
        self.session_present = flags.session_present
        self.connack_props = props_dict(properties)
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.disconnect_reason = reason_code.value if reason_code is not None else None
        self.disconnect_props = props_dict(properties)
        self.disconnect_from_server = flags.is_disconnect_packet_from_server
        self.disconnected.set()

    def _on_message(self, client, userdata, message):
        self.messages.put(Msg5(message.topic, bytes(message.payload), message.qos, bool(message.retain),
                               props_dict(getattr(message, "properties", None)), message.mid))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self._cond:
            self._acks[mid] = [rc.value for rc in reason_codes]
            self._cond.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties):
        with self._cond:
            self._acks[mid] = [rc.value for rc in reason_codes]
            self._cond.notify_all()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self._cond:
            self._pub_reasons[mid] = reason_code.value if reason_code is not None else None
            self._cond.notify_all()

    def _wait_ack(self, mid, what, timeout=TIMEOUT):
        with self._cond:
            ok = self._cond.wait_for(lambda: mid in self._acks or self.disconnected.is_set(), timeout=timeout)
            assert ok, f"{self.client_id}: no {what} for mid {mid} within {timeout}s"
            if mid not in self._acks:
                raise AssertionError(
                    f"{self.client_id}: disconnected (reason {self.disconnect_reason}) while waiting for {what}")
            return self._acks.pop(mid)

    # -- blocking API
    def connect(self, clean_start=True, session_expiry=None, properties=None, keepalive=60, expect_reason=0):
        """CONNECT and wait for CONNACK.  properties: dict of CONNECT
        properties (e.g. ReceiveMaximum=2); session_expiry sets
        SessionExpiryInterval.  Returns self."""
        values = dict(properties or {})
        if session_expiry is not None:
            values["SessionExpiryInterval"] = session_expiry
        p = props(PacketTypes.CONNECT, **values) if values else None
        self.connected.clear()
        self.disconnected.clear()
        self.client.connect(HOST, PORT, keepalive=keepalive, clean_start=clean_start, properties=p)
        if not self._loop_started:
            self.client.loop_start()
            self._loop_started = True
        assert self.connected.wait(TIMEOUT), f"{self.client_id}: no CONNACK within {TIMEOUT}s"
        assert self.connect_reason == expect_reason, \
            f"{self.client_id}: CONNACK reason {self.connect_reason:#x}, expected {expect_reason:#x}"
        return self

    def subscribe(self, topic, qos=0, options=None, properties=None, **option_kw):
        """Subscribe to one filter (options or qos + option keywords) or to a
        list of (filter, SubscribeOptions).  properties: dict of SUBSCRIBE
        properties (e.g. SubscriptionIdentifier=7).  Returns the SUBACK
        reason codes (ints)."""
        p = props(PacketTypes.SUBSCRIBE, **properties) if properties else None
        if isinstance(topic, list):
            rc, mid = self.client.subscribe(topic, properties=p)
        else:
            if options is None:
                options = sub_opts(qos, **option_kw)
            rc, mid = self.client.subscribe(topic, options=options, properties=p)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"subscribe failed locally: {rc}"
        return self._wait_ack(mid, "SUBACK")

    def unsubscribe(self, topic):
        """Returns the UNSUBACK reason codes (ints)."""
        rc, mid = self.client.unsubscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"unsubscribe failed locally: {rc}"
        return self._wait_ack(mid, "UNSUBACK")

    def publish(self, topic, payload, qos=0, retain=False, properties=None, wait=True):
        """properties: dict of PUBLISH properties.  With wait, returns after the
        PUBACK/PUBCOMP (QoS 1/2) or after writing (QoS 0)."""
        p = props(PacketTypes.PUBLISH, **properties) if properties else None
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=p)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish failed locally: {info.rc}"
        if wait:
            self.wait_published(info)
        return info

    def publish_expecting_disconnect(self, topic, payload, qos=1, properties=None):
        """Publish something the server must answer with DISCONNECT, and wait
        until the connection is closed.  paho's return code is not checked:
        when the server reacts fast, paho may already report "not connected"."""
        p = props(PacketTypes.PUBLISH, **properties) if properties else None
        self.client.publish(topic, payload, qos=qos, properties=p)
        self.wait_disconnected()

    @staticmethod
    def wait_published(info, timeout=TIMEOUT):
        info.wait_for_publish(timeout)
        assert info.is_published(), f"publish mid {info.mid} not acknowledged within {timeout}s"

    def publish_reason(self, info, timeout=TIMEOUT):
        """The PUBACK/PUBCOMP reason code of a QoS 1/2 publish (an int)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: info.mid in self._pub_reasons, timeout=timeout)
            assert ok, f"{self.client_id}: no acknowledgement for mid {info.mid} within {timeout}s"
            return self._pub_reasons.pop(info.mid)

    def ack(self, msg):
        """Acknowledge a message (manual_ack clients only)."""
        rc = self.client.ack(msg.mid, msg.qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"ack failed locally: {rc}"

    def expect(self, timeout=TIMEOUT):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: no message within {timeout}s") from None

    def collect_until(self, stop, timeout=TIMEOUT):
        """Collect messages until stop(msg) is true for one (included in result)."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.client_id}: end condition not met within {timeout}s; got {got}")
            try:
                m = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            got.append(m)
            if stop(m):
                return got

    def wait_disconnected(self, timeout=TIMEOUT):
        assert self.disconnected.wait(timeout), f"{self.client_id}: still connected after {timeout}s"

    def disconnect(self, reason_code=None, properties=None):
        """Send DISCONNECT (reason_code: int, properties: dict) and wait until
        the connection is closed."""
        rc = reason(PacketTypes.DISCONNECT, reason_code) if reason_code is not None else None
        p = props(PacketTypes.DISCONNECT, **properties) if properties else None
        self.client.disconnect(reasoncode=rc, properties=p)
        self.wait_disconnected()
        self.stop()

    def abort(self):
        """Close the TCP connection without DISCONNECT (the broker sees EOF) and
        wait until paho has noticed."""
        sock = self.client.socket()
        assert sock is not None, f"{self.client_id}: not connected"
        sock.shutdown(socket.SHUT_RDWR)
        self.wait_disconnected()
        self.stop()

    def stop(self):
        if self._loop_started:
            self._loop_started = False
            try:
                self.client.disconnect()
            except Exception:
                pass
            self.client.loop_stop()



# --------------------------------------------------------- raw MQTT 5 client

def _enc_len(n):
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        if n:
            byte |= 0x80
        out.append(byte)
        if not n:
            return bytes(out)


def _enc_str(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


class RawV5Client:
    """A minimal MQTT 5.0 client on a plain socket, for packets paho refuses to
    send (e.g. an invalid topic filter) and for reading exactly what the
    server sends."""

    def __init__(self, client_id, clean_start=True, keepalive=60):
        self.client_id = client_id
        flags = 0x02 if clean_start else 0
        variable = _enc_str("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive) + b"\x00"
        body = variable + _enc_str(client_id)
        self.sock = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
        self.sock.sendall(bytes([0x10]) + _enc_len(len(body)) + body)
        packet = self.read_packet()
        assert packet is not None, "connection closed instead of CONNACK"
        ptype, body = packet
        assert ptype == 0x20, f"expected CONNACK, got packet type {ptype:#x}"
        self.session_present = bool(body[0] & 1)
        self.connack_reason = body[1]
        assert self.connack_reason == 0, f"CONNACK reason {self.connack_reason:#x}"

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def read_packet(self, timeout=TIMEOUT):
        """(first byte, body) of the next packet, or None if the server closed
        the connection.  Raises AssertionError on timeout."""
        self.sock.settimeout(timeout)
        try:
            first = self._recv_exact(1)
            if first is None:
                return None
            length, mult = 0, 1
            while True:
                b = self._recv_exact(1)
                if b is None:
                    return None
                length += (b[0] & 0x7F) * mult
                mult *= 128
                if not b[0] & 0x80:
                    break
            body = self._recv_exact(length) if length else b""
            if body is None:
                return None
            return first[0], body
        except socket.timeout:
            raise AssertionError(f"{self.client_id}: no packet within {timeout}s") from None
        except (ConnectionResetError, BrokenPipeError):
            return None

    def subscribe(self, packet_id, filters):
        """SUBSCRIBE with filters [(filter, options byte)], no properties."""
        payload = b"".join(_enc_str(f) + bytes([o]) for f, o in filters)
        body = struct.pack("!H", packet_id) + b"\x00" + payload
        self.sock.sendall(bytes([0x82]) + _enc_len(len(body)) + body)

    def close(self):
        self.sock.close()
