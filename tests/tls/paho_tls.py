"""Python paho-mqtt over TLS against a running Sol (called by tests/tls.rs).

usage: paho_tls.py HOST PORT CAFILE [CERTFILE KEYFILE]

Subscribes and publishes (QoS 1) through two TLS connections that verify the broker
against CAFILE (with a client certificate when given); exit 0 when the message came
back, 1 with the reason otherwise. Every wait is bounded (10 s).
"""

import queue
import ssl
import sys
import uuid

import paho.mqtt.client as mqtt

TIMEOUT = 10


def client(host, port, cafile, cert, key, inbox=None):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"paho-tls-{uuid.uuid4().hex[:8]}",
                    reconnect_on_failure=False)
    c.tls_set(ca_certs=cafile, certfile=cert, keyfile=key, cert_reqs=ssl.CERT_REQUIRED)
    connected = queue.Queue()
    c.on_connect = lambda cl, ud, flags, rc, props: connected.put(rc)
    # A refused handshake (TLS 1.3: after the client's side completed) ends the wait.
    c.on_disconnect = lambda cl, ud, flags, rc, props: connected.put(f"disconnected: {rc}")
    if inbox is not None:
        c.on_message = lambda cl, ud, msg: inbox.put((msg.topic, msg.payload))
        c.on_subscribe = lambda cl, ud, mid, rcs, props: inbox.put(("suback", mid))
    c.connect(host, port, keepalive=30)
    c.loop_start()
    rc = connected.get(timeout=TIMEOUT)
    if rc != 0:
        raise SystemExit(f"CONNACK {rc}")
    return c


def main():
    host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    cert, key = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else (None, None)
    topic = f"paho-tls/{uuid.uuid4().hex[:8]}"
    inbox = queue.Queue()
    sub = client(host, port, cafile, cert, key, inbox)
    sub.subscribe(topic, qos=1)
    if inbox.get(timeout=TIMEOUT)[0] != "suback":
        raise SystemExit("no SUBACK")
    pub = client(host, port, cafile, cert, key)
    pub.publish(topic, b"over tls", qos=1).wait_for_publish(timeout=TIMEOUT)
    got = inbox.get(timeout=TIMEOUT)
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    if got != (topic, b"over tls"):
        raise SystemExit(f"unexpected {got!r}")
    print("ok")


if __name__ == "__main__":
    main()
