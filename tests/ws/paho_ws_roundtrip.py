"""paho-mqtt over WebSockets (ws:// or wss://) against a running Sol: subscribe, publish
to the same topic at QoS 1, and wait for the message to come back.

Usage: paho_ws_roundtrip.py PORT TOPIC [--cafile CA] [--user USER --password PASSWORD]
Prints "ok" and exits 0 when the message came back within the time; exits non-zero
saying which step failed otherwise.
"""
import argparse
import threading

import paho.mqtt.client as mqtt

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("topic")
parser.add_argument("--cafile")
parser.add_argument("--user")
parser.add_argument("--password")
args = parser.parse_args()

subscribed, received, connected = threading.Event(), threading.Event(), threading.Event()
got = {}


def on_connect(client, userdata, flags, reason_code, properties):
    got["connack"] = reason_code
    connected.set()


def on_subscribe(client, userdata, mid, reason_codes, properties):
    subscribed.set()


def on_message(client, userdata, message):
    got["payload"] = message.payload
    received.set()


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, transport="websockets")
client.ws_set_options(path="/mqtt")
if args.cafile:
    client.tls_set(ca_certs=args.cafile)
if args.user:
    client.username_pw_set(args.user, args.password)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect("127.0.0.1", args.port, keepalive=30)
client.loop_start()
assert connected.wait(20), "no CONNACK"
assert not got["connack"].is_failure, f"CONNACK {got['connack']}"
client.subscribe(args.topic, qos=1)
assert subscribed.wait(20), "no SUBACK"
client.publish(args.topic, b"over websockets", qos=1).wait_for_publish(20)
assert received.wait(20), "the message did not come back"
assert got["payload"] == b"over websockets", "the message came back changed"
client.disconnect()
client.loop_stop()
print("ok")
