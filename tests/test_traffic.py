"""Tests of gate.inputs.traffic: the recorded-traffic format, its checks and the replay files."""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from gate.errors import InputError
from gate.inputs.importers import import_perf_analyzer_json
from gate.inputs.summary import format_summary, summarize
from gate.inputs.traffic import (
    TRAFFIC_FORMAT,
    Request,
    TensorSpec,
    Traffic,
    read_traffic,
    validate_against_model,
    write_traffic,
)
from gate.measure.perf_analyzer import write_perf_analyzer_inputs

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "traffic"

FP32_16 = TensorSpec("INPUT0", "FP32", (16,))


def simple_traffic(
    n: int = 6, *, t_us: list[int] | None = None, timed: bool = True, seed: int = 0
) -> Traffic:
    rng = np.random.default_rng(seed)
    if t_us is None:
        t_us = [i * 1000 + (i % 3) * 100 for i in range(n)]
    reqs = tuple(
        Request(
            t_us[i] if timed else None,
            {"INPUT0": rng.standard_normal((1, 16)).astype(np.float32)},
        )
        for i in range(n)
    )
    return Traffic("demo", (FP32_16,), reqs, source="test")


def mixed_traffic() -> Traffic:
    """Every datatype, awkward values (NaN, -0.0, inf, extremes, unicode), batch > 1."""
    specs = (
        TensorSpec("F32", "FP32", (2, 3)),
        TensorSpec("F16", "FP16", (4,)),
        TensorSpec("F64", "FP64", (-1,)),
        TensorSpec("I64", "INT64", (3,)),
        TensorSpec("U64", "UINT64", (2,)),
        TensorSpec("I8", "INT8", (2,)),
        TensorSpec("U8", "UINT8", (2,)),
        TensorSpec("I16", "INT16", (1,)),
        TensorSpec("U16", "UINT16", (1,)),
        TensorSpec("I32", "INT32", (1,)),
        TensorSpec("U32", "UINT32", (1,)),
        TensorSpec("B", "BOOL", (3,)),
        TensorSpec("S", "BYTES", (2,)),
    )
    reqs = []
    for i in range(3):
        batch = 1 + (i % 2)
        f32 = np.array([np.nan, -0.0, np.inf, -np.inf, 1e-45, 3.4e38] * batch, np.float32)
        reqs.append(
            Request(
                i * 250,
                {
                    "F32": (f32 + np.float32(i)).reshape(batch, 2, 3),
                    "F16": np.array([0.1, -2.5, 65504, i] * batch, np.float16).reshape(batch, 4),
                    "F64": np.array([math.pi * k for k in range(batch * (i + 1))]).reshape(
                        batch, i + 1
                    ),
                    "I64": np.array(
                        [np.iinfo(np.int64).min, -1, np.iinfo(np.int64).max] * batch, np.int64
                    ).reshape(batch, 3),
                    "U64": np.array([np.iinfo(np.uint64).max, i] * batch, np.uint64).reshape(
                        batch, 2
                    ),
                    "I8": np.array([-128, 127] * batch, np.int8).reshape(batch, 2),
                    "U8": np.array([0, 255] * batch, np.uint8).reshape(batch, 2),
                    "I16": np.full((batch, 1), -32768, np.int16),
                    "U16": np.full((batch, 1), 65535, np.uint16),
                    "I32": np.full((batch, 1), i - 7, np.int32),
                    "U32": np.full((batch, 1), 4_000_000_000, np.uint32),
                    "B": np.array([True, False, i % 2 == 0] * batch).reshape(batch, 3),
                    "S": np.array([f"héllo {i}".encode(), b""] * batch, dtype=object).reshape(
                        batch, 2
                    ),
                },
            )
        )
    return Traffic("mixed", specs, tuple(reqs), source="every datatype")


# --------------------------------------------------------------------------------------
# Round trip and digest
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["t.jsonl", "t.jsonl.gz"])
@pytest.mark.parametrize("encoding", ["b64", "data"])
def test_round_trip_is_bit_exact(tmp_path: Path, name: str, encoding: Any) -> None:
    original = mixed_traffic()
    path = tmp_path / name
    write_traffic(path, original, encoding=encoding)
    back = read_traffic(path)
    assert back == original
    assert back.inputs == original.inputs
    assert back.source == original.source
    for a, b in zip(original.requests, back.requests, strict=True):
        for key in a.inputs:
            assert a.inputs[key].dtype.kind == b.inputs[key].dtype.kind
            assert a.inputs[key].dtype.itemsize == b.inputs[key].dtype.itemsize
            if a.inputs[key].dtype.kind != "O":
                assert a.inputs[key].tobytes() == b.inputs[key].tobytes()
    assert back.digest() == original.digest()
    assert list(tmp_path.iterdir()) == [path], "no temp files left behind"


def test_gz_is_really_gzip_and_plain_is_not(tmp_path: Path) -> None:
    t = simple_traffic()
    write_traffic(tmp_path / "a.jsonl.gz", t)
    write_traffic(tmp_path / "a.jsonl", t)
    assert (tmp_path / "a.jsonl.gz").read_bytes()[:2] == b"\x1f\x8b"
    head = json.loads((tmp_path / "a.jsonl").read_text().splitlines()[0])
    assert head["format"] == TRAFFIC_FORMAT
    assert (
        gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes())
        == (tmp_path / "a.jsonl").read_bytes()
    )


def test_writing_is_deterministic(tmp_path: Path) -> None:
    t = simple_traffic()
    write_traffic(tmp_path / "a.jsonl.gz", t)
    first = (tmp_path / "a.jsonl.gz").read_bytes()
    write_traffic(tmp_path / "a.jsonl.gz", t)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == first


def test_digest_same_across_encodings_and_stable(tmp_path: Path) -> None:
    t = simple_traffic()
    digests = set()
    for name, enc in [("a.jsonl", "b64"), ("b.jsonl", "data"), ("c.jsonl.gz", "b64")]:
        write_traffic(tmp_path / name, t, encoding=enc)  # type: ignore[arg-type]
        digests.add(read_traffic(tmp_path / name).digest())
    assert digests == {t.digest()}
    assert t.digest().startswith("sha256:") and len(t.digest()) == 7 + 64


def test_digest_changes_with_one_value_or_one_time() -> None:
    t = simple_traffic()
    arr = t.requests[3].inputs["INPUT0"].copy()
    arr[0, 5] = np.nextafter(arr[0, 5], np.float32(np.inf))
    changed = Traffic(
        t.model,
        t.inputs,
        (*t.requests[:3], Request(t.requests[3].t_us, {"INPUT0": arr}), *t.requests[4:]),
    )
    assert changed.digest() != t.digest()
    retimed = Traffic(
        t.model,
        t.inputs,
        (*t.requests[:-1], Request(t.requests[-1].t_us + 1, t.requests[-1].inputs)),  # type: ignore[operator]
    )
    assert retimed.digest() != t.digest()
    # Free-text annotations do not change what is replayed, so not the digest either.
    assert Traffic(t.model, t.inputs, t.requests, source="other").digest() == t.digest()
    assert Traffic("other", t.inputs, t.requests).digest() != t.digest()


def test_untimed_traffic(tmp_path: Path) -> None:
    t = simple_traffic(timed=False)
    assert not t.timed and t.duration_s == 0.0
    write_traffic(tmp_path / "u.jsonl", t)
    assert "t_us" not in (tmp_path / "u.jsonl").read_text()
    assert read_traffic(tmp_path / "u.jsonl") == t
    assert simple_traffic(timed=True).digest() != t.digest()


def test_traffic_constructor_rejects_inconsistent_objects() -> None:
    good = simple_traffic()
    with pytest.raises(ValueError):
        Traffic("demo", (FP32_16,), ())
    with pytest.raises(ValueError):
        Traffic("demo", (FP32_16,), (Request(0, {"INPUT0": np.zeros((1, 16))}),))  # float64
    with pytest.raises(ValueError):
        Traffic("demo", (FP32_16,), (Request(0, {"INPUT0": np.zeros((16,), np.float32)}),))
    with pytest.raises(ValueError):
        Traffic("demo", (FP32_16,), (good.requests[0], Request(None, good.requests[1].inputs)))


def test_read_arrays_are_read_only(tmp_path: Path) -> None:
    write_traffic(tmp_path / "a.jsonl", simple_traffic(), encoding="data")
    arr = read_traffic(tmp_path / "a.jsonl").requests[0].inputs["INPUT0"]
    with pytest.raises(ValueError):
        arr[0, 0] = 1.0


def test_binary_bytes_cannot_be_written_and_old_file_survives(tmp_path: Path) -> None:
    spec = TensorSpec("S", "BYTES", (1,))
    path = tmp_path / "s.jsonl"
    ok = Traffic("m", (spec,), (Request(None, {"S": np.array([[b"ok"]], dtype=object)}),))
    write_traffic(path, ok)
    before = path.read_bytes()
    bad = Traffic("m", (spec,), (Request(None, {"S": np.array([[b"\xff"]], dtype=object)}),))
    with pytest.raises(InputError, match="UTF-8"):
        write_traffic(path, bad)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


# --------------------------------------------------------------------------------------
# Reader errors: one line, file + line + field, and a hint
# --------------------------------------------------------------------------------------

HEADER: dict[str, Any] = {
    "format": TRAFFIC_FORMAT,
    "model": "demo",
    "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [16]}],
}
B64_64 = base64.b64encode(bytes(64)).decode()


def req(t_us: int | None = 0, **tensor: Any) -> dict[str, Any]:
    body = {"shape": [1, 16], "b64": B64_64}
    body.update(tensor)
    out: dict[str, Any] = {"inputs": {"INPUT0": body}}
    if t_us is not None:
        out["t_us"] = t_us
    return out


def hdr(**changes: Any) -> dict[str, Any]:
    h: dict[str, Any] = json.loads(json.dumps(HEADER))
    h.update(changes)
    return h


TWO_INPUTS = hdr(
    inputs=[
        {"name": "INPUT0", "datatype": "FP32", "shape": [16]},
        {"name": "INPUT1", "datatype": "INT32", "shape": [2]},
    ]
)

# (id, file name, lines (dicts are JSON-encoded, str written as is), line, field, text)
ERROR_CASES: list[tuple[str, str, list[Any] | None, int | None, str | None, str]] = [
    ("missing file", "nope.jsonl", None, None, None, "not found"),
    ("empty file", "t.jsonl", [], 1, None, "empty"),
    ("invalid json", "t.jsonl", [HEADER, req(0), '{"t_us": 5, "inputs": '], 3, None, "JSON"),
    ("not an object", "t.jsonl", [HEADER, "[1, 2]"], 2, None, "JSON object"),
    # a ValueError json.loads raises that is no JSONDecodeError: the reader once crashed on it
    ("integer too long", "t.jsonl", [HEADER, '{"t_us": ' + "1" * 5000 + "}"], 2, None, "digits"),
    ("format missing", "t.jsonl", [{"model": "demo", "inputs": []}], 1, "format", "missing"),
    ("format wrong", "t.jsonl", [hdr(format="gate-traffic/2"), req(0)], 1, "format", "not"),
    ("header unknown key", "t.jsonl", [hdr(colour="red"), req(0)], 1, "colour", "unknown"),
    ("model missing", "t.jsonl", [hdr(model=""), req(0)], 1, "model", "non-empty"),
    (
        "unknown datatype",
        "t.jsonl",
        [hdr(inputs=[{"name": "INPUT0", "datatype": "FP8", "shape": [16]}]), req(0)],
        1,
        "inputs[0].datatype",
        "FP8",
    ),
    (
        "spec unknown key",
        "t.jsonl",
        [hdr(inputs=[{"name": "INPUT0", "datatype": "FP32", "shape": [16], "dims": 1}])],
        1,
        "inputs[0].dims",
        "unknown",
    ),
    (
        "header bad shape",
        "t.jsonl",
        [hdr(inputs=[{"name": "INPUT0", "datatype": "FP32", "shape": [-2]}]), req(0)],
        1,
        "inputs[0].shape",
        "list",
    ),
    (
        "input not in header",
        "t.jsonl",
        [HEADER, req(0), {"t_us": 1, "inputs": {**req(0)["inputs"], "EXTRA": {}}}],
        3,
        "inputs.EXTRA",
        "not declared",
    ),
    ("missing input", "t.jsonl", [TWO_INPUTS, req(0)], 2, "inputs.INPUT1", "missing"),
    ("request unknown key", "t.jsonl", [HEADER, {**req(0), "id": 3}], 2, "id", "unknown"),
    (
        "tensor unknown key",
        "t.jsonl",
        [HEADER, req(0, dtype="FP32")],
        2,
        "inputs.INPUT0.dtype",
        "unknown",
    ),
    (
        "shape mismatch",
        "t.jsonl",
        [HEADER, req(0), req(5, shape=[1, 15])],
        3,
        "inputs.INPUT0.shape",
        "does not match header shape [16]",
    ),
    ("shape rank", "t.jsonl", [HEADER, req(0, shape=[16])], 2, "inputs.INPUT0.shape", "match"),
    (
        "batch zero",
        "t.jsonl",
        [HEADER, req(0, shape=[0, 16], b64="")],
        2,
        "inputs.INPUT0.shape",
        "batch",
    ),
    (
        "bad base64",
        "t.jsonl",
        [HEADER, req(0, b64="@@not base64@@")],
        2,
        "inputs.INPUT0.b64",
        "base64",
    ),
    (
        "byte count",
        "t.jsonl",
        [
            HEADER,
            req(0),
            req(1),
            req(2),
            req(3),
            req(4),
            req(5, b64=base64.b64encode(bytes(60)).decode()),
        ],
        7,
        "inputs.INPUT0.b64",
        "60 bytes do not fill shape [1, 16] of FP32 (needs 64)",
    ),
    (
        "data size",
        "t.jsonl",
        [HEADER, {"t_us": 0, "inputs": {"INPUT0": {"shape": [1, 16], "data": [[0.5] * 15]}}}],
        2,
        "inputs.INPUT0.data",
        "15 values do not fill shape [1, 16] (needs 16)",
    ),
    (
        "data wrong type",
        "t.jsonl",
        [HEADER, {"t_us": 0, "inputs": {"INPUT0": {"shape": [1, 16], "data": [0.5] * 15 + ["x"]}}}],
        2,
        "inputs.INPUT0.data",
        "index 15",
    ),
    (
        "both payloads",
        "t.jsonl",
        [HEADER, req(0, data=[0.0] * 16)],
        2,
        "inputs.INPUT0",
        "exactly one",
    ),
    (
        "int out of range",
        "t.jsonl",
        [
            hdr(inputs=[{"name": "X", "datatype": "UINT8", "shape": [2]}]),
            {"inputs": {"X": {"shape": [1, 2], "data": [1, 256]}}},
        ],
        2,
        "inputs.X.data",
        "range",
    ),
    (
        "float out of range",
        "t.jsonl",
        [
            hdr(inputs=[{"name": "H", "datatype": "FP16", "shape": [2]}]),
            {"inputs": {"H": {"shape": [1, 2], "data": [1.0, 70000.0]}}},
        ],
        2,
        "inputs.H.data",
        "FP16 range",
    ),
    (
        "huge integer for float",
        "t.jsonl",
        [
            hdr(inputs=[{"name": "D", "datatype": "FP64", "shape": [1]}]),
            {"inputs": {"D": {"shape": [1, 1], "data": [10**400]}}},
        ],
        2,
        "inputs.D.data",
        "FP64 range",
    ),
    (
        "bool for number",
        "t.jsonl",
        [HEADER, {"inputs": {"INPUT0": {"shape": [1, 16], "data": [True] + [0.0] * 15}}}],
        2,
        "inputs.INPUT0.data",
        "not a number",
    ),
    (
        "bytes as b64",
        "t.jsonl",
        [
            hdr(inputs=[{"name": "S", "datatype": "BYTES", "shape": [1]}]),
            {"inputs": {"S": {"shape": [1, 1], "b64": "AAAA"}}},
        ],
        2,
        "inputs.S.b64",
        "not supported for BYTES",
    ),
    ("t_us negative", "t.jsonl", [HEADER, req(-5)], 2, "t_us", "negative"),
    ("t_us float", "t.jsonl", [HEADER, req(0), req(1.5)], 3, "t_us", "integer"),  # type: ignore[arg-type]
    ("t_us decreasing", "t.jsonl", [HEADER, req(0), req(900), req(800)], 4, "t_us", "before"),
    ("t_us then absent", "t.jsonl", [HEADER, req(0), req(10), req(None)], 4, "t_us", "some"),
    ("absent then t_us", "t.jsonl", [HEADER, req(None), req(10)], 3, "t_us", "absent"),
    ("no requests", "t.jsonl", [HEADER], 2, None, "no requests"),
    ("not gzip", "t.jsonl.gz", [HEADER, req(0)], None, None, "not a gzip file"),
]


def _write_lines(path: Path, lines: list[Any]) -> None:
    text = "".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines)
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "lines", "line", "fld", "text"),
    [pytest.param(*case[1:], id=case[0]) for case in ERROR_CASES],
)
def test_reader_errors_name_file_line_and_field(
    tmp_path: Path,
    name: str,
    lines: list[Any] | None,
    line: int | None,
    fld: str | None,
    text: str,
) -> None:
    path = tmp_path / name
    if lines is not None:
        _write_lines(path, lines)
    with pytest.raises(InputError) as info:
        read_traffic(path)
    err = info.value
    msg = err.message
    assert "\n" not in msg
    assert name in msg
    assert text in msg
    if line is not None:
        assert f"{name}:{line}:" in msg
    if fld is not None:
        assert f"field '{fld}'" in msg
    assert err.hint
    assert err.exit_code == 2


def test_byte_count_message_matches_the_documented_example(tmp_path: Path) -> None:
    path = tmp_path / "traffic.jsonl"
    bad = base64.b64encode(bytes(60)).decode()
    _write_lines(path, [HEADER, *[req(i) for i in range(5)], req(5, b64=bad)])
    with pytest.raises(InputError) as info:
        read_traffic(path)
    assert info.value.message == (
        f"{path}:7: field 'inputs.INPUT0.b64': 60 bytes do not fill shape [1, 16] of FP32 "
        "(needs 64)"
    )
    assert info.value.hint == "re-record the request or fix its shape"


def test_gzip_named_plain_and_truncated_gzip(tmp_path: Path) -> None:
    plain = tmp_path / "t.jsonl"
    plain.write_bytes(gzip.compress(json.dumps(HEADER).encode()))
    with pytest.raises(InputError, match=r"does not end in \.gz"):
        read_traffic(plain)
    trunc = tmp_path / "t.jsonl.gz"
    write_traffic(trunc, simple_traffic(50))
    trunc.write_bytes(trunc.read_bytes()[:-40])
    with pytest.raises(InputError, match="corrupt or truncated"):
        read_traffic(trunc)


def test_header_minus_one_matches_any_size_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    header = hdr(inputs=[{"name": "INPUT0", "datatype": "FP32", "shape": [-1]}])
    lines = [
        header,
        "",
        {"inputs": {"INPUT0": {"shape": [1, 2], "data": [1, 2.5]}}},
        "   ",
        {"inputs": {"INPUT0": {"shape": [2, 3], "data": [[1, 2, 3], [4, 5, 6]]}}},
    ]
    _write_lines(path, lines)
    t = read_traffic(path)
    assert [r.inputs["INPUT0"].shape for r in t.requests] == [(1, 2), (2, 3)]
    assert t.requests[1].inputs["INPUT0"].dtype == np.float32
    assert not t.timed


# --------------------------------------------------------------------------------------
# validate_against_model
# --------------------------------------------------------------------------------------


def meta(*inputs: tuple[str, str, list[Any]], name: str = "demo") -> dict[str, Any]:
    return {
        "name": name,
        "versions": ["1"],
        "platform": "python",
        "inputs": [{"name": n, "datatype": d, "shape": s} for n, d, s in inputs],
        "outputs": [{"name": "OUTPUT0", "datatype": "FP32", "shape": [-1, 16]}],
    }


def batched_traffic(batches: list[int]) -> Traffic:
    reqs = tuple(
        Request(i, {"INPUT0": np.zeros((b, 16), np.float32)}) for i, b in enumerate(batches)
    )
    return Traffic("demo", (FP32_16,), reqs)


def test_validate_accepts_matching_model() -> None:
    t = simple_traffic()
    assert validate_against_model(t, meta(("INPUT0", "FP32", [-1, 16])), 8, "t.jsonl") == []
    assert validate_against_model(t, meta(("INPUT0", "FP32", [-1, -1])), 8, "t.jsonl") == []
    # gRPC's as_json metadata gives int64 dims as strings.
    assert validate_against_model(t, meta(("INPUT0", "FP32", ["-1", "16"])), 8, "t.jsonl") == []


def test_validate_model_name_mismatch_is_a_warning() -> None:
    warnings = validate_against_model(
        simple_traffic(), meta(("INPUT0", "FP32", [-1, 16]), name="demo_v2"), 8, "t.jsonl"
    )
    assert len(warnings) == 1
    assert "demo_v2" in warnings[0] and "'demo'" in warnings[0] and "t.jsonl" in warnings[0]


@pytest.mark.parametrize(
    ("metadata", "max_batch", "batches", "expect"),
    [
        pytest.param(
            meta(("INPUT0", "FP32", [-1, 16]), ("INPUT1", "INT32", [-1, 2])),
            8,
            [1],
            ["INPUT1", "missing from the traffic"],
            id="model input missing",
        ),
        pytest.param(
            meta(("OTHER", "FP32", [-1, 16])),
            8,
            [1],
            ["INPUT0", "not an input of the model"],
            id="extra traffic input",
        ),
        pytest.param(
            meta(("INPUT0", "FP16", [-1, 16])),
            8,
            [1],
            ["INPUT0", "FP32", "FP16"],
            id="datatype",
        ),
        pytest.param(
            meta(("INPUT0", "FP32", [-1, 8])),
            8,
            [1],
            ["INPUT0", "[16]", "[-1, 8]"],
            id="item shape",
        ),
        pytest.param(
            meta(("INPUT0", "FP32", [-1, 4, 4])),
            8,
            [1],
            ["INPUT0", "incompatible"],
            id="item rank",
        ),
        pytest.param(
            meta(("INPUT0", "FP32", [-1, 16])),
            4,
            [1, 4, 5],
            ["INPUT0", "request 2", "batch size 5", "max_batch_size is 4"],
            id="batch too large",
        ),
        pytest.param(
            meta(("INPUT0", "FP32", [1, 16])),
            0,
            [1, 2],
            ["INPUT0", "request 1", "[2, 16]", "[1, 16]"],
            id="no batching full shape",
        ),
        pytest.param(
            meta(("INPUT0", "FP32", [16])),
            0,
            [1],
            ["INPUT0", "[1, 16]", "[16]"],
            id="no batching rank",
        ),
    ],
)
def test_validate_rejects(
    metadata: dict[str, Any], max_batch: int, batches: list[int], expect: list[str]
) -> None:
    with pytest.raises(InputError) as info:
        validate_against_model(batched_traffic(batches), metadata, max_batch, "rec/t.jsonl.gz")
    msg = info.value.message
    assert "\n" not in msg
    assert msg.startswith("rec/t.jsonl.gz: ")
    for part in expect:
        assert part in msg
    assert info.value.hint


def test_validate_no_batching_accepts_full_shape_with_wildcards() -> None:
    t = batched_traffic([1, 3, 2])
    assert validate_against_model(t, meta(("INPUT0", "FP32", [-1, 16])), 0, "t") == []


def test_validate_counts_further_problems() -> None:
    with pytest.raises(InputError, match=r"\(and 1 more problem\)"):
        validate_against_model(simple_traffic(), meta(("OTHER", "FP32", [-1, 16])), 8, "t")


# --------------------------------------------------------------------------------------
# perf_analyzer inputs
# --------------------------------------------------------------------------------------


def _intervals(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()]


@pytest.mark.parametrize("warmup", [0, 1, 3, 10])
def test_perf_analyzer_inputs_timed(tmp_path: Path, warmup: int) -> None:
    t_us = [0, 1500, 1600, 5000, 5001, 9000]
    t = simple_traffic(t_us=t_us)
    pa = write_perf_analyzer_inputs(t, tmp_path / "pa", warmup=warmup, max_batch_size=8)
    n = len(t.requests)
    assert pa.total_requests == warmup + n
    assert pa.warmup_requests == warmup
    assert pa.batch_size == 1
    data = json.loads(pa.input_data.read_text())["data"]
    assert len(data) == warmup + n
    expected = [t.requests[k % n] for k in range(warmup)] + list(t.requests)
    for entry, r in zip(data, expected, strict=True):
        assert set(entry) == {"INPUT0"}
        assert entry["INPUT0"]["shape"] == [16]
        raw = base64.b64decode(entry["INPUT0"]["b64"])
        assert raw == r.inputs["INPUT0"].tobytes()
    assert pa.intervals is not None
    iv = _intervals(pa.intervals)
    assert len(iv) == pa.total_requests
    assert all(g >= 1 for g in iv)
    assert iv[0] == 1000
    gaps = np.diff(t_us)
    median = round(float(np.median(gaps)))
    if warmup:
        assert iv[1 : warmup + 1] == [median] * warmup
    cum = np.cumsum(iv)
    for i in range(n):
        assert cum[warmup + i] - cum[warmup] == t_us[i] - t_us[0]


def test_perf_analyzer_intervals_zero_gaps_do_not_drift(tmp_path: Path) -> None:
    t_us = [0, 0, 0, 10, 10, 500]
    t = simple_traffic(t_us=t_us)
    pa = write_perf_analyzer_inputs(t, tmp_path, warmup=2, max_batch_size=1)
    assert pa.intervals is not None
    iv = _intervals(pa.intervals)
    assert all(g >= 1 for g in iv)
    cum = np.cumsum(iv)
    offsets = [int(cum[2 + i] - cum[2]) for i in range(len(t_us))]
    assert offsets == [0, 1, 2, 10, 11, 500]


def test_perf_analyzer_inputs_untimed(tmp_path: Path) -> None:
    pa = write_perf_analyzer_inputs(
        simple_traffic(timed=False), tmp_path, warmup=2, max_batch_size=8
    )
    assert pa.intervals is None
    assert not (tmp_path / "request_intervals.txt").exists()
    assert pa.total_requests == 8


def test_perf_analyzer_inputs_reject_batches_for_batched_models(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="batch sizes are not supported"):
        write_perf_analyzer_inputs(batched_traffic([1, 2]), tmp_path, warmup=0, max_batch_size=8)


def test_perf_analyzer_inputs_full_shape_without_batching(tmp_path: Path) -> None:
    pa = write_perf_analyzer_inputs(batched_traffic([2, 3]), tmp_path, warmup=1, max_batch_size=0)
    data = json.loads(pa.input_data.read_text())["data"]
    assert [e["INPUT0"]["shape"] for e in data] == [[2, 16], [2, 16], [3, 16]]


def test_perf_analyzer_inputs_bytes_as_content(tmp_path: Path) -> None:
    spec = TensorSpec("TEXT", "BYTES", (2,))
    reqs = (
        Request(0, {"TEXT": np.array([[b"a", "é".encode()]], dtype=object)}),
        Request(10, {"TEXT": np.array([[b"b", b"c"]], dtype=object)}),
    )
    pa = write_perf_analyzer_inputs(
        Traffic("m", (spec,), reqs), tmp_path, warmup=0, max_batch_size=4
    )
    data = json.loads(pa.input_data.read_text(encoding="utf-8"))["data"]
    assert data == [
        {"TEXT": {"content": ["a", "é"], "shape": [2]}},
        {"TEXT": {"content": ["b", "c"], "shape": [2]}},
    ]


# --------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------


def test_summarize_numbers() -> None:
    values = [
        np.array([[1.0, 2.0]], np.float32),
        np.array([[-3.0, np.nan]], np.float32),
        np.array([[4.0, 5.0], [6.0, np.inf]], np.float32),
        np.array([[0.0, 1.0]], np.float32),
    ]
    spec = TensorSpec("X", "FP32", (2,))
    t = Traffic(
        "m",
        (spec,),
        tuple(Request(t, {"X": v}) for t, v in zip([0, 1000, 3000, 6000], values, strict=True)),
    )
    s = summarize(t)
    assert s.count == 4 and s.timed and s.model == "m"
    assert s.duration_s == pytest.approx(0.006)
    assert s.rate_rps == pytest.approx(500.0)
    assert s.gap_p50_ms == pytest.approx(2.0)
    assert s.gap_p95_ms == pytest.approx(2.9)
    assert s.gap_max_ms == pytest.approx(3.0)
    (x,) = s.inputs
    assert (x.name, x.datatype, x.shape) == ("X", "FP32", (2,))
    assert x.batch_sizes == (1, 2)
    assert x.min == -3.0 and x.max == 6.0
    assert x.mean == pytest.approx((1 + 2 - 3 + 4 + 5 + 6 + 0 + 1) / 8)
    assert x.non_finite == 2
    assert s.digest == t.digest()
    text = format_summary(s, Path("t.jsonl"))
    for part in [
        "t.jsonl",
        "model     m",
        "4 over 0.006 s",
        "500.0 req/s",
        "p95 2.9 ms",
        "X  FP32  [2]",
    ]:
        assert part in text
    assert "non-finite 2" in text


def test_summarize_untimed_and_bytes() -> None:
    spec = TensorSpec("S", "BYTES", (1,))
    t = Traffic("m", (spec,), (Request(None, {"S": np.array([[b"x"]], dtype=object)}),))
    s = summarize(t)
    assert not s.timed and s.rate_rps is None and s.gap_p50_ms is None
    assert s.inputs[0].min is None and s.inputs[0].batch_sizes == (1,)
    assert "untimed" in format_summary(s, Path("s.jsonl"))


# --------------------------------------------------------------------------------------
# Import perf_analyzer JSON
# --------------------------------------------------------------------------------------


def test_import_perf_analyzer_json_round_trip(tmp_path: Path) -> None:
    t = simple_traffic(t_us=[0, 10, 20, 30, 40, 50])
    pa = write_perf_analyzer_inputs(t, tmp_path, warmup=0, max_batch_size=8)
    back = import_perf_analyzer_json(pa.input_data, model="demo", rate_rps=100.0, inputs=[FP32_16])
    assert back.model == "demo" and back.inputs == (FP32_16,)
    assert [r.t_us for r in back.requests] == [0, 10_000, 20_000, 30_000, 40_000, 50_000]
    for a, b in zip(t.requests, back.requests, strict=True):
        assert b.inputs["INPUT0"].shape == (1, 16)
        assert a.inputs["INPUT0"].tobytes() == b.inputs["INPUT0"].tobytes()
    untimed = import_perf_analyzer_json(
        pa.input_data, model="demo", rate_rps=None, inputs=[FP32_16]
    )
    assert not untimed.timed
    assert untimed.digest() == simple_traffic(timed=False).digest()


def test_import_perf_analyzer_json_content_forms(tmp_path: Path) -> None:
    path = tmp_path / "pa.json"
    specs = [TensorSpec("A", "INT32", (-1,)), TensorSpec("S", "BYTES", (2,))]
    doc = {
        "data": [
            {"A": [1, 2, 3], "S": ["x", "y"]},
            {"A": {"content": [4, 5], "shape": [2]}, "S": {"content": ["é", ""], "shape": [2]}},
            {
                "A": {
                    "b64": base64.b64encode(np.array([7], np.int32).tobytes()).decode(),
                    "shape": [1],
                },
                "S": {"content": [["p"], ["q"]]},
            },
        ]
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    t = import_perf_analyzer_json(path, model="m", rate_rps=None, inputs=specs)
    assert [r.inputs["A"].tolist() for r in t.requests] == [[[1, 2, 3]], [[4, 5]], [[7]]]
    assert t.requests[1].inputs["S"].tolist() == [["é".encode(), b""]]
    assert t.requests[2].inputs["S"].shape == (1, 2)
    write_traffic(tmp_path / "t.jsonl", t)
    assert read_traffic(tmp_path / "t.jsonl") == t


@pytest.mark.parametrize(
    ("doc", "fld"),
    [
        ({"data": [{"INPUT0": [0.0] * 16, "X": [1]}]}, "data[0].X"),
        ({"data": [{}]}, "data[0].INPUT0"),
        ({"data": [[{"INPUT0": [0.0] * 16}]]}, "data[0]"),
        ({"data": [{"INPUT0": [0.0] * 15}]}, "data[0].INPUT0.content"),
        ({"data": [{"INPUT0": {"content": [0.0] * 8, "shape": [8]}}]}, "data[0].INPUT0.shape"),
        ({"data": []}, "data"),
        ({"rows": []}, "data"),
    ],
)
def test_import_perf_analyzer_json_errors(tmp_path: Path, doc: Any, fld: str) -> None:
    path = tmp_path / "pa.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError) as info:
        import_perf_analyzer_json(path, model="demo", rate_rps=None, inputs=[FP32_16])
    assert "pa.json" in info.value.message and f"field '{fld}'" in info.value.message


def test_import_needs_shape_for_variable_dims(tmp_path: Path) -> None:
    path = tmp_path / "pa.json"
    path.write_text(json.dumps({"data": [{"A": {"b64": "AAAAAA=="}}]}))
    with pytest.raises(InputError, match="variable dims"):
        import_perf_analyzer_json(
            path, model="m", rate_rps=None, inputs=[TensorSpec("A", "INT32", (-1,))]
        )


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------


def _make_traffic_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_traffic", ROOT / "fixtures" / "make_traffic.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fixture_files_are_valid_and_match_the_generator() -> None:
    mk = _make_traffic_module()
    big = read_traffic(FIXTURES / "demo.jsonl.gz")
    small = read_traffic(FIXTURES / "demo-small.jsonl")
    assert (len(big.requests), len(small.requests)) == (400, 60)
    for t in (big, small):
        assert t.model == "demo" and t.inputs == (FP32_16,) and t.timed
        assert {r.inputs["INPUT0"].shape for r in t.requests} == {(1, 16)}
        assert summarize(t).rate_rps == pytest.approx(200.0, rel=0.01)
    assert big.digest() == mk.make(400, 200.0, 7).digest()
    assert small.digest() == mk.make(60, 200.0, 7).digest()
    assert '"data"' in (FIXTURES / "demo-small.jsonl").read_text()


def test_generator_is_deterministic_and_bursty(tmp_path: Path) -> None:
    mk = _make_traffic_module()
    for name in ("a", "b"):
        assert mk.main(["--out", str(tmp_path / name / "d.jsonl.gz"), "--count", "300"]) == 0
    a = (tmp_path / "a" / "d.jsonl.gz").read_bytes()
    assert a == (tmp_path / "b" / "d.jsonl.gz").read_bytes()
    t = read_traffic(tmp_path / "a" / "d.jsonl.gz")
    gaps = np.diff([r.t_us or 0 for r in t.requests])
    assert gaps.min() >= 0
    # Bursts and drift make the gaps far more spread than a fixed-rate stream's.
    assert np.percentile(gaps, 95) > 5 * np.percentile(gaps, 10)
