#!/usr/bin/env python3
"""Issue 11's epoch benchmark: one 224x224 training epoch over the same real photos, same
2 cores, one run — imageflight's PyTorch IterableDataset (server-side resize + centercrop +
normalized tensor) against what a PyTorch user writes without it:

    test/bench/photos.sh                                       # once
    python3 -m venv /tmp/epochvenv && /tmp/epochvenv/bin/pip install torch torchvision \\
        datasets pyarrow pillow numpy && /tmp/epochvenv/bin/pip install -e clients/python
    /tmp/rayvenv/bin/pip install torch pydantic                # Ray's iter_torch_batches
    /tmp/epochvenv/bin/python test/bench/epoch_bench.py --photos ~/.cache/imageflight-bench/photos \\
        --images 116 --ray-python /tmp/rayvenv/bin/python [--repeats R] [--skip a,b]

Corpus: the photos copied round-robin to --images files (116 = each of the 29 photos 4x),
labelled a/b alternately, hard-linked into two layouts of the same inodes:
``if/cls=a|b/`` (imageflight's partition column ``cls``) and ``tv/a|b/`` (torchvision
``ImageFolder`` and Hugging Face ``imagefolder`` class folders).

Every method yields, per batch of 32, a float32 torch tensor (N, 3, 224, 224) normalized
with ImageNet's mean/std, and the labels; the loop checks the shape and counts rows.
Methods (one untimed warm-up epoch each, then --repeats timed epochs, median reported;
a DataLoader with num_workers=2 and batch_size=32 everywhere; the DataLoader's workers
are started anew each epoch, as by default):

  if-exact   imageflight.torch.ImageFlightDataset(transforms=Transforms().resize(224) (shorter
             side 224, aspect kept) .centercrop(224, 224), tensor=Tensor.imagenet() (RGB,
             colorScaleFactor 1/255, ImageNet mean/std: checked equal to the spelled-out
             parameters), fast_resize=False, classes=["a", "b"], every other option at its
             default (3-channel images, drop_image_failures=False); batch["tensor"]. The
             dataset is created (planned, classes checked) inside the timed epoch.
  if-fast    the same with fast_resize=True (libjpeg-turbo DCT scaling before the resize)
  if-fast-w0 the same in DataLoader(num_workers=0): the server decodes and transforms, the
             dataset reads its endpoints in parallel threads — no worker processes, no fork
             helpers (a forked worker of a process that used gRPC reads through a helper
             process started by exec: imageflight._forkproxy)
  tv         torchvision ImageFolder + Resize(224) + CenterCrop(224) + ToTensor + Normalize
  hf         Hugging Face datasets load_dataset("imagefolder", data_dir=tv/) (cache in the temp
             dir; the one-time Arrow cache build is reported apart, the epoch includes the
             cached load_dataset), .with_transform(the same torchvision transform)
  ray        Ray Data read_images(tv/, mode="RGB") + map_batches(Pillow resize shorter side
             to 224 BILINEAR + centre crop + normalize, the torchvision recipe) +
             iter_torch_batches(batch_size=32), in --ray-python's interpreter, ray.init(num_cpus=2)

CPU-seconds: user+sys of this process and every descendant over the timed epochs
(DataLoader workers, imageflight's fork helpers, the coordinator, Ray's raylet and
workers), from /proc and os.times() (peer_bench.tree_cpu); the idle coordinator is left
out of the non-imageflight methods. On a shared machine read the CPU column.

Gray photos (the corpus has one): torchvision, HF and Ray convert them to RGB (PIL
convert / mode="RGB"); imageflight's server expands a gray image to 3 channels when the
tensor column is 3xHxW (pkg/pipeline/apply.go), and the dataset's "image" is 3 channels by
default (channels=3), so every method delivers every image.

Check (untimed): imageflight's tensors against torchvision's for the same files, as PSNR in
0..255 units (de-normalized): the two resize filters differ (OpenCV INTER_LINEAR vs Pillow's
antialiased bilinear), channel order or normalization mistakes would show as < 15 dB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_bench as pb  # noqa: E402

SIZE = 224
BATCH = 32
WORKERS = 2
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------- corpus


def make_layouts(files: List[str], root: str) -> Tuple[str, str, Dict[str, int]]:
    """Hard-links file i into if/cls=<a|b>/ and tv/<a|b>/ (class i % 2)."""
    ifd, tvd = os.path.join(root, "if"), os.path.join(root, "tv")
    counts: Dict[str, int] = {}
    for i, f in enumerate(files):
        c = "ab"[i % 2]
        counts[c] = counts.get(c, 0) + 1
        for d in (os.path.join(ifd, f"cls={c}"), os.path.join(tvd, c)):
            os.makedirs(d, exist_ok=True)
            os.link(f, os.path.join(d, os.path.basename(f)))
    return ifd, tvd, counts


# --------------------------------------------------------------------------- methods


def if_recipe():
    """imageflight's side of the recipe, with the client's presets: Transforms().resize(224)
    is torchvision's Resize(224) (shorter side, aspect kept), Tensor.imagenet() is ToTensor +
    Normalize(ImageNet). Checked against the parameters spelled out, so the peers' MEAN/STD
    and imageflight's preset cannot drift apart."""
    from imageflight import Tensor, Transforms

    t = Transforms().resize(SIZE).centercrop(SIZE, SIZE)
    tt = Tensor.imagenet()
    spelled = Tensor(channel_order="RGB", color_scale_factor=1 / 255.0, normalize_mean=MEAN, normalize_std=STD,
                     auto_convert_to_color=True)
    assert tt.to_json() == spelled.to_json(), (tt.to_json(), spelled.to_json())
    assert t.to_json() == Transforms().resize(SIZE, keep_aspect_ratio=True).centercrop(SIZE, SIZE).to_json(), \
        t.to_json()
    return t, tt


def tv_transform():
    from torchvision import transforms as tvt

    return tvt.Compose([tvt.Resize(SIZE), tvt.CenterCrop(SIZE), tvt.ToTensor(), tvt.Normalize(MEAN, STD)])


def epoch(loader, key: str, label_key: str) -> Tuple[int, int]:
    """Iterates one epoch; every batch must be a float32 (N, 3, 224, 224) torch tensor."""
    import torch

    n = s = 0
    for batch in loader:
        x = batch[key] if isinstance(batch, dict) else batch[0]
        y = batch[label_key] if isinstance(batch, dict) else batch[1]
        assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.dim() == 4 \
            and tuple(x.shape[1:]) == (3, SIZE, SIZE), (type(x), getattr(x, "shape", None))
        assert len(y) == x.shape[0]
        n += x.shape[0]
        s += int(y.sum())
    return n, s


def ray_child(corpus: str, repeats: int) -> None:
    """Runs in the Ray interpreter: one JSON line with walls, rows, CPU-s, load."""
    import numpy as np
    import ray
    from PIL import Image

    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False,
             object_store_memory=2 << 30)
    ray.data.DataContext.get_current().enable_progress_bars = False
    mean = np.array(MEAN, np.float32).reshape(1, 3, 1, 1)
    std = np.array(STD, np.float32).reshape(1, 3, 1, 1)

    def resize_crop(batch):
        out = np.empty((len(batch["image"]), 3, SIZE, SIZE), np.float32)
        for i, a in enumerate(batch["image"]):
            im = Image.fromarray(a)
            w, h = im.size
            # torchvision Resize(224) on a PIL image: shorter side 224, the other int(224 * long / short)
            tw, th = (SIZE, int(SIZE * h / w)) if w <= h else (int(SIZE * w / h), SIZE)
            im = im.resize((tw, th), Image.BILINEAR)
            left, top = int(round((tw - SIZE) / 2.0)), int(round((th - SIZE) / 2.0))
            out[i] = np.asarray(im.crop((left, top, left + SIZE, top + SIZE)), np.float32).transpose(2, 0, 1)
        out = (out / 255.0 - mean) / std
        labels = np.array([0 if "/a/" in p else 1 for p in batch["path"]], np.int64)
        return {"image": out.astype(np.float32), "label": labels}

    import torch

    def once() -> Tuple[int, int]:
        ds = ray.data.read_images(corpus, mode="RGB", include_paths=True)
        ds = ds.map_batches(resize_crop, batch_size=BATCH, batch_format="numpy")
        n = s = 0
        for b in ds.iter_torch_batches(batch_size=BATCH):
            x, y = b["image"], b["label"]
            assert x.dtype == torch.float32 and tuple(x.shape[1:]) == (3, SIZE, SIZE), x.shape
            n += x.shape[0]
            s += int(y.sum())
        return n, s

    once()
    walls, res = [], (0, 0)
    cpu0 = pb.tree_cpu()
    for _ in range(repeats):
        t = time.perf_counter()
        res = once()
        walls.append(time.perf_counter() - t)
    cpu = (pb.tree_cpu() - cpu0) / repeats
    print(json.dumps({"walls": walls, "rows": res[0], "labels": res[1], "cpu": cpu,
                      "ray": ray.__version__, "torch": torch.__version__}), flush=True)
    ray.shutdown()


def compare_tensors(ifd: str, location: str, files: List[str]) -> List[str]:
    """PSNR (0..255 units) of imageflight's tensor against torchvision's transform, per photo
    (the first copy of each), for fastResize off and on."""
    import math

    import numpy as np
    import torch
    from PIL import Image

    from imageflight.torch import ImageFlightDataset

    T, TT = if_recipe()
    tf = tv_transform()
    firsts = [f for f in files if not os.path.basename(f).startswith("r")
              or not os.path.basename(f).split("_", 1)[0][1:].isdigit()]
    ref = {}
    for f in firsts:
        with Image.open(f) as im:
            ref[os.path.basename(f)] = tf(im.convert("RGB")).numpy()
    mean = np.array(MEAN, np.float64).reshape(3, 1, 1)
    std = np.array(STD, np.float64).reshape(3, 1, 1)

    def psnr(a, b):
        d = (a.astype(np.float64) - b.astype(np.float64)) * std * 255.0
        mse = float(np.mean(d * d))
        return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)

    out = []
    for fast in (False, True):
        ds = ImageFlightDataset(ifd, coordinator=location, transforms=T, tensor=TT, fast_resize=fast,
                                classes=["a", "b"])
        got = {}
        for sample in ds:
            b = os.path.basename(sample["origin"])
            if b in ref:
                got[b] = sample["tensor"].numpy() if isinstance(sample["tensor"], torch.Tensor) else sample["tensor"]
        ps = sorted(psnr(got[b], r) for b, r in ref.items() if b in got)
        sw = sorted(psnr(got[b][::-1], r) for b, r in ref.items() if b in got)
        out.append(f"check: imageflight tensor (fastResize {'on' if fast else 'off'}) vs torchvision's, "
                   f"{len(ps)} of {len(ref)} photos: PSNR min {ps[0]:.1f} dB, median {statistics.median(ps):.1f} dB"
                   f" (with R and B swapped: median {statistics.median(sw):.1f} dB)")
    return out


def timed(results: Dict[str, dict], failures: List[str], name: str, label: str, fn, repeats: int,
          exclude: int = 0) -> None:
    try:
        fn()  # warm-up epoch
        walls, out = [], (0, 0)
        c0, l0 = pb.tree_cpu(exclude), os.getloadavg()[0]
        for _ in range(repeats):
            t = time.perf_counter()
            out = fn()
            walls.append(time.perf_counter() - t)
        cpu = (pb.tree_cpu(exclude) - c0) / repeats
        results[name] = {"label": label, "walls": walls, "rows": out[0], "labels": out[1], "cpu": cpu,
                         "load": (l0 + os.getloadavg()[0]) / 2}
        print(f"  {label}: median {statistics.median(walls):.2f}s over {[round(w, 2) for w in walls]}, "
              f"CPU {cpu:.2f}s/epoch, {out[0]} rows, load {results[name]['load']:.1f}", flush=True)
    except Exception as err:
        failures.append(f"{label}: {type(err).__name__}: {err}")
        print(f"  {label}: FAILED {type(err).__name__}: {err}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", default=os.path.expanduser("~/.cache/imageflight-bench/photos"))
    ap.add_argument("--images", type=int, default=116, help="copies round-robin (116 = 29 photos x 4)")
    ap.add_argument("--repeats", type=int, default=1, help="timed epochs per method after the warm-up")
    ap.add_argument("--ray-python", default=None)
    ap.add_argument("--skip", default="", help="comma list: if-exact,if-fast,if-fast-w0,tv,hf,ray")
    ap.add_argument("--ray-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if args.ray_child:
        ray_child(args.ray_child, args.repeats)
        return 0
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    t_start = time.perf_counter()
    load0 = os.getloadavg()
    tmp = tempfile.mkdtemp(prefix="imageflight-epoch-bench-")
    flat = os.path.join(tmp, "flat")
    corpus = os.path.join(tmp, "corpus")
    os.makedirs(flat)
    os.makedirs(corpus)
    server: Optional[pb.Standalone] = None
    failures: List[str] = []
    results: Dict[str, dict] = {}
    extra: List[str] = []
    checks: List[str] = []
    try:
        files, mp, desc = pb.photo_corpus(args.photos, flat, args.images)
        ifd, tvd, counts = make_layouts(files, corpus)
        nbytes = sum(os.path.getsize(p) for p in files)
        print(f"corpus: {desc}, {mp:.1f} MP, {nbytes / 1e6:.1f} MB; classes {counts} "
              f"(hard links: {ifd}/cls=*, {tvd}/*)", flush=True)

        import torch
        from torch.utils.data import DataLoader

        torch.set_num_threads(1)  # the DataLoader's 2 workers are the parallelism, as for every method
        print(f"torch {torch.__version__}, DataLoader(batch_size={BATCH}, num_workers={WORKERS}), "
              f"{os.cpu_count()} cores", flush=True)
        print("timing (1 warm-up epoch, then --repeats epochs):", flush=True)

        # ---- imageflight
        if not {"if-exact", "if-fast", "if-fast-w0"} <= skip:
            bindir = os.path.join(tmp, "bin")
            subprocess.run(["go", "build", "-o", bindir + os.sep, "./cmd/coordinator"], cwd=pb.REPO, check=True)
            server = pb.Standalone(os.path.join(bindir, "coordinator"), corpus, tmp)
            print(f"standalone coordinator at {server.location} (capacity {pb.SLOTS})", flush=True)

            from imageflight.torch import ImageFlightDataset

            T, TT = if_recipe()
            print(f"imageflight recipe: transforms={T.to_json()}, tensor=Tensor.imagenet() = {TT.to_json()}",
                  flush=True)

            def via_if(fast: bool, nw: int):
                def run():
                    ds = ImageFlightDataset(ifd, coordinator=server.location, transforms=T, tensor=TT,
                                            fast_resize=fast, classes=["a", "b"])
                    return epoch(DataLoader(ds, batch_size=BATCH, num_workers=nw), "tensor", "label")
                return run

            for key, fast, nw in (("if-exact", False, WORKERS), ("if-fast", True, WORKERS), ("if-fast-w0", True, 0)):
                if key not in skip:
                    timed(results, failures, key,
                          f"imageflight, fastResize {'on' if fast else 'off'}, num_workers={nw}",
                          via_if(fast, nw), args.repeats)

        srv_pid = server.proc.pid if server is not None else 0

        # ---- torchvision ImageFolder
        if "tv" not in skip:
            import torchvision
            from torchvision.datasets import ImageFolder

            def via_tv():
                ds = ImageFolder(tvd, transform=tv_transform())
                return epoch(DataLoader(ds, batch_size=BATCH, num_workers=WORKERS), "", "")

            timed(results, failures, "tv", f"torchvision {torchvision.__version__} ImageFolder",
                  via_tv, args.repeats, exclude=srv_pid)

        # ---- Hugging Face datasets imagefolder
        if "hf" not in skip:
            try:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
                import datasets

                datasets.disable_progress_bars()
                cache = os.path.join(tmp, "hf-cache")
                tf = tv_transform()

                def hf_tf(b):
                    return {"pixel_values": [tf(im.convert("RGB")) for im in b["image"]], "label": b["label"]}

                def hf_load():
                    return datasets.load_dataset("imagefolder", data_dir=tvd, split="train", cache_dir=cache)

                t, c = time.perf_counter(), pb.tree_cpu(srv_pid)
                d0 = hf_load()
                extra.append(f"HF datasets: one-time imagefolder Arrow cache build {time.perf_counter() - t:.2f}s wall, "
                             f"{pb.tree_cpu(srv_pid) - c:.2f} CPU-s ({d0.num_rows} rows, labels "
                             f"{d0.features['label'].names})")

                def via_hf():
                    ds = hf_load().with_transform(hf_tf)
                    return epoch(DataLoader(ds, batch_size=BATCH, num_workers=WORKERS), "pixel_values", "label")

                timed(results, failures, "hf", f"HF datasets {datasets.__version__} imagefolder",
                      via_hf, args.repeats, exclude=srv_pid)
            except ImportError as err:
                failures.append(f"HF datasets: {err}")

        # ---- Ray Data
        if "ray" not in skip and args.ray_python:
            try:
                r = subprocess.run([args.ray_python, os.path.abspath(__file__), "--ray-child", tvd,
                                    "--repeats", str(args.repeats)], capture_output=True, text=True,
                                   timeout=1800, start_new_session=True,
                                   env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
                line = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
                if r.returncode != 0 or not line:
                    raise RuntimeError(f"exit {r.returncode}: {r.stderr[-3000:]}")
                out = json.loads(line[-1])
                results["ray"] = {"label": f"Ray Data {out['ray']} iter_torch_batches", "walls": out["walls"],
                                  "rows": out["rows"], "labels": out["labels"], "cpu": out["cpu"],
                                  "load": os.getloadavg()[0]}
                print(f"  {results['ray']['label']}: median {statistics.median(out['walls']):.2f}s over "
                      f"{[round(w, 2) for w in out['walls']]}, CPU {out['cpu']:.2f}s/epoch, {out['rows']} rows "
                      f"(torch {out['torch']} in the Ray venv)", flush=True)
            except Exception as err:
                failures.append(f"Ray Data: {type(err).__name__}: {err}")
                print(f"  Ray Data: FAILED {err}", flush=True)

        # ---- check: imageflight's tensors vs torchvision's, same files (untimed)
        if server is not None and "tv" not in skip:
            try:
                checks.extend(compare_tensors(ifd, server.location, files))
            except Exception as err:
                failures.append(f"tensor check: {type(err).__name__}: {err}")

        # ---- table
        n = len(files)
        print()
        print(f"{n} images ({desc}), {mp:.1f} MP, {nbytes / 1e6:.1f} MB; one epoch -> float32 "
              f"(N,3,{SIZE},{SIZE}) batches of {BATCH}, DataLoader num_workers={WORKERS}, {os.cpu_count()} cores; "
              f"median of {args.repeats} after a warm-up; load average at start {load0[0]:.1f}, "
              f"now {os.getloadavg()[0]:.1f}")
        base_key = "if-fast" if "if-fast" in results else ("if-exact" if "if-exact" in results else None)
        base = results.get(base_key) if base_key else None
        hdr = (f"{'method':<48} {'rows':>5} {'wall s':>7} {'img/s':>7} {'CPU s':>7} {'img/CPU-s':>9} "
               f"{'load':>5} {'peer/if wall':>12} {'peer/if CPU':>11}")
        print(hdr)
        print("-" * len(hdr))
        for k, r in results.items():
            wall = statistics.median(r["walls"])
            rw = f"{wall / statistics.median(base['walls']):.2f}x" if base else "n/a"
            rc = f"{r['cpu'] / base['cpu']:.2f}x" if base and r.get("cpu") else "n/a"
            print(f"{r['label']:<48} {r['rows']:>5} {wall:7.2f} {r['rows'] / wall:7.1f} {r['cpu']:7.2f} "
                  f"{r['rows'] / r['cpu']:9.1f} {r['load']:5.1f} {rw:>12} {rc:>11}")
        if base:
            print(f"(peer/if = the method's time over {base['label']}'s: > 1 means imageflight is faster)")
            for mine in ("if-fast", "if-fast-w0", "if-exact"):
                m = results.get(mine)
                if not m:
                    continue
                for k, r in results.items():
                    if k.startswith("if-"):
                        continue
                    w = statistics.median(r["walls"]) / statistics.median(m["walls"])
                    c = r["cpu"] / m["cpu"]
                    verdict = "faster" if min(w, c) > 1 else ("slower" if max(w, c) <= 1 else
                                                              ("faster on CPU only" if c > 1 else "faster on wall only"))
                    print(f"{m['label']} vs {r['label']}: {w:.2f}x wall, {c:.2f}x CPU ({verdict})")
            if "if-exact" in results and base_key != "if-exact":
                ex = results["if-exact"]
                print(f"fastResize on vs off: {statistics.median(ex['walls']) / statistics.median(base['walls']):.2f}x "
                      f"wall, {ex['cpu'] / base['cpu']:.2f}x CPU")
        for r in results.values():
            if r["rows"] != n:
                print(f"note: {r['label']} delivered {r['rows']} of {n} images")
        for e in extra + checks:
            print(e)
        return pb.finish(failures, t_start)
    finally:
        pb.cleanup(tmp, args.keep, server=server)


if __name__ == "__main__":
    sys.exit(main())
