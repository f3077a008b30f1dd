"""``lexnet classify``: JSON lines from .npy and CSV inputs; bad input ends with exit code 2 and one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lexnet.cli import main

pytestmark = pytest.mark.onnx


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_npy_input_prints_one_json_line_per_flow(
    cpu_bundle: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lexnet.runtimes import Bundle

    golden = Bundle(cpu_bundle[0]).golden()
    np.save(tmp_path / "test_x.npy", golden["inputs"][:5], allow_pickle=False)
    assert (
        main(
            [
                "-q",
                "classify",
                str(cpu_bundle[0]),
                str(tmp_path / "test_x.npy"),
                "--threads",
                "1",
                "--top",
                "1",
                "--batch",
                "2",
            ]
        )
        == 0
    )
    records = _lines(capsys)
    assert [r["flow_index"] for r in records] == list(range(5))
    assert [r["label"] for r in records] == golden["logits"][:5].argmax(1).tolist()
    assert all(len(r["explanation"]) == 1 for r in records)
    assert {"class_name", "logit", "explanation"} <= set(records[0])
    assert "scores" not in records[0]
    assert set(records[0]["explanation"][0]) >= {"prototype", "similarity", "packet", "variable", "value", "source"}


def test_csv_with_transport_column(
    cpu_bundle: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flows = [[517, -1448, -1448, 90], [120, -80] * 10]
    text = "# transport, signed sizes\ntcp," + ",".join(map(str, flows[0])) + "\nudp," + ",".join(map(str, flows[1]))
    (tmp_path / "flows.csv").write_text(text + "\n")
    assert main(["-q", "classify", str(cpu_bundle[0]), str(tmp_path / "flows.csv"), "--scores"]) == 0
    from_csv = _lines(capsys)

    from lexnet.runtimes import load

    with load(cpu_bundle[0]) as classifier:
        expected = classifier.classify(flows, transport=["tcp", "udp"])
    assert [r["label"] for r in from_csv] == [p.label for p in expected]
    assert from_csv[1]["scores"] == pytest.approx(expected[1].scores)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("60,70\n60,abc\n", "flows.csv:2: expected signed packet sizes"),
        ("60,70\n0,0\n", "flow 1: empty flow"),
        ("60,70000\n", "flow 0: packet size 70000 is beyond"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    cpu_bundle: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    (tmp_path / "flows.csv").write_text(content)
    assert main(["-q", "classify", str(cpu_bundle[0]), str(tmp_path / "flows.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert message in err[0]


def test_missing_combination_exits_2_naming_what_exists(
    cpu_bundle: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "x.npy", np.full((1, 20), 60, np.int16), allow_pickle=False)
    assert main(["-q", "classify", str(cpu_bundle[0]), str(tmp_path / "x.npy"), "--precision", "bf16"]) == 2
    assert "onnxruntime/fp32/cpu" in capsys.readouterr().err
