"""Plain pyarrow against a real standalone server: no imageflight client code involved.
This is what any Flight client in any language sees."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.flight as fl

from corpus import rel_of


def _info(location, cmd):
    client = fl.FlightClient(location)
    return client, client.get_flight_info(fl.FlightDescriptor.for_command(json.dumps(cmd).encode()))


def test_get_flight_info_and_do_get(coordinator, corpus):
    client, info = _info(coordinator, {"path": corpus.images, "recursive": True})
    image_type = pa.struct([
        pa.field("origin", pa.utf8()), pa.field("height", pa.int32(), nullable=False),
        pa.field("width", pa.int32(), nullable=False), pa.field("nChannels", pa.int32(), nullable=False),
        pa.field("mode", pa.int32(), nullable=False), pa.field("data", pa.binary(), nullable=False)])
    assert info.schema.names == ["image", "cls"]
    img = info.schema.field("image")
    assert img.nullable and img.type.equals(image_type), img.type
    assert [f.name for f in img.type] == ["origin", "height", "width", "nChannels", "mode", "data"]
    assert info.schema.field("cls").type == pa.utf8() and info.schema.field("cls").nullable
    assert len(info.endpoints) >= 1
    tables = []
    for ep in info.endpoints:
        assert ep.locations, "every endpoint names at least one location"
        loc = ep.locations[0].uri.decode() if isinstance(ep.locations[0].uri, bytes) else ep.locations[0].uri
        reader = fl.FlightClient(loc).do_get(ep.ticket)
        tables.append(reader.read_all())
    table = pa.concat_tables(tables)
    assert table.schema.equals(info.schema)
    rows = table.to_pylist()

    expected = corpus.under("images/")
    got = {rel_of(corpus, r["image"]["origin"]): r for r in rows}
    assert len(got) == len(rows), "duplicate origins"
    # Every non-hidden file gives exactly one row (zero-byte files: see the oracle test).
    assert set(got) == set(expected), sorted(set(got) ^ set(expected))
    for rel, r in got.items():
        e, im = expected[rel], r["image"]
        assert r["cls"] == rel.split("/")[1].split("=", 1)[1]
        if e.kind == "lossless":
            assert (im["height"], im["width"], im["nChannels"], im["mode"]) == \
                (e.height, e.width, e.n_channels, e.mode), rel
            assert im["data"] == e.data, f"{rel}: pixels differ from the encoded image"
        elif e.kind == "invalid":
            assert (im["height"], im["width"], im["nChannels"], im["mode"], im["data"]) == \
                (-1, -1, -1, -1, b""), rel
    big = got["images/cls=png/big_1080p.png"]["image"]
    assert len(big["data"]) == 1080 * 1920 * 3  # one row above gRPC's 4 MiB default


def test_batches_carry_next_offset(coordinator, corpus):
    client, info = _info(coordinator, {"path": corpus.root + "/many", "numPartitions": 2})
    for ep in info.endpoints:
        reader = client.do_get(ep.ticket)
        last = None
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                break
            if chunk.app_metadata is not None:
                last = json.loads(chunk.app_metadata.to_pybytes())["next"]
        assert last is not None and last > 0
