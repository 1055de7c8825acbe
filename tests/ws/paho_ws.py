"""paho-mqtt over WebSockets against tests/ws_core.rs's one-connection server.

Usage: paho_ws.py PORT SIZE. Connects with transport="websockets" to ws://127.0.0.1:PORT/mqtt,
subscribes to ws/#, publishes SIZE bytes at QoS 1 to ws/big and waits for the server to send
them back, publishes "small" at QoS 1 to ws/small, then disconnects. Prints "received N" for
the message that came back and exits 0 when every step completed within its time.
"""
import sys
import threading

import paho.mqtt.client as mqtt

port, size = int(sys.argv[1]), int(sys.argv[2])
payload = bytes((i * 7) % 251 for i in range(size))
subscribed, received = threading.Event(), threading.Event()
got = {}


def on_subscribe(client, userdata, mid, reason_codes, properties):
    subscribed.set()


def on_message(client, userdata, message):
    got["payload"] = message.payload
    received.set()


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-ws", transport="websockets")
client.ws_set_options(path="/mqtt")
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect("127.0.0.1", port, keepalive=30)
client.loop_start()
client.subscribe("ws/#", qos=0)
assert subscribed.wait(20), "no SUBACK"
client.publish("ws/big", payload, qos=1).wait_for_publish(20)
assert received.wait(20), "the big message did not come back"
assert got["payload"] == payload, "the big message came back changed"
print("received", len(got["payload"]))
client.publish("ws/small", b"small", qos=1).wait_for_publish(20)
client.disconnect()
client.loop_stop()
