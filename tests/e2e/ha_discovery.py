"""Home Assistant's side of hubd's MQTT discovery, played with paho-mqtt.

Subscribes to `<prefix>/#` as Home Assistant does, reads hubd's retained
discovery configs and checks each against the keys Home Assistant requires
for its component (the MQTT integration's platform schemas: `state_topic`
for sensors, `command_topic` for switches and text, exactly one of
`url_topic`/`image_topic` for an image), plus what every discovered entity
of a device needs (`unique_id`, a `device` with identifiers, `availability`
naming hubd's last-will topic, which must hold `online`). Then it publishes
Home Assistant's birth message and expects every config again, flips an
automation's switch both ways and sees its state follow, and sends a
sentence through the `text` entity.

Usage: ha_discovery.py PORT RULE_KEY SENTENCE
Prints one JSON object (what it saw) and exits 0, or exits 1 naming the
first check that failed.
"""

import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

PREFIX = "homeassistant"
REQUIRED = {
    "sensor": ["state_topic"],
    "binary_sensor": ["state_topic"],
    "switch": ["command_topic"],
    "text": ["command_topic"],
    "image": [],
}
TIMEOUT = 20.0


class Ha:
    def __init__(self, port, client_id):
        self.lock = threading.Condition()
        self.configs = {}  # topic -> (payload, retained)
        self.states = {}  # topic -> payload
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_connect = self.on_connect
        self.client.on_message = self.on_message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self.subscribed.wait(TIMEOUT):
            fail("could not subscribe")

    def on_connect(self, client, userdata, flags, reason_code, properties):
        client.subscribe([(PREFIX + "/#", 1), ("hubd/#", 1)])

    def on_message(self, client, userdata, msg):
        with self.lock:
            if msg.topic.startswith(PREFIX + "/") and msg.topic.endswith("/config"):
                self.configs[msg.topic] = (msg.payload.decode("utf-8", "replace"), bool(msg.retain))
            else:
                self.states[msg.topic] = msg.payload.decode("utf-8", "replace")
            self.lock.notify_all()

    def wait(self, what, pred):
        deadline = time.monotonic() + TIMEOUT
        with self.lock:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    fail(f"timed out waiting for {what}")
                self.lock.wait(left)

    def publish(self, topic, payload):
        self.client.publish(topic, payload, qos=1).wait_for_publish(TIMEOUT)


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def hubd_configs(ha):
    return {t: p for t, (p, _) in ha.configs.items() if p and "/hubd/" in t}


def check(topic, payload, states):
    component = topic.split("/")[1]
    if component not in REQUIRED:
        fail(f"{topic}: unexpected component {component}")
    try:
        cfg = json.loads(payload)
    except ValueError as e:
        fail(f"{topic}: not JSON ({e})")
    for key in REQUIRED[component] + ["unique_id", "device", "availability", "name"]:
        if key not in cfg:
            fail(f"{topic}: no `{key}`")
    if component == "image" and ("url_topic" in cfg) == ("image_topic" in cfg):
        fail(f"{topic}: an image needs exactly one of url_topic / image_topic")
    if not cfg["device"].get("identifiers"):
        fail(f"{topic}: device without identifiers")
    avail = cfg["availability"]
    if not isinstance(avail, list) or not avail or "topic" not in avail[0]:
        fail(f"{topic}: availability should be a list of topics")
    for a in avail:
        want = a.get("payload_available", "online")
        if states.get(a["topic"]) != want:
            fail(f"{topic}: availability topic {a['topic']} holds {states.get(a['topic'])!r}, not {want!r}")
    return cfg


def main():
    port, rule_key, sentence = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    ha = Ha(port, "fake-home-assistant")
    want = {
        f"{PREFIX}/sensor/hubd/last_command/config",
        f"{PREFIX}/sensor/hubd/last_reply/config",
        f"{PREFIX}/sensor/hubd/outbox_depth/config",
        f"{PREFIX}/text/hubd/command/config",
        f"{PREFIX}/switch/hubd/automation_{rule_key}/config",
    }
    ha.wait("hubd's configs", lambda: want <= set(hubd_configs(ha)) and "hubd/status" in ha.states)
    # A Home Assistant that starts later finds them all: they are retained.
    late = Ha(port, "fake-home-assistant-late")
    late.wait("hubd's retained configs", lambda: set(hubd_configs(ha)) <= set(hubd_configs(late)))
    if not all(late.configs[t][1] for t in hubd_configs(late)):
        fail("discovery configs are not retained")
    late.client.loop_stop()
    late.client.disconnect()
    first = hubd_configs(ha)
    unique = set()
    checked = {}
    for topic, payload in sorted(first.items()):
        cfg = check(topic, payload, ha.states)
        if cfg["unique_id"] in unique:
            fail(f"duplicate unique_id {cfg['unique_id']}")
        unique.add(cfg["unique_id"])
        checked[topic] = cfg

    # As Home Assistant does, listen on each sensor's state topic; every
    # binary sensor already has a state (motion from the camera, person).
    ha.client.subscribe([(c["state_topic"], 1) for c in checked.values() if "state_topic" in c])
    for topic, cfg in checked.items():
        if topic.split("/")[1] == "binary_sensor":
            st = cfg["state_topic"]
            ha.wait(f"a state on {st}", lambda st=st: ha.states.get(st) in ("ON", "OFF"))

    # Home Assistant restarts: its birth message brings every config back.
    with ha.lock:
        ha.configs.clear()
    ha.publish(f"{PREFIX}/status", "online")
    ha.wait("configs republished after homeassistant/status online", lambda: set(first) <= set(hubd_configs(ha)))

    # The automation's switch, both ways.
    sw = checked[f"{PREFIX}/switch/hubd/automation_{rule_key}/config"]
    state_topic, command_topic = sw["state_topic"], sw["command_topic"]
    ha.wait("the switch's state", lambda: ha.states.get(state_topic) == "ON")
    ha.publish(command_topic, "OFF")
    ha.wait("the switch turning off", lambda: ha.states.get(state_topic) == "OFF")
    ha.publish(command_topic, "ON")
    ha.wait("the switch turning on", lambda: ha.states.get(state_topic) == "ON")

    # A sentence through the text entity; the last-command sensor shows it.
    text = checked[f"{PREFIX}/text/hubd/command/config"]
    last = checked[f"{PREFIX}/sensor/hubd/last_command/config"]["state_topic"]
    reply = checked[f"{PREFIX}/sensor/hubd/last_reply/config"]["state_topic"]
    with ha.lock:
        ha.states.pop(reply, None)
    ha.publish(text["command_topic"], sentence)
    ha.wait("the last command sensor", lambda: ha.states.get(last) == sentence)
    ha.wait("the last reply sensor", lambda: bool(ha.states.get(reply)))

    print(json.dumps({"configs": checked, "states": ha.states}))
    ha.client.loop_stop()
    ha.client.disconnect()


if __name__ == "__main__":
    main()
