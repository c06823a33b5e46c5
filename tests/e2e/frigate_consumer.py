"""A Frigate-event consumer, reading `<prefix>/events` the way Home Assistant
blueprints for Frigate do (`trigger.payload_json["after"]["label"]`,
`["after"]["entered_zones"]`, `["type"]`, `["before"]`/`["after"]`).

Usage: frigate_consumer.py HOST PORT PREFIX CAMERA LABEL ZONE TIMEOUT_S

Prints `ready` once subscribed, then collects events until the first `end`
of an event on CAMERA with LABEL (or the timeout), checks the sequence and
the fields of every message, and prints one JSON summary line. Exit code 0
when every check passed, 1 otherwise (the summary lists the failures).
"""

import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

FIELDS = [
    "id", "camera", "frame_time", "label", "sub_label", "score", "top_score", "box", "area", "region",
    "current_zones", "entered_zones", "stationary", "has_snapshot", "has_clip", "start_time", "end_time",
]


def main():
    host, port, prefix, camera, label, zone, timeout = sys.argv[1:8]
    port, timeout = int(port), float(timeout)
    messages = []
    done = threading.Event()
    subscribed = threading.Event()

    def on_connect(client, _userdata, _flags, _reason, _props):
        client.subscribe(f"{prefix}/events", qos=1)

    def on_subscribe(_client, _userdata, _mid, _reasons, _props):
        subscribed.set()

    def on_message(_client, _userdata, msg):
        payload = json.loads(msg.payload)
        messages.append(payload)
        after = payload.get("after", {})
        if payload.get("type") == "end" and after.get("camera") == camera and after.get("label") == label:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"frigate-consumer-{time.time_ns()}")
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(host, port, keepalive=10)
    client.loop_start()
    if not subscribed.wait(10):
        print(json.dumps({"errors": ["not subscribed"]}), flush=True)
        return 1
    print("ready", flush=True)
    done.wait(timeout)
    client.loop_stop()
    client.disconnect()
    return check(messages, camera, label, zone)


def check(messages, camera, label, zone):
    errors = []
    # What a blueprint triggers on: this camera and label.
    ours = [m for m in messages if m["after"]["camera"] == camera and m["after"]["label"] == label]
    ids = sorted({m["after"]["id"] for m in ours})
    if len(ids) != 1:
        errors.append(f"expected one {label} event on {camera}, got ids {ids}")
    types = [m["type"] for m in ours]
    if not types or types[0] != "new":
        errors.append(f"first message is not `new`: {types[:3]}")
    if not types or types[-1] != "end":
        errors.append(f"last message is not `end`: {types[-3:]}")
    if types.count("new") != 1 or types.count("end") != 1:
        errors.append(f"one new and one end expected: {types}")
    if any(t not in ("new", "update", "end") for t in types):
        errors.append(f"unknown type in {types}")
    entered_on = None
    stationary_at = None
    updates_after_stationary = 0
    last_frame_time = 0.0
    for i, m in enumerate(ours):
        before, after = m["before"], m["after"]
        for side, obj in (("before", before), ("after", after)):
            missing = [f for f in FIELDS if f not in obj]
            if missing:
                errors.append(f"message {i} {side} lacks {missing}")
        if before["id"] != after["id"]:
            errors.append(f"message {i}: before/after ids differ")
        box, region = after["box"], after["region"]
        if not (len(box) == 4 and all(isinstance(v, int) for v in box) and box[0] < box[2] and box[1] < box[3]):
            errors.append(f"message {i}: bad box {box}")
        elif abs(after["area"] - (box[2] - box[0]) * (box[3] - box[1])) > (box[2] - box[0]) + (box[3] - box[1]):
            errors.append(f"message {i}: area {after['area']} does not match box {box}")
        if not (len(region) == 4 and region[0] <= box[0] and region[1] <= box[1]
                and region[2] >= box[2] and region[3] >= box[3]):
            errors.append(f"message {i}: region {region} does not hold box {box}")
        if not (0.0 < after["score"] <= after["top_score"] <= 1.0):
            errors.append(f"message {i}: score {after['score']} top_score {after['top_score']}")
        if after["frame_time"] < last_frame_time or after["start_time"] > after["frame_time"]:
            errors.append(f"message {i}: frame_time goes back")
        last_frame_time = after["frame_time"]
        if not set(after["current_zones"]) <= set(after["entered_zones"]):
            errors.append(f"message {i}: current zones {after['current_zones']} not entered")
        if not set(before["entered_zones"]) <= set(after["entered_zones"]):
            errors.append(f"message {i}: entered zones shrank")
        if not isinstance(after["has_snapshot"], bool) or not isinstance(after["stationary"], bool):
            errors.append(f"message {i}: has_snapshot/stationary are not booleans")
        if m["type"] == "end":
            if after["end_time"] is None or after["end_time"] < after["start_time"]:
                errors.append(f"end: end_time {after['end_time']}")
        elif after["end_time"] is not None:
            errors.append(f"message {i} ({m['type']}) has an end_time")
        # The blueprint's zone condition: `zone in after.entered_zones`.
        if entered_on is None and zone in after["entered_zones"]:
            entered_on = m["type"]
        if stationary_at is not None and m["type"] == "update":
            updates_after_stationary += 1
        if stationary_at is None and after["stationary"] and not before["stationary"]:
            stationary_at = i
    if entered_on is None:
        errors.append(f"no message has `{zone}` in after.entered_zones")
    if stationary_at is None:
        errors.append("the object never became stationary")
    if updates_after_stationary:
        errors.append(f"{updates_after_stationary} updates after the object became stationary")
    summary = {
        "errors": errors,
        "types": types,
        "id": ids[0] if ids else None,
        "entered_zones": ours[-1]["after"]["entered_zones"] if ours else [],
        "zone_entered_on": entered_on,
        "stationary_at": stationary_at,
        "has_snapshot": bool(ours) and ours[-1]["after"]["has_snapshot"],
        "top_score": ours[-1]["after"]["top_score"] if ours else None,
    }
    print(json.dumps(summary), flush=True)
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
