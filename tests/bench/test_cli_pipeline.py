"""``lexnet run`` fails loudly, naming the missing piece, rather than faking a step."""

from __future__ import annotations

from lexnet.cli import main


def test_missing_checkpoint_names_the_missing_piece(tmp_path, capsys):
    assert main(["run", "--checkpoint", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2

    err = capsys.readouterr().err
    assert "no checkpoint at" in err
    assert "lexnet-default" in err
