"""The demo camera's clip: a porch (scikit-image's brick and grass textures,
a front door drawn on the wall) that stays empty for a few seconds, then a
figure walks in from the left to the front door, waits, and walks away.

The figure is drawn (a silhouette), not a photograph: the package images of
people (scikit-image's photographer and astronaut) are not upright full-body
pedestrians, which is what OpenCV's HOG people detector was trained on.

Writes <out>/porch.mjpeg (concatenated JPEGs at FPS) and porch.json (the
figure's box per frame, for tests). `import demo_clip` gives the frames.
"""
import json
import os
import sys

import cv2
import numpy as np
from skimage import data

W, H = 640, 480
FPS = 5
PERSON_H = 170
FOOT_Y = 440
DOOR = (430, 120, 530, 300)  # x0, y0, x1, y1 on the wall
# Frames: empty, walk in, wait at the door, walk out, empty again.
SEGMENTS = [("empty", 20), ("in", 40), ("wait", 20), ("out", 30), ("empty", 15)]
START_X, DOOR_X = -40, 480


def background():
    bg = np.zeros((H, W, 3), np.uint8)
    wall = cv2.resize(data.brick(), (W, 300), interpolation=cv2.INTER_AREA)
    bg[:300] = cv2.cvtColor(wall, cv2.COLOR_GRAY2BGR) // 2 + 90
    grass = cv2.resize(data.grass(), (W, H - 300), interpolation=cv2.INTER_AREA)
    bg[300:] = cv2.cvtColor(grass, cv2.COLOR_GRAY2BGR) // 3 + 100
    x0, y0, x1, y1 = DOOR
    cv2.rectangle(bg, (x0, y0), (x1, y1), (30, 60, 110), -1)
    cv2.rectangle(bg, (x0, y0), (x1, y1), (20, 35, 60), 4)
    cv2.circle(bg, (x1 - 18, (y0 + y1) // 2), 5, (40, 180, 220), -1)
    return bg


def draw_person(img, cx, foot_y, height, stride):
    """A standing or walking figure; returns its box (x0, y0, x1, y1)."""
    s = height / 170.0
    top = foot_y - height

    def p(x, y):
        return (int(round(cx + x * s)), int(round(top + y * s)))

    color = (40, 40, 60)
    cv2.ellipse(img, p(0, 14), (int(11 * s), int(14 * s)), 0, 0, 360, color, -1)
    cv2.line(img, p(0, 28), p(0, 34), color, int(9 * s))
    torso = np.array([p(-20, 36), p(20, 36), p(16, 95), p(-16, 95)], np.int32)
    cv2.fillPoly(img, [torso], color)
    cv2.line(img, p(-19, 40), p(-26 - stride / 2, 92), color, int(9 * s))
    cv2.line(img, p(19, 40), p(26 + stride / 2, 92), color, int(9 * s))
    cv2.line(img, p(-9, 95), p(-10 - stride, 168), color, int(12 * s))
    cv2.line(img, p(9, 95), p(10 + stride, 168), color, int(12 * s))
    half = (30 + stride) * s
    return (cx - half, top, cx + half, foot_y)


def frames():
    """Yields (bgr frame, figure box or None)."""
    bg = background()
    for kind, n in SEGMENTS:
        for i in range(n):
            img = bg.copy()
            if kind == "empty":
                yield img, None
                continue
            if kind == "in":
                cx = START_X + (DOOR_X - START_X) * (i + 1) / n
            elif kind == "out":
                cx = DOOR_X - (DOOR_X - START_X) * (i + 1) / n
            else:
                cx = DOOR_X
            # Waiting: feet a little apart (a standing pose); walking: a stride.
            stride = 10 if kind == "wait" else 14 * abs(np.sin(i * np.pi / 4))
            yield img, draw_person(img, cx, FOOT_Y, PERSON_H, stride)


def main(out):
    os.makedirs(out, exist_ok=True)
    boxes = []
    tmp = os.path.join(out, "porch.mjpeg.tmp")
    with open(tmp, "wb") as f:
        for img, box in frames():
            ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
            if not ok:
                sys.exit("cannot encode a demo frame")
            f.write(jpg.tobytes())
            boxes.append(None if box is None else [round(v, 1) for v in box])
    os.replace(tmp, os.path.join(out, "porch.mjpeg"))
    with open(os.path.join(out, "porch.json"), "w") as f:
        json.dump({"fps": FPS, "width": W, "height": H, "door": DOOR, "boxes": boxes}, f)


if __name__ == "__main__":
    main(sys.argv[1])
