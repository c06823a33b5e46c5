#!/usr/bin/env python3
"""Peers of the `camera` benchmark section (daemon/src/bin/hubd-bench/camera.rs).

  camera_peer.py frames OUT W H N
      Write N frames of W x H (RGB, raw, OUT/frames_<W>x<H>.rgb) and the same
      frames as JPEG (quality 85, OUT/frame_<W>x<H>_<i>.jpg): scikit-image's
      coffee picture as the scene, the astronaut's head moving across it,
      sensor noise (sigma 4).
  camera_peer.py motion OUT W H SECONDS THRESHOLD ALPHA
      OpenCV (cv2.setNumThreads(1)) doing the steps of hub_kernels::motion on
      those frames for SECONDS: cvtColor RGB2GRAY, resize INTER_AREA to the
      motion size (height 100), absdiff against convertScaleAbs(background),
      accumulateWeighted, threshold, dilate 3x3, connectedComponentsWithStats.
      Prints {"fps": ..., "frames": ...}.
  camera_peer.py jpeg OUT W H SECONDS THRESHOLD ALPHA
      The same from the JPEGs: cv2.imdecode(IMREAD_REDUCED_GRAYSCALE_8)
      (libjpeg-turbo's 1/8 IDCT), resize INTER_AREA, the same steps.
  camera_peer.py mtcnn OUT REPEATS
      facenet_pytorch.MTCNN(keep_all=True).detect on three pictures (written as
      OUT/mtcnn_<name>.rgb), torch with one thread; prints one JSON line per
      picture with the mean latency in ms and the faces found.
"""
import json
import os
import sys
import time

import numpy as np

MOTION_HEIGHT = 100


def motion_size(w, h):
    return (w * MOTION_HEIGHT + h // 2) // h, MOTION_HEIGHT


def make_frames(w, h, n):
    import cv2
    from skimage import data

    rng = np.random.default_rng(5)
    scene = cv2.resize(data.coffee(), (w, h), interpolation=cv2.INTER_AREA).astype(np.int16)
    hh = h * 100 // 480
    hw = hh * 9 // 10
    head = cv2.resize(data.astronaut()[20:240, 140:340], (hw, hh), interpolation=cv2.INTER_AREA).astype(np.int16)
    out = []
    for i in range(n):
        f = scene + np.rint(rng.normal(0, 4, scene.shape)).astype(np.int16)
        x, y = (w - hw) * i // max(n - 1, 1), h * 190 // 480
        f[y:y + hh, x:x + hw] = head
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return out


def cmd_frames(out, w, h, n):
    import cv2

    frames = make_frames(w, h, n)
    np.stack(frames).tofile(os.path.join(out, f"frames_{w}x{h}.rgb"))
    for i, f in enumerate(frames):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        buf.tofile(os.path.join(out, f"frame_{w}x{h}_{i}.jpg"))


def steps(cv2, small, state, thr, alpha):
    if state[0] is None:
        state[0] = small.astype(np.float32)
        return 0
    d = cv2.absdiff(small, cv2.convertScaleAbs(state[0]))
    cv2.accumulateWeighted(small, state[0], alpha)
    t = cv2.threshold(d, thr, 255, cv2.THRESH_BINARY)[1]
    t = cv2.dilate(t, None)
    n, _, stats, _ = cv2.connectedComponentsWithStats(t, connectivity=8)
    return n - 1


def timed(fn, inputs, seconds):
    # Warm up, then whole passes over the inputs until `seconds` pass.
    for x in inputs[:2]:
        fn(x)
    done, regions = 0, 0
    t0 = time.perf_counter()
    while True:
        for x in inputs:
            regions += fn(x)
        done += len(inputs)
        if time.perf_counter() - t0 >= seconds:
            break
    el = time.perf_counter() - t0
    return {"fps": done / el, "frames": done, "regions": regions}


def cmd_motion(out, w, h, seconds, thr, alpha, from_jpeg):
    import cv2

    cv2.setNumThreads(1)
    dw, dh = motion_size(w, h)
    state = [None]
    if from_jpeg:
        names = sorted(f for f in os.listdir(out) if f.startswith(f"frame_{w}x{h}_") and f.endswith(".jpg"))
        names.sort(key=lambda f: int(f.rsplit("_", 1)[1][:-4]))
        inputs = [np.fromfile(os.path.join(out, f), np.uint8) for f in names]

        def fn(buf):
            g = cv2.imdecode(buf, cv2.IMREAD_REDUCED_GRAYSCALE_8)
            return steps(cv2, cv2.resize(g, (dw, dh), interpolation=cv2.INTER_AREA), state, thr, alpha)
    else:
        raw = np.fromfile(os.path.join(out, f"frames_{w}x{h}.rgb"), np.uint8)
        inputs = list(raw.reshape(-1, h, w, 3))

        def fn(f):
            g = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
            return steps(cv2, cv2.resize(g, (dw, dh), interpolation=cv2.INTER_AREA), state, thr, alpha)

    print(json.dumps(timed(fn, inputs, seconds)))


def cmd_mtcnn(out, repeats):
    import cv2
    import torch
    from facenet_pytorch import MTCNN
    from skimage import data

    torch.set_num_threads(1)
    astronaut = data.astronaut()
    scene = cv2.resize(data.coffee(), (640, 480), interpolation=cv2.INTER_AREA)
    scene[100:356, 300:556] = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    hd = cv2.resize(data.coffee(), (1280, 720), interpolation=cv2.INTER_AREA)
    hd[150:662, 600:1112] = astronaut
    m = MTCNN(keep_all=True)
    for name, im in [("astronaut_512x512", astronaut), ("scene_640x480", scene), ("scene_1280x720", hd)]:
        im = np.ascontiguousarray(im)
        im.tofile(os.path.join(out, f"mtcnn_{name}.rgb"))
        boxes, _ = m.detect(im)
        t0 = time.perf_counter()
        for _ in range(repeats):
            m.detect(im)
        ms = (time.perf_counter() - t0) * 1000 / repeats
        faces = 0 if boxes is None else len(boxes)
        print(json.dumps({"name": name, "w": im.shape[1], "h": im.shape[0], "ms": ms, "faces": faces}))
    print(json.dumps({"weights": os.path.join(os.path.dirname(sys.modules["facenet_pytorch"].__file__), "data")}))


def main():
    a = sys.argv[1:]
    if a[0] == "frames":
        cmd_frames(a[1], int(a[2]), int(a[3]), int(a[4]))
    elif a[0] in ("motion", "jpeg"):
        cmd_motion(a[1], int(a[2]), int(a[3]), float(a[4]), int(a[5]), float(np.float32(a[6])), a[0] == "jpeg")
    elif a[0] == "mtcnn":
        cmd_mtcnn(a[1], int(a[2]))
    else:
        sys.exit(f"unknown command {a[0]}")


if __name__ == "__main__":
    main()
