"""OpenCV's default HOG people detector (3,780 SVM weights and the bias, as
`cv2.HOGDescriptor_getDefaultPeopleDetector()` returns them from the
opencv-python-headless wheel) to safetensors, tensor `svm`, for
hub_model::hog (which reads it without linking OpenCV)."""
import os
import sys

import cv2
import numpy as np
from safetensors.numpy import save_file

out = sys.argv[1]
svm = np.asarray(cv2.HOGDescriptor_getDefaultPeopleDetector(), dtype=np.float32).reshape(-1)
if svm.shape != (3781,):
    sys.exit(f"unexpected HOG detector shape {svm.shape}")
os.makedirs(os.path.dirname(out), exist_ok=True)
save_file({"svm": svm}, out + ".tmp")
os.replace(out + ".tmp", out)
