"""Deterministic test corpus written with Pillow/numpy, with the expected pixels of every
lossless image (independent of Spark and of the server).

Layout under ``root``::

    images/                  the oracle folder: every file lives in a cls=<kind>/ leaf
      cls=jpeg/  baseline_420.jpg baseline_444.jpg progressive.jpg gray.jpg cmyk.jpg
                 truncated.jpg odd_size.jpg
      cls=png/   rgb8 rgba8 gray8 gray8_trns gray16 gray1 gray_alpha palette palette_trns
                 rgb_trns rgb16 big_1080p (.png) + hidden files .hidden.png, _SUCCESS
      cls=other/ image.gif transparent.gif animated.gif image.bmp palette.bmp image.tiff
      cls=broken/ zero.png text.png garbage.jpg
    nested/      a.png sub/b.png sub/deeper/c.png        (recursive vs not)
    many/        200 tiny PNGs                             (sampling, numPartitions)
    year/        year=2018/x.png year=2019/y.png           (partition type inference)
    parts/       a=1/b=x/{p.png,broken.png,_skip.png} a=2/b=y/{q.png,.x.png}
                                                           (two partition levels, non-recursive)
    rootfiles/   top.png k=1/a.png                         (files beside partition folders)
    conflict/    top.png k=1/a.png plain/b.png             (Spark: conflicting structures)
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
from PIL import Image

# OpenCV modes used by Spark.
CV_8UC1, CV_8UC3, CV_8UC4 = 0, 16, 24


@dataclass
class Expected:
    """What a decoder following Spark's rules must produce for one file."""

    rel: str                      # path relative to the corpus root, '/'-separated
    kind: str                     # jpeg | lossless | invalid
    height: int = -1
    width: int = -1
    n_channels: int = -1
    mode: int = -1
    data: Optional[bytes] = None  # exact BGR(A)/gray bytes for lossless images
    source_rgb: Optional[np.ndarray] = None  # the array a JPEG was encoded from


@dataclass
class Corpus:
    root: str
    images: str
    files: Dict[str, Expected] = field(default_factory=dict)

    def path(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def under(self, prefix: str) -> Dict[str, Expected]:
        return {k: v for k, v in self.files.items() if k.startswith(prefix)}


def photo(h: int, w: int, seed: int) -> np.ndarray:
    """A photo-like RGB uint8 image: smooth gradients, shapes, edges and mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / (w / 3.1) + seed) * np.cos(y / (h / 2.3))
    g = 255 * (x + y) / (w + h)
    b = 128 + 90 * np.cos(np.hypot(x - w / 2, y - h / 3) / 7.0)
    img = np.stack([r, g, b], axis=-1)
    img[h // 4: h // 2, w // 5: w // 2] = [250, 30, 20]  # hard-edged block
    img += rng.normal(0, 6, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def bgr(rgb: np.ndarray) -> bytes:
    """Spark's byte order: B, G, R(, A); 2-D arrays are gray."""
    if rgb.ndim == 2:
        return rgb.astype(np.uint8).tobytes()
    order = [2, 1, 0] + list(range(3, rgb.shape[2]))
    return np.ascontiguousarray(rgb[:, :, order]).astype(np.uint8).tobytes()


def _png_chunk(tag: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + tag + payload
            + struct.pack(">I", zlib.crc32(tag + payload) & 0xFFFFFFFF))


def png16_rgb(arr16: np.ndarray) -> bytes:
    """Encodes an HxWx3 uint16 array as a 16-bit RGB PNG (Pillow cannot write these)."""
    h, w, _ = arr16.shape
    raw = b"".join(b"\x00" + arr16[i].astype(">u2").tobytes() for i in range(h))
    return (b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(raw, 6))
            + _png_chunk(b"IEND", b""))


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def write_corpus(root: str) -> Corpus:
    c = Corpus(root=root, images=os.path.join(root, "images"))

    def put(rel: str, payload: bytes, exp: Optional[Expected]) -> None:
        p = c.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(payload)
        if exp is not None:
            exp.rel = rel
            c.files[rel] = exp

    def lossless(rel: str, payload: bytes, arr: np.ndarray, nch: int) -> None:
        h, w = arr.shape[:2]
        mode = {1: CV_8UC1, 3: CV_8UC3, 4: CV_8UC4}[nch]
        put(rel, payload, Expected(rel, "lossless", h, w, nch, mode, bgr(arr)))

    def jpeg(rel: str, payload: bytes, src: np.ndarray, nch: int) -> None:
        h, w = src.shape[:2]
        mode = {1: CV_8UC1, 3: CV_8UC3}[nch]
        put(rel, payload, Expected(rel, "jpeg", h, w, nch, mode, None, src))

    def invalid(rel: str, payload: bytes) -> None:
        put(rel, payload, Expected(rel, "invalid"))

    # ---------------------------------------------------------------- JPEG
    src = photo(48, 64, 1)
    jpeg("images/cls=jpeg/baseline_420.jpg", _save(Image.fromarray(src), "JPEG", quality=90, subsampling=2), src, 3)
    jpeg("images/cls=jpeg/baseline_444.jpg", _save(Image.fromarray(src), "JPEG", quality=95, subsampling=0), src, 3)
    src2 = photo(61, 83, 2)
    jpeg("images/cls=jpeg/progressive.jpg",
         _save(Image.fromarray(src2), "JPEG", quality=85, progressive=True, optimize=True), src2, 3)
    src3 = photo(37, 29, 3)  # odd sizes exercise chroma upsampling at the edges
    jpeg("images/cls=jpeg/odd_size.jpg", _save(Image.fromarray(src3), "JPEG", quality=80, subsampling=2), src3, 3)
    gray = photo(40, 50, 4)[:, :, 1]
    jpeg("images/cls=jpeg/gray.jpg", _save(Image.fromarray(gray, "L"), "JPEG", quality=90), gray, 1)
    cmyk_src = photo(32, 40, 5)
    put("images/cls=jpeg/cmyk.jpg", _save(Image.fromarray(cmyk_src).convert("CMYK"), "JPEG", quality=90),
        Expected("", "jpeg", 32, 40, 3, CV_8UC3, None, cmyk_src))
    big = photo(96, 128, 6)
    full = _save(Image.fromarray(big), "JPEG", quality=90)
    # Cut inside the entropy-coded data: decoders see a premature end.
    put("images/cls=jpeg/truncated.jpg", full[: len(full) * 6 // 10], Expected("", "truncated"))

    # ---------------------------------------------------------------- PNG
    rgb = photo(20, 30, 10)
    lossless("images/cls=png/rgb8.png", _save(Image.fromarray(rgb), "PNG"), rgb, 3)
    alpha = np.linspace(0, 255, 20 * 30).reshape(20, 30).astype(np.uint8)
    rgba = np.dstack([rgb, alpha])
    lossless("images/cls=png/rgba8.png", _save(Image.fromarray(rgba, "RGBA"), "PNG"), rgba, 4)
    g8 = photo(17, 23, 11)[:, :, 0]
    lossless("images/cls=png/gray8.png", _save(Image.fromarray(g8, "L"), "PNG"), g8, 1)
    # 8-bit gray with a tRNS chunk: Java keeps it gray (1 channel).
    lossless("images/cls=png/gray8_trns.png", _save(Image.fromarray(g8, "L"), "PNG", transparency=int(g8[0, 0])), g8, 1)
    g16 = (np.arange(12 * 10, dtype=np.uint32).reshape(12, 10) * 541 % 65536).astype(np.uint16)
    g16_scaled = np.floor(g16.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)
    put("images/cls=png/gray16.png", _save(Image.fromarray(g16), "PNG"),
        Expected("", "lossless", 12, 10, 1, CV_8UC1, bgr(g16_scaled)))
    c.files["images/cls=png/gray16.png"].rel = "images/cls=png/gray16.png"
    c.files["images/cls=png/gray16.png"].source_rgb = g16  # raw 16-bit samples, for the deviation check
    bits = (photo(9, 13, 12)[:, :, 0] > 128)
    g1_rgb = np.repeat((bits.astype(np.uint8) * 255)[:, :, None], 3, axis=2)
    # 1-bit gray: Java reads low-bit-depth gray as indexed -> 3 channels.
    lossless("images/cls=png/gray1.png", _save(Image.fromarray(bits), "PNG"), g1_rgb, 3)
    # gray+alpha: Spark drops alpha -> 1 channel.
    ga = np.dstack([g8, g8[::-1]])
    lossless("images/cls=png/gray_alpha.png", _save(Image.fromarray(ga, "LA"), "PNG"), g8, 1)
    pal = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30], [200, 150, 100]], np.uint8)
    idx = (np.arange(15 * 11).reshape(15, 11) % 5).astype(np.uint8)
    pimg = Image.fromarray(idx, "P")
    pimg.putpalette(pal.flatten().tolist())
    lossless("images/cls=png/palette.png", _save(pimg, "PNG"), pal[idx], 3)
    ptr = np.array([255, 128, 255, 0, 255], np.uint8)  # per-index alpha (tRNS)
    lossless("images/cls=png/palette_trns.png", _save(pimg, "PNG", transparency=ptr.tobytes()),
             np.dstack([pal[idx], ptr[idx]]), 4)
    key = tuple(int(v) for v in rgb[0, 0])
    rgb_trns_alpha = np.where(np.all(rgb == key, axis=2), 0, 255).astype(np.uint8)
    # RGB with a tRNS colour key: Java gives 4 channels (alpha 0 where the key matches).
    lossless("images/cls=png/rgb_trns.png", _save(Image.fromarray(rgb), "PNG", transparency=key),
             np.dstack([rgb, rgb_trns_alpha]), 4)
    r16 = (np.arange(8 * 9 * 3, dtype=np.uint32).reshape(8, 9, 3) * 2999 % 65536).astype(np.uint16)
    r16_scaled = np.floor(r16.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)
    lossless("images/cls=png/rgb16.png", png16_rgb(r16), r16_scaled, 3)
    # One image above gRPC's 4 MiB default message size: 1080p BGR = 6,220,800 bytes.
    yy, xx = np.mgrid[0:1080, 0:1920]
    big_rgb = np.dstack([(xx % 256), (yy % 256), ((xx + yy) // 8 % 256)]).astype(np.uint8)
    lossless("images/cls=png/big_1080p.png", _save(Image.fromarray(big_rgb), "PNG", compress_level=1), big_rgb, 3)
    # Hidden files: skipped by Hadoop's listing rules (and by Spark), so no row.
    put("images/cls=png/.hidden.png", _save(Image.fromarray(rgb), "PNG"), None)
    put("images/cls=png/_SUCCESS", b"", None)

    # ---------------------------------------------------------------- other formats
    gif_img = Image.fromarray(idx, "P")
    gif_img.putpalette(pal.flatten().tolist() + [0] * (256 * 3 - pal.size))
    lossless("images/cls=other/image.gif", _save(gif_img, "GIF"), pal[idx], 3)
    # Transparent index 3 -> Java gives 4 channels; transparent pixels keep their palette
    # colour with alpha 0 (ImageIO's IndexColorModel).
    talpha = np.where(idx == 3, 0, 255).astype(np.uint8)
    lossless("images/cls=other/transparent.gif", _save(gif_img, "GIF", transparency=3),
             np.dstack([pal[idx], talpha]), 4)
    frame2 = Image.fromarray(((idx + 1) % 5).astype(np.uint8), "P")
    frame2.putpalette(pal.flatten().tolist() + [0] * (256 * 3 - pal.size))
    lossless("images/cls=other/animated.gif",
             _save(gif_img, "GIF", save_all=True, append_images=[frame2], duration=100, loop=0),
             pal[idx], 3)  # first frame only
    bmp_rgb = photo(13, 17, 20)  # odd width: BMP rows are padded to 4 bytes on disk
    lossless("images/cls=other/image.bmp", _save(Image.fromarray(bmp_rgb), "BMP"), bmp_rgb, 3)
    lossless("images/cls=other/palette.bmp", _save(pimg, "BMP"), pal[idx], 3)
    tif_rgb = photo(14, 19, 21)
    lossless("images/cls=other/image.tiff", _save(Image.fromarray(tif_rgb), "TIFF"), tif_rgb, 3)
    webp_rgb = photo(15, 22, 22)  # lossless WebP: Spark's ImageIO has no WebP reader
    lossless("images/cls=other/lossless.webp", _save(Image.fromarray(webp_rgb), "WEBP", lossless=True,
                                                     quality=100), webp_rgb, 3)

    # ---------------------------------------------------------------- broken
    invalid("images/cls=broken/zero.png", b"")
    invalid("images/cls=broken/text.png", b"this is not a png, just text\n")
    invalid("images/cls=broken/garbage.jpg", bytes(np.random.default_rng(30).integers(0, 256, 500, dtype=np.uint8)))

    # ---------------------------------------------------------------- nested (recursive)
    small = photo(4, 5, 40)
    for rel in ("nested/a.png", "nested/sub/b.png", "nested/sub/deeper/c.png"):
        lossless(rel, _save(Image.fromarray(small), "PNG"), small, 3)

    # ---------------------------------------------------------------- many (sampling)
    for i in range(200):
        tiny = np.full((2, 3, 3), i % 256, np.uint8)
        lossless(f"many/img_{i:03d}.png", _save(Image.fromarray(tiny), "PNG"), tiny, 3)

    # ---------------------------------------------------------------- year=... (type inference)
    lossless("year/year=2018/x.png", _save(Image.fromarray(small), "PNG"), small, 3)
    lossless("year/year=2019/y.png", _save(Image.fromarray(small), "PNG"), small, 3)

    # ---------------------------------------------------------------- partition layouts
    png = _save(Image.fromarray(small), "PNG")
    lossless("parts/a=1/b=x/p.png", png, small, 3)
    invalid("parts/a=1/b=x/broken.png", b"not a png at all")
    put("parts/a=1/b=x/_skip.png", png, None)   # hidden (leading underscore)
    lossless("parts/a=2/b=y/q.png", png, small, 3)
    put("parts/a=2/b=y/.x.png", png, None)      # hidden (leading dot)
    for folder in ("rootfiles", "conflict"):
        lossless(f"{folder}/top.png", png, small, 3)
        lossless(f"{folder}/k=1/a.png", png, small, 3)
    lossless("conflict/plain/b.png", png, small, 3)
    return c


if __name__ == "__main__":  # python corpus.py DIR: write the corpus for manual runs
    import sys

    out = write_corpus(sys.argv[1])
    print(f"{len(out.files)} files under {out.root}")


def origin_path(origin: str) -> str:
    """Normalizes an origin URI for comparison: file:/x, file:///x, file://localhost/x and a
    plain /x all become /x (percent-decoded); other schemes keep scheme://authority/path."""
    from urllib.parse import unquote, urlsplit

    if origin.startswith("/"):
        return os.path.normpath(origin)
    u = urlsplit(origin)
    if u.scheme == "file":
        if u.netloc not in ("", "localhost"):
            raise ValueError(f"file URI with a host: {origin}")
        return os.path.normpath(unquote(u.path))
    return f"{u.scheme}://{u.netloc}{os.path.normpath(unquote(u.path))}"


def rel_of(c: "Corpus", origin: str) -> str:
    """Corpus-relative '/'-path of an origin."""
    p = origin_path(origin)
    root = os.path.normpath(c.root)
    if not p.startswith(root + os.sep):
        raise ValueError(f"origin {origin} is not under the corpus root {root}")
    return p[len(root) + 1:].replace(os.sep, "/")
