"""Training/serving parity on real photos (issue 20): the workers' resize to a 224 shorter
side against torchvision's ``Resize(224, antialias=True)`` on the very pixels the worker
decoded — with ``"interpolation": "antialias"`` and with SynapseML's default INTER_LINEAR.

    coordinator --standalone --root "$(test/bench/photos.sh)" &     # any running cluster
    /tmp/epochvenv/bin/python test/bench/resize_parity.py grpc://127.0.0.1:8815 "$(test/bench/photos.sh)"

Prints the worst and median PSNR of each and how many photos are identical.
"""

import sys

import numpy as np
import torch
from torchvision.transforms import v2

import imageflight


def rows(table):
    return {r["origin"]: r for r in table.column("image").to_pylist()}


def pixels(r):
    return np.frombuffer(r["data"], np.uint8).reshape(r["height"], r["width"], r["nChannels"])


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def main(coordinator, folder):
    def read(interpolation=None):
        stage = {"action": "resize", "size": 224, "keepAspectRatio": True}
        if interpolation:
            stage["interpolation"] = interpolation
        return rows(imageflight.read_images(folder, coordinator=coordinator, transforms=[stage]))

    full = rows(imageflight.read_images(folder, coordinator=coordinator))
    aa, linear = read("antialias"), read()
    res = {"antialias": [], "linear": []}
    same = 0
    for origin, r in full.items():
        h, w = aa[origin]["height"], aa[origin]["width"]
        src = torch.from_numpy(pixels(r).copy()).permute(2, 0, 1)  # channel order is irrelevant here
        ref = v2.functional.resize(src, [h, w], antialias=True).permute(1, 2, 0).numpy()
        res["antialias"].append(psnr(pixels(aa[origin]), ref))
        res["linear"].append(psnr(pixels(linear[origin]), ref))
        same += int(np.array_equal(pixels(aa[origin]), ref))
    for name, v in res.items():
        print(f"{name:9s} vs torchvision Resize(224, antialias=True), {len(v)} photos: "
              f"worst {min(v):.1f} dB, median {np.median(v):.1f} dB")
    print(f"antialias identical on {same} of {len(full)} photos")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
