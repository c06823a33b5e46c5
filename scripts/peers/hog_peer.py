"""Peer for `hubd-bench persons`: OpenCV's HOG people detector on the frames
the bench wrote (<dir>/<name>.rgb, <w>x<h>), one thread, same parameters as
hubd (winStride 8, padding 0, scale 1.05, groupThreshold 2). Prints JSON:
{name: {"ms": median, "boxes": [[x,y,w,h]...]}}."""
import json, os, sys, time
import cv2
import numpy as np

cv2.setNumThreads(1)
hog = cv2.HOGDescriptor()
hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
out = {}
d, repeat = sys.argv[1], int(sys.argv[2])
for spec in sys.argv[3:]:
    name, size = spec.split(":")
    w, h = map(int, size.split("x"))
    rgb = np.fromfile(os.path.join(d, name + ".rgb"), np.uint8).reshape(h, w, 3)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    args = dict(hitThreshold=0, winStride=(8, 8), padding=(0, 0), scale=1.05, groupThreshold=2)
    hog.detectMultiScale(bgr, **args)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r, _ = hog.detectMultiScale(bgr, **args)
        times.append((time.perf_counter() - t0) * 1e3)
    out[name] = {"ms": float(np.median(times)), "boxes": [list(map(int, b)) for b in r]}
print(json.dumps(out))
