"""Helpers for the paho-mqtt interoperability tests.

Every wait is bounded by a timeout; nothing relies on sleeping for ordering.
"""

import os
import queue
import socket
import struct
import threading
import time
import uuid
from typing import NamedTuple

import paho.mqtt.client as mqtt

HOST = os.environ.get("BROKER_HOST", "127.0.0.1")
PORT = int(os.environ.get("BROKER_PORT", "1883"))
TIMEOUT = 10.0
# Set by run.sh: "sol" or "mosquitto" (the reference broker).
MOSQUITTO_REFERENCE = os.environ.get("INTEROP_BROKER") == "mosquitto"


def unique(prefix="it"):
    """A short unique string (fits MQTT 3.1's 23-byte client id limit)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class Msg(NamedTuple):
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Client:
    """A paho-mqtt 2.x client driven by loop_start(), with blocking helpers."""

    def __init__(self, client_id=None, clean_session=True, protocol=mqtt.MQTTv311, will=None):
        self.client_id = client_id or unique()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=clean_session,
            protocol=protocol,
            # A dropped connection must show up as such, not be papered over
            # by paho's automatic reconnect.
            reconnect_on_failure=False,
        )
        if will is not None:
            self.client.will_set(**will)
        self.messages = queue.Queue()
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.connect_reason = None
        self.session_present = None
        self._acks = {}
        self._cond = threading.Condition()
        self._loop_started = False
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe

    # -- callbacks (paho's network thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connect_reason = reason_code
        self.session_present = flags.session_present
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.disconnected.set()

    def _on_message(self, client, userdata, message):
        self.messages.put(Msg(message.topic, bytes(message.payload), message.qos, bool(message.retain)))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self._cond:
            self._acks[mid] = [rc.value for rc in reason_codes]
            self._cond.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties):
        with self._cond:
            self._acks[mid] = True
            self._cond.notify_all()

    def _wait_ack(self, mid, what):
        with self._cond:
            ok = self._cond.wait_for(lambda: mid in self._acks, timeout=TIMEOUT)
            assert ok, f"{self.client_id}: no {what} for mid {mid} within {TIMEOUT}s"
            return self._acks.pop(mid)

    # -- blocking API
    def connect(self, keepalive=60):
        self.client.connect(HOST, PORT, keepalive=keepalive)
        self.client.loop_start()
        self._loop_started = True
        assert self.connected.wait(TIMEOUT), f"{self.client_id}: no CONNACK within {TIMEOUT}s"
        assert self.connect_reason == 0, f"{self.client_id}: connection refused: {self.connect_reason}"
        return self

    def subscribe(self, topic, qos=0):
        """Subscribe (topic may be a list of (filter, qos)); returns granted QoS list."""
        if isinstance(topic, list):
            rc, mid = self.client.subscribe(topic)
        else:
            rc, mid = self.client.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"subscribe failed locally: {rc}"
        return self._wait_ack(mid, "SUBACK")

    def unsubscribe(self, topic):
        rc, mid = self.client.unsubscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"unsubscribe failed locally: {rc}"
        self._wait_ack(mid, "UNSUBACK")

    def publish(self, topic, payload, qos=0, retain=False, wait=True):
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish failed locally: {info.rc}"
        if wait:
            self.wait_published(info)
        return info

    @staticmethod
    def wait_published(info, timeout=TIMEOUT):
        # For QoS 0 this means "written to the socket"; for QoS 1/2 it means
        # the PUBACK / PUBCOMP arrived.
        info.wait_for_publish(timeout)
        assert info.is_published(), f"publish mid {info.mid} not acknowledged within {timeout}s"

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

    def assert_no_message(self, timeout):
        try:
            m = self.messages.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError(f"{self.client_id}: unexpected message {m}")

    def disconnect(self):
        self.client.disconnect()
        assert self.disconnected.wait(TIMEOUT), f"{self.client_id}: no disconnect within {TIMEOUT}s"
        self.stop()

    def stop(self):
        if self._loop_started:
            self._loop_started = False
            try:
                self.client.disconnect()
            except Exception:
                pass
            self.client.loop_stop()


# ------------------------------------------------------------ raw MQTT client

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


def _enc_bytes(b):
    return struct.pack("!H", len(b)) + b


def _enc_str(s):
    return _enc_bytes(s.encode())


class RawClient:
    """A minimal MQTT 3.1.1 client on a plain socket, for things a well-behaved
    library will not do: dropping the TCP connection without DISCONNECT."""

    def __init__(self, client_id, clean_session=True, keepalive=60, will=None):
        """will: dict(topic=str, payload=bytes, qos=int, retain=bool) or None."""
        self.client_id = client_id
        flags = 0x02 if clean_session else 0
        payload = _enc_str(client_id)
        if will is not None:
            flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
            payload += _enc_str(will["topic"]) + _enc_bytes(will["payload"])
        variable = _enc_str("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive)
        body = variable + payload
        self.sock = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
        self.sock.sendall(bytes([0x10]) + _enc_len(len(body)) + body)
        connack = self._recv_exact(4)
        assert connack[0] == 0x20 and connack[1] == 2, f"bad CONNACK {connack!r}"
        self.session_present = bool(connack[2] & 1)
        self.return_code = connack[3]
        assert self.return_code == 0, f"CONNACK return code {self.return_code}"

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise AssertionError(f"connection closed after {len(buf)} of {n} bytes")
            buf += chunk
        return buf

    def abort(self):
        """Close the TCP connection without sending DISCONNECT."""
        self.sock.close()

    def wait_closed_by_peer(self, timeout=TIMEOUT):
        """True if the broker closes the connection within timeout."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.sock.settimeout(remaining)
                try:
                    data = self.sock.recv(4096)
                except socket.timeout:
                    return False
                if not data:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        finally:
            self.sock.close()
