"""Convert facenet-pytorch's pickled MTCNN state dicts (pnet/rnet/onet.pt) to
safetensors beside them, so libtorch (tch) can read them without pickle."""
import os, sys
import torch
from safetensors.torch import save_file
try:
    import facenet_pytorch  # noqa: F401  (package has deps we do not install)
    base = os.path.dirname(facenet_pytorch.__file__)
except Exception:
    import importlib.util
    spec = importlib.util.find_spec("facenet_pytorch")
    base = os.path.dirname(spec.origin) if spec and spec.origin else None
    if base is None:
        import site
        for p in site.getsitepackages():
            if os.path.isdir(os.path.join(p, "facenet_pytorch")):
                base = os.path.join(p, "facenet_pytorch")
if base is None:
    sys.exit("facenet_pytorch not installed")
data = os.path.join(base, "data")
for net in ("pnet", "rnet", "onet"):
    src = os.path.join(data, f"{net}.pt")
    dst = os.path.join(data, f"{net}.safetensors")
    sd = torch.load(src, map_location="cpu", weights_only=True)
    save_file({k: v.contiguous().float() for k, v in sd.items()}, dst)
print("facenet weights converted", file=sys.stderr)
