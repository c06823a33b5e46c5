"""Reference for kernels/tests/motion_parity.rs: the motion steps of
hub_kernels::motion done with OpenCV, on frames made here from
scikit-image's bundled pictures (coffee as the scene, the astronaut's head
as a moving object, plus sensor noise, a second object and a lighting jump).

Usage: motion_parity.py OUT_DIR THRESHOLD ALPHA
Writes OUT_DIR/frames.rgb (N x 480 x 640 x 3), OUT_DIR/grey_<w>x<h>.raw (cv2's
grey down-scaled frames), and prints one line per region:
  cc <w>x<h> <frame> <x0> <y0> <x1> <y1> <pixels>   (connectedComponentsWithStats, 8-connected, all sizes)
  contour <w>x<h> <frame> <x0> <y0> <x1> <y1>        (findContours RETR_EXTERNAL + boundingRect)
"""
import os
import sys

import cv2
import numpy as np
from skimage import data

cv2.setNumThreads(1)
W, H, N = 640, 480, 32
SCALES = [(160, 120), (80, 60), (133, 100)]


def frames():
    rng = np.random.default_rng(5)
    scene = cv2.resize(data.coffee(), (W, H), interpolation=cv2.INTER_AREA).astype(np.int16)
    head = cv2.resize(data.astronaut()[20:240, 140:340], (90, 100), interpolation=cv2.INTER_AREA).astype(np.int16)
    out = []
    for i in range(N):
        f = scene + np.rint(rng.normal(0, 4, scene.shape)).astype(np.int16)
        if 4 <= i < 28:
            x, y = 20 + 19 * (i - 4), 190 + int(8 * np.sin(i / 2))
            f[y:y + 100, x:x + 90] = head
        if 10 <= i < 16:
            x = 600 - 30 * (i - 10)
            f[20:60, x:x + 24] = 15
        if i >= 29:
            f = f + 45
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return out


def main():
    out, thr, alpha = sys.argv[1], int(sys.argv[2]), float(np.float32(sys.argv[3]))
    fs = frames()
    np.ascontiguousarray(np.stack(fs)).tofile(os.path.join(out, "frames.rgb"))
    for dw, dh in SCALES:
        name = f"{dw}x{dh}"
        avg = None
        greys = []
        for i, f in enumerate(fs):
            g = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
            s = cv2.resize(g, (dw, dh), interpolation=cv2.INTER_AREA)
            greys.append(s)
            if avg is None:
                avg = s.astype(np.float32)
                continue
            d = cv2.absdiff(s, cv2.convertScaleAbs(avg))
            cv2.accumulateWeighted(s, avg, alpha)
            t = cv2.threshold(d, thr, 255, cv2.THRESH_BINARY)[1]
            t = cv2.dilate(t, None)
            n, _, stats, _ = cv2.connectedComponentsWithStats(t, connectivity=8)
            for k in range(1, n):
                x, y, w, h, a = (int(v) for v in stats[k])
                print(f"cc {name} {i} {x} {y} {x + w - 1} {y + h - 1} {a}")
            contours = cv2.findContours(t, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
            for c in contours:
                x, y, w, h = cv2.boundingRect(c)
                print(f"contour {name} {i} {x} {y} {x + w - 1} {y + h - 1}")
        np.stack(greys).tofile(os.path.join(out, f"grey_{name}.raw"))


if __name__ == "__main__":
    main()
