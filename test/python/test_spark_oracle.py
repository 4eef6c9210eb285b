"""Spark is the oracle: spark.read.format("image") vs imageflight (through the Spark data
source and through read_images/pandas) on the same folder, row by row keyed by origin.

Every difference must be listed in DEVIATIONS with its reason and is checked to be exactly
the documented one; anything else fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import numpy as np
import pytest

import imageflight
import imageflight.spark as ifs

from conftest import REPORT
from corpus import rel_of

MIN_JPEG_PSNR = 45.0


def _t(im):
    return (im["height"], im["width"], im["nChannels"], im["mode"])


def _psnr(a: bytes, b: bytes):
    x = np.frombuffer(a, np.uint8).astype(np.int32)
    y = np.frombuffer(b, np.uint8).astype(np.int32)
    d = np.abs(x - y)
    mse = float((d * d).mean()) if d.size else 0.0
    return (math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse)), int(d.max(initial=0))


# ------------------------------------------------------------------ documented deviations


def _gray16(spark_im, ours_im, corpus, rel):
    raw16 = corpus.files[rel].source_rgb
    assert _t(spark_im) == _t(ours_im) == (12, 10, 1, 0)
    assert spark_im["data"] == (raw16 & 0xFF).astype(np.uint8).tobytes(), "Spark keeps the low byte"
    assert ours_im["data"] == corpus.files[rel].data, "imageflight scales v*255/65535"


def _cmyk(spark_im, ours_im, corpus, rel):
    src = corpus.files[rel].source_rgb[:, :, ::-1].astype(np.uint8).tobytes()  # BGR of the source
    assert _t(spark_im) == _t(ours_im) == (32, 40, 3, 16)
    ours_psnr, _ = _psnr(ours_im["data"], src)
    spark_psnr, _ = _psnr(spark_im["data"], src)
    REPORT.append(f"  {rel}: PSNR vs encoded colours: imageflight {ours_psnr:.1f} dB, Spark {spark_psnr:.1f} dB")
    assert ours_psnr >= 30, "imageflight must reproduce the encoded colours"
    assert spark_psnr < 20, "Spark's JDK CMYK conversion is far off (if this fails, Spark changed)"


def _truncated(spark_im, ours_im, corpus, rel):
    assert spark_im is not None and spark_im["height"] > 0, "Spark salvages it (gray fill)"
    assert ours_im is not None and _t(ours_im) == (-1, -1, -1, -1) and ours_im["data"] == b""


def _zero_byte(spark_im, ours_im, corpus, rel):
    assert spark_im is None, "Spark's file scan skips zero-length files: no row"
    assert ours_im is not None and _t(ours_im) == (-1, -1, -1, -1)


def _webp(spark_im, ours_im, corpus, rel):
    assert spark_im is not None and _t(spark_im) == (-1, -1, -1, -1), \
        "Spark's ImageIO has no WebP reader: invalid row (if this fails, Spark gained one)"
    e = corpus.files[rel]
    assert _t(ours_im) == (e.height, e.width, e.n_channels, e.mode) and ours_im["data"] == e.data


@dataclass
class Deviation:
    reason: str
    check: Callable
    # With dropInvalid/dropImageFailures: does the row survive on each side?
    spark_survives_drop: bool
    ours_survives_drop: bool


DEVIATIONS: Dict[str, Deviation] = {
    "images/cls=png/gray16.png": Deviation(
        "16-bit grayscale PNG: Spark keeps only the low byte of each sample (its bug); "
        "imageflight scales v*255/65535 like Java does for 16-bit colour", _gray16, True, True),
    "images/cls=jpeg/cmyk.jpg": Deviation(
        "CMYK (Adobe) JPEG: Spark on JDK 17 decodes it, but with a colour conversion far from the "
        "encoded colours (~13 dB); imageflight converts inverted Adobe CMYK to BGR faithfully",
        _cmyk, True, True),
    "images/cls=jpeg/truncated.jpg": Deviation(
        "truncated JPEG: Spark's ImageIO returns a partially gray-filled image; imageflight returns "
        "the invalid row (silent gray fill poisons training data)", _truncated, True, False),
    "images/cls=broken/zero.png": Deviation(
        "zero-byte file: Spark's file scan skips zero-length files (no row); imageflight returns the "
        "invalid row (dropped with dropInvalid, like Spark's absence)", _zero_byte, False, False),
    "images/cls=other/lossless.webp": Deviation(
        "WebP: Spark's ImageIO has no WebP reader (invalid row, dropped with dropInvalid); "
        "imageflight decodes it (lossless WebP: exact pixels)", _webp, False, True),
}


# ------------------------------------------------------------------ data


def _spark_rows(spark, path, drop):
    df = spark.read.format("image").option("dropInvalid", str(drop).lower()).load(path)
    return df, {r.image.origin: r.asDict(recursive=True) for r in df.collect()}


def _by_rel(corpus, rows: dict) -> Dict[str, dict]:
    out = {}
    for origin, r in rows.items():
        rel = rel_of(corpus, origin)
        assert rel not in out, f"two rows for {rel}"
        out[rel] = r
    return out


@pytest.fixture(scope="module")
def oracle(spark, corpus, coordinator):
    """Spark's rows, and ours via the data source and via read_images, drop off and on."""
    out = {}
    for drop in (False, True):
        sdf, srows = _spark_rows(spark, corpus.images, drop)
        idf = (spark.read.format("imageflight").option("coordinator", coordinator)
               .option("recursive", "true").option("dropInvalid", str(drop).lower())
               .load(corpus.images))
        irows = {r.image.origin: r.asDict(recursive=True) for r in idf.collect()}
        pdf = imageflight.read_images(corpus.images, coordinator=coordinator, recursive=True,
                                      drop_image_failures=drop).to_pandas()
        prows = {r["image"]["origin"]: {"image": r["image"], "cls": r["cls"]} for _, r in pdf.iterrows()}
        out[drop] = dict(spark_df=sdf, ours_df=idf, spark=_by_rel(corpus, srows),
                         datasource=_by_rel(corpus, irows), pandas=_by_rel(corpus, prows))
    return out


def test_schema_identical(oracle):
    for drop in (False, True):
        s, o = oracle[drop]["spark_df"].schema, oracle[drop]["ours_df"].schema
        assert s.json() == o.json(), f"{s.simpleString()} != {o.simpleString()}"


@pytest.mark.parametrize("via", ["datasource", "pandas"])
def test_rows_match_spark(oracle, corpus, via):
    spark_rows, ours = oracle[False]["spark"], oracle[False][via]
    problems = []
    for rel in sorted(set(spark_rows) | set(ours)):
        s, o = spark_rows.get(rel), ours.get(rel)
        if rel in DEVIATIONS:
            DEVIATIONS[rel].check(s and s["image"], o and o["image"], corpus, rel)
            continue
        if s is None or o is None:
            problems.append(f"{rel}: only in {'imageflight' if s is None else 'Spark'}")
            continue
        if s["cls"] != o["cls"]:
            problems.append(f"{rel}: partition cls {s['cls']!r} vs {o['cls']!r}")
        si, oi = s["image"], o["image"]
        if _t(si) != _t(oi):
            problems.append(f"{rel}: (h, w, nChannels, mode) Spark {_t(si)} vs imageflight {_t(oi)}")
            continue
        sd, od = bytes(si["data"]), bytes(oi["data"])
        if rel.endswith((".jpg", ".jpeg")) and si["height"] > 0:
            psnr, maxdiff = _psnr(sd, od)
            if via == "pandas":
                REPORT.append(f"  {rel:38s} PSNR {psnr:6.1f} dB  max|diff| {maxdiff}  "
                              f"{'identical' if sd == od else 'differs'}")
            if psnr < MIN_JPEG_PSNR:
                problems.append(f"{rel}: JPEG PSNR {psnr:.1f} dB < {MIN_JPEG_PSNR} (max diff {maxdiff})")
        elif sd != od:
            psnr, maxdiff = _psnr(sd, od) if len(sd) == len(od) else (float("nan"), -1)
            problems.append(f"{rel}: lossless data differs (max diff {maxdiff})")
    assert not problems, "\n".join(problems)
    if via == "pandas":
        REPORT.append(f"  {len(spark_rows)} Spark rows, {len(ours)} imageflight rows; documented deviations:")
        REPORT.extend(f"    {k}: {d.reason}" for k, d in DEVIATIONS.items())


@pytest.mark.parametrize("via", ["datasource", "pandas"])
def test_drop_invalid_same_survivors(oracle, via):
    keep_s, keep_o = set(oracle[True]["spark"]), set(oracle[True][via])
    for rel, d in DEVIATIONS.items():
        assert (rel in keep_s) == d.spark_survives_drop, f"Spark, {rel}"
        assert (rel in keep_o) == d.ours_survives_drop, f"imageflight, {rel}"
    dev = set(DEVIATIONS)
    assert keep_s - dev == keep_o - dev, sorted((keep_s ^ keep_o) - dev)
    # Survivors carry the same rows as without drop.
    for rel in keep_o - dev:
        a, b = oracle[True][via][rel], oracle[False][via][rel]
        assert _t(a["image"]) == _t(b["image"]) and bytes(a["image"]["data"]) == bytes(b["image"]["data"])


def test_invalid_rows_identical(oracle):
    s, o = oracle[False]["spark"], oracle[False]["datasource"]
    inv_s = {k for k, r in s.items() if r["image"]["height"] == -1} - set(DEVIATIONS)
    inv_o = {k for k, r in o.items() if r["image"]["height"] == -1} - set(DEVIATIONS)
    assert inv_s == inv_o and inv_s  # text.png, garbage.jpg
    for k in inv_s:
        assert s[k]["image"] == o[k]["image"] | {"origin": s[k]["image"]["origin"]}


def test_partition_column_type_inference(spark, corpus, coordinator):
    """Spark infers year=2018 as int; the server infers partition types the same way and
    sends int32, so the data source's default schema is Spark's. A user-specified schema
    (imageflight.spark.image_schema) also works and casts."""
    path = corpus.root + "/year"
    ref = spark.read.format("image").load(path)
    assert ref.schema["year"].dataType.simpleString() == "int"
    ours = spark.read.format("imageflight").option("coordinator", coordinator) \
        .option("recursive", "true").load(path)
    assert ours.schema.json() == ref.schema.json()
    key = lambda r: r.image.origin.rsplit("/", 1)[-1]  # noqa: E731
    want = sorted(((key(r), r.year) for r in ref.collect()))
    assert want == [("x.png", 2018), ("y.png", 2019)]
    assert sorted(((key(r), r.year) for r in ours.collect())) == want
    as_str = spark.read.format("imageflight").schema(ifs.image_schema({"year": "string"})) \
        .option("coordinator", coordinator).option("recursive", "true").load(path)
    assert sorted(((key(r), r.year) for r in as_str.collect())) == [("x.png", "2018"), ("y.png", "2019")]


# ------------------------------------------------------------------ non-recursive loads, layouts


def _pairs(df):
    """{origin: ((h, w, nChannels, mode), data, sorted partition (name, value) pairs)}."""
    out = {}
    for r in df.collect():
        d = r.asDict(recursive=True)
        im = d.pop("image")
        out[im["origin"]] = (_t(im), bytes(im["data"] or b""), tuple(sorted(d.items())))
    return out


def _load(spark, fmt, path, coordinator, drop):
    r = spark.read.format(fmt).option("dropInvalid", str(drop).lower())
    if fmt == "imageflight":
        r = r.option("coordinator", coordinator)  # recursive defaults to false, as Spark's
    return r.load(path)


@pytest.mark.parametrize("drop", [False, True])
@pytest.mark.parametrize("folder", ["parts", "parts/a=2", "year", "nested", "images/cls=other"])
def test_non_recursive_partition_folders_match_spark(spark, corpus, coordinator, folder, drop):
    """Spark's default (non-recursive) load of a folder with key=value sub-folders: same
    schema (partition columns and their types), same rows, same survivors of dropInvalid.
    Hidden files (_x, .x) are skipped by both."""
    path = corpus.root + "/" + folder
    ref = _load(spark, "image", path, coordinator, drop)
    ours = _load(spark, "imageflight", path, coordinator, drop)
    assert ours.schema.json() == ref.schema.json(), \
        f"{ours.schema.simpleString()} != {ref.schema.simpleString()}"
    key = lambda df: {rel_of(corpus, k): v for k, v in _pairs(df).items()}  # noqa: E731
    want, got = key(ref), key(ours)
    want = {k: v for k, v in want.items() if k not in DEVIATIONS}
    got = {k: v for k, v in got.items() if k not in DEVIATIONS}
    assert got == want, sorted(set(got) ^ set(want))
    assert want, "the folder must not be empty"


def test_files_beside_partition_folders_documented(spark, corpus, coordinator):
    """Documented deviation (clients/python/README.md): a file directly under the loaded
    folder next to key=value folders. Spark's file index silently drops it (only files under
    partition paths are scanned); imageflight returns it with null partition values."""
    path = corpus.root + "/rootfiles"
    ref = _load(spark, "image", path, coordinator, False)
    ours = _load(spark, "imageflight", path, coordinator, False)
    assert ours.schema.json() == ref.schema.json()
    want = {rel_of(corpus, r.image.origin): r.k for r in ref.collect()}
    got = {rel_of(corpus, r.image.origin): r.k for r in ours.collect()}
    assert want == {"rootfiles/k=1/a.png": 1}, "Spark drops rootfiles/top.png (if this fails, Spark changed)"
    assert got == {"rootfiles/k=1/a.png": 1, "rootfiles/top.png": None}


def test_conflicting_directory_structure_documented(spark, corpus, coordinator):
    """Documented deviation: key=value folders beside a plain folder. Spark fails the query
    (CONFLICTING_DIRECTORY_STRUCTURES); imageflight reads the top-level files and the
    partition folders and skips the plain folder (non-recursive)."""
    path = corpus.root + "/conflict"
    with pytest.raises(Exception, match="CONFLICTING_DIRECTORY_STRUCTURES|onflicting directory"):
        _load(spark, "image", path, coordinator, False).collect()
    got = {rel_of(corpus, r.image.origin): r.k
           for r in _load(spark, "imageflight", path, coordinator, False).collect()}
    assert got == {"conflict/k=1/a.png": 1, "conflict/top.png": None}
