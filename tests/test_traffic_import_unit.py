"""Trace parsing edge cases on small hand-written traces (the format as the real 2.51 server
writes it, see test_traffic_import.py for the real thing), and the pa-json import path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_gate

from gate.errors import InputError
from gate.inputs.importers import import_perf_analyzer_json
from gate.inputs.trace import import_triton_trace
from gate.inputs.traffic import TensorSpec, read_traffic


def _req(
    rid: int,
    t_ns: int,
    data: str,
    shape: str = "1,2",
    model: str = "m",
    start: str = "HTTP_RECV_START",
) -> list[dict[str, object]]:
    return [
        {"id": rid, "timestamps": [{"name": start, "ns": t_ns}]},
        {"id": rid, "model_name": model, "model_version": 1},
        {"id": rid, "timestamps": [{"name": "REQUEST_START", "ns": t_ns + 500}]},
        {
            "id": rid,
            "activity": "TENSOR_QUEUE_INPUT",
            "tensor": {"name": "X", "data": data, "shape": shape, "dtype": "INT32"},
        },
    ]


def _write(tmp: Path, events: list[dict[str, object]]) -> Path:
    p = tmp / "trace.json"
    p.write_text(json.dumps(events))
    return p


def test_order_by_arrival_grpc_start_and_variable_dims(tmp_path: Path) -> None:
    ev = _req(2, 5_000_000, "3,4,5", "1,3") + _req(1, 1_000_000, "1,2")
    # gRPC: arrival is the end of the read wait, not its start
    ev += [
        {"id": 3, "timestamps": [{"name": "GRPC_WAITREAD_START", "ns": 10}]},
        {"id": 3, "timestamps": [{"name": "GRPC_WAITREAD_END", "ns": 9_000_000}]},
        {"id": 3, "model_name": "m", "model_version": 1},
        {
            "id": 3,
            "activity": "TENSOR_QUEUE_INPUT",
            "tensor": {"name": "X", "data": "7,8", "shape": "1,2", "dtype": "INT32"},
        },
    ]
    t, warns = import_triton_trace([_write(tmp_path, ev)])
    assert warns == []
    assert [r.t_us for r in t.requests] == [0, 4000, 8000]
    assert t.inputs[0].shape == (-1,)
    assert t.requests[1].inputs["X"].tolist() == [[3, 4, 5]]


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([], "no request names a model"),
        (_req(1, 0, "1,2", model="a") + _req(2, 0, "1,2", model="b"), "several models"),
        (_req(1, 0, "1,2,3"), "3 values for shape [1, 2]"),
        (_req(1, 0, "1,x"), "field 'data'"),
    ],
)
def test_bad_traces_are_input_errors(
    tmp_path: Path, events: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(InputError) as ei:
        import_triton_trace([_write(tmp_path, events)])
    assert message in ei.value.message and ei.value.exit_code == 2


def test_truncated_trace_file_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "t.json"
    p.write_text(json.dumps(_req(1, 0, "1,2"))[:-30])
    with pytest.raises(InputError, match="invalid JSON"):
        import_triton_trace([p])


def test_an_over_long_integer_is_a_clear_error(tmp_path: Path) -> None:
    """json.loads refuses it with a ValueError that is no JSONDecodeError (once a crash)."""
    p = tmp_path / "data.json"
    p.write_text('{"data": [{"INPUT0": [' + "1" * 5000 + "]}]}")
    with pytest.raises(InputError, match=r"invalid JSON: .*digits") as ei:
        spec = TensorSpec("INPUT0", "INT64", (1,))
        import_perf_analyzer_json(p, model="demo", rate_rps=None, inputs=[spec])
    assert ei.value.exit_code == 2


def test_pa_json_through_the_cli_and_autodetect(tmp_path: Path) -> None:
    src = tmp_path / "data.json"
    src.write_text(json.dumps({"data": [{"INPUT0": [float(i)] * 16} for i in range(5)]}))
    dest = tmp_path / "t.jsonl"
    res = run_gate("traffic", "import", str(src), str(dest))
    assert res.returncode == 2 and "--model" in res.stderr
    res = run_gate(
        "traffic",
        "import",
        str(src),
        str(dest),
        "--model",
        "demo",
        "--input",
        "INPUT0:FP32:16",
        "--rate",
        "100",
    )
    assert res.returncode == 0, res.output
    t = read_traffic(dest)
    assert len(t.requests) == 5 and [r.t_us for r in t.requests][:2] == [0, 10000]
