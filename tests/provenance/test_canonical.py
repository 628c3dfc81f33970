"""Canonical JSON is RFC 8785, checked against the RFC's own vectors; documents signed with
the legacy encoder (v1 manifests, v1 bundles, datasets hashed before) keep verifying."""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.core.crypto import canonical
from apps.graphs.ingest import parse_json
from apps.provenance.pcq import manifest
from apps.provenance.pcq.bundle import verify_bundle
from apps.provenance.pcq.replay import replay
from tests.conftest import FIXTURES

VECTORS = Path(__file__).parent / "vectors"

# RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
RFC8785_NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def _double(bits: str) -> float:
    return struct.unpack(">d", bytes.fromhex(bits))[0]


@pytest.mark.parametrize(("bits", "expected"), RFC8785_NUMBERS)
def test_rfc8785_number_vectors(bits: str, expected: str) -> None:
    assert canonical.canonicalize(_double(bits)) == expected.encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinity_are_refused(bits: str) -> None:
    with pytest.raises(canonical.CanonicalizationError):
        canonical.canonicalize(_double(bits))


def test_rfc8785_section_3_2_2_example() -> None:
    value = json.loads(
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical.canonicalize(value) == expected.encode()


def test_rfc8785_section_3_2_3_sorting_by_utf16_code_units() -> None:
    value = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
             "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}  # fmt: skip
    keys = list(json.loads(canonical.canonicalize(value)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_the_numbers_manifests_carry_differ_from_the_legacy_encoder() -> None:
    # What the issue found: PageRank's tolerance and large integral floats.
    assert canonical.canonicalize(1e-6) == b"0.000001"
    assert canonical.canonicalize(1e-6, canonical.TF_JCS_1) == b"1e-6"
    assert canonical.canonicalize(2.0**68) == b"295147905179352830000"
    assert canonical.canonicalize(2.0**68, canonical.TF_JCS_1) == b"295147905179352825856"


def test_integers_beyond_2_53_are_refused_not_rounded() -> None:
    assert canonical.canonicalize(2**53 - 1) == b"9007199254740991"
    with pytest.raises(canonical.CanonicalizationError):
        canonical.canonicalize(2**53 + 1)


_hexes = st.text("0123456789abcdef", min_size=1, max_size=64)
_b64 = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", max_size=120)


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries({"payloadType": st.text(max_size=40), "payload": _b64,
                              "signatures": st.lists(st.fixed_dictionaries({"keyid": _hexes, "sig": _b64}), max_size=3)}))  # fmt: skip
def test_envelopes_and_evidence_encode_the_same_in_every_version(env) -> None:
    # Log leaves hash the canonical envelope, and attestation signs canonical claims: both
    # hold only strings, where the legacy encoder and RFC 8785 agree, so old leaves and old
    # evidence verify under the current encoder.
    assert canonical.canonicalize(env) == canonical.canonicalize(env, canonical.TF_JCS_1)


def _member(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
        return tar.extractfile(name).read()  # type: ignore[union-attr]


def test_a_bundle_from_the_previous_release_still_verifies_and_replays() -> None:
    """tests/provenance/vectors/v1-evidence-bundle.tar.gz was exported by the release before
    RFC 8785 (schema v1, legacy encoder; its PageRank manifest carries 1e-6)."""
    data = (VECTORS / "v1-evidence-bundle.tar.gz").read_bytes()
    # Exported under that deployment's keys: pin those (its keys.json), as its auditor would.
    report = verify_bundle(data, json.loads(_member(data, "keys.json")))
    assert report.ok, report.failures
    body = json.loads(_member(data, "manifest.json"))["manifest"]
    assert body["schema"] == manifest.SCHEMA_ID_V1 and manifest.canonicalization(body) == canonical.TF_JCS_1
    assert canonical.canonicalize(body) != canonical.canonicalize(body, canonical.TF_JCS_1)
    graph = parse_json((FIXTURES / "datasets" / "calls-demo.json").read_bytes())
    graph_doc = graph.canonical()
    assert replay(body, graph_doc, key=None)["verdict"] == "match"


def test_new_manifests_are_rfc8785_and_name_the_input_hash_encoding(analyst_api_a, lac_a) -> None:
    from apps.core.crypto.signing import verify
    from apps.core.keys import signer
    from apps.core.tenancy import tenant_context
    from apps.provenance.models import Manifest
    from tests.conftest import demo_query

    run = analyst_api_a.post("/api/queries/", demo_query(seeds=["grp12-0"], hops=2, metric="pagerank"), format="json")
    with tenant_context(lac_a):
        m = Manifest.objects.get(query_run_id=run.json()["id"])
    assert m.body["schema"] == manifest.SCHEMA_ID and m.body["outputs"]["tolerance"] == 1e-6
    assert b'"tolerance":0.000001' in canonical.canonicalize(m.body)
    assert m.digest == canonical.digest(m.body)
    assert verify(signer("executor").public, m.signature, canonical.canonicalize(m.body))
    assert m.body["inputs"][0]["canonicalization"] == canonical.RFC8785


def test_a_dataset_version_hashed_before_rfc8785_still_verifies(analyst_api_a, lac_a, admin_a) -> None:
    """A version uploaded before keeps its tf-json-1 content hash (here: a float attribute,
    which the two encodings write differently); new manifests over it say so, and the replay
    recomputes that hash, so the query still verifies."""
    from apps.core.tenancy import tenant_context
    from apps.graphs.models import Dataset, DatasetVersion
    from apps.graphs.services import UploadedFile, dataset_version_upload
    from apps.provenance import services
    from apps.provenance.models import Manifest, Verification
    from tests.conftest import demo_query

    doc = json.loads((FIXTURES / "datasets" / "calls-demo.json").read_text())
    doc["attributes"]["nodes"]["score"] = "P3"
    doc["nodes"][0]["score"] = 1e-06
    doc["nodes"][1]["score"] = 2.0
    with tenant_context(lac_a):
        dataset = Dataset.objects.get(slug="calls-demo")
        version, created = dataset_version_upload(
            actor=admin_a, dataset=dataset, files={"graph": UploadedFile("g.json", json.dumps(doc).encode())}
        )
        graph = parse_json(json.dumps(doc).encode())
        legacy = graph.content_hash(canonical.TF_JSON_1)
        assert created and version.content_hash == graph.content_hash() != legacy
        # As if uploaded by the previous release.
        DatasetVersion.objects.filter(pk=version.pk).update(content_hash=legacy)
    run = analyst_api_a.post("/api/queries/", demo_query(seeds=["grp12-0"], hops=2, metric="pagerank"), format="json")
    with tenant_context(lac_a):
        m = Manifest.objects.get(query_run_id=run.json()["id"])
        assert m.body["inputs"][0]["version"] == version.number
        assert (m.body["inputs"][0]["content_hash"], m.body["inputs"][0]["canonicalization"]) == (legacy, "tf-json-1")
        v = services.verification_run(Verification.objects.get(manifest=m).pk)
    assert v.status == "match", v.message


def test_uploads_refuse_values_without_a_canonical_form() -> None:
    from apps.graphs.ingest import GraphFormatError

    doc = {"attributes": {"nodes": {"msisdn": "P1"}, "edges": {}},
           "nodes": [{"id": "a", "msisdn": 2**60}], "edges": []}  # fmt: skip
    with pytest.raises(GraphFormatError, match="quote the value as a string"):
        parse_json(json.dumps(doc).encode())
