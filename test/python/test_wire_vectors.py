"""The Python client and the Go package (pkg/wire) agree on the wire contract: both check
the shared vectors in pkg/wire/testdata/vectors.json (docs/protocol.md)."""

import json
import pathlib

import pytest

from imageflight import InvalidArgument
from imageflight._wire import (DescriptorError, parse_batch_meta, parse_descriptor, parse_endpoint_meta,
                               parse_resume, resume_ticket)

VECTORS = json.loads((pathlib.Path(__file__).resolve().parents[2] / "pkg/wire/testdata/vectors.json").read_text())


# Cases marked server_only carry stage parameters that only the server validates
# (pkg/transform); the client checks their structure and passes them on.
@pytest.mark.parametrize("case", [c for c in VECTORS["descriptors"] if not c.get("server_only")],
                         ids=lambda c: c["name"])
def test_descriptor(case):
    if case["error_key"] is None:
        assert parse_descriptor(case["command"]) == case["parsed"]
        assert parse_descriptor(json.dumps(case["command"])) == case["parsed"]
    else:
        with pytest.raises(DescriptorError) as e:
            parse_descriptor(case["command"])
        assert e.value.key == case["error_key"]
        assert isinstance(e.value, InvalidArgument)


@pytest.mark.parametrize("case", [c for c in VECTORS["descriptors"] if c.get("server_only")],
                         ids=lambda c: c["name"])
def test_server_only_cases_pass_client_checks(case):
    assert parse_descriptor(case["command"])["transforms"] == case["command"]["transforms"]


@pytest.mark.parametrize("raw", VECTORS["not_json"])
def test_not_a_json_object(raw):
    with pytest.raises(DescriptorError) as e:
        parse_descriptor(raw)
    assert e.value.key == ""


@pytest.mark.parametrize("case", VECTORS["resume"], ids=lambda c: c["wire"])
def test_resume_suffix(case):
    assert resume_ticket(case["ticket"].encode(), case["skip"]) == case["wire"].encode()
    assert parse_resume(case["wire"].encode()) == (case["ticket"].encode(), case["skip"])


@pytest.mark.parametrize("wire", VECTORS["bad_resume"])
def test_bad_resume_suffix(wire):
    with pytest.raises(InvalidArgument):
        parse_resume(wire.encode())


@pytest.mark.parametrize("case", VECTORS["batch_meta"], ids=lambda c: c["raw"])
def test_batch_meta(case):
    assert parse_batch_meta(case["raw"].encode()) == case["next"]


@pytest.mark.parametrize("raw", VECTORS["bad_batch_meta"])
def test_bad_batch_meta(raw):
    assert parse_batch_meta(raw.encode()) is None


@pytest.mark.parametrize("case", VECTORS["endpoint_meta"], ids=lambda c: c["raw"])
def test_endpoint_meta(case):
    assert parse_endpoint_meta(case["raw"].encode()) == case["files"]


@pytest.mark.parametrize("raw", VECTORS["bad_endpoint_meta"])
def test_bad_endpoint_meta(raw):
    assert parse_endpoint_meta(raw.encode()) is None


@pytest.mark.parametrize("case", VECTORS["tickets"]["cases"], ids=lambda c: c["name"])
def test_signed_tickets_resume_like_go(case):
    # Clients never look inside a ticket; they only add and strip the resume suffix.
    ticket, skip = parse_resume(case["wire"].encode())
    assert resume_ticket(ticket, skip) == case["wire"].encode()
    assert skip == case.get("skip", 0) or case.get("error_kind")
