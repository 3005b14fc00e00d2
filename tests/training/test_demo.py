"""The README demo runs end to end (short) and writes its SVG."""

from minikeras import demo


def test_demo_short_run(tmp_path, capsys):
    out = tmp_path / "model.svg"
    acc = demo.main(["--epochs", "3", "--out", str(out), "--verbose", "0"])
    text = capsys.readouterr().out
    assert acc >= 0.9
    assert "Total params" in text and "Test accuracy" in text and "Wall time" in text
    assert out.read_text().lstrip().startswith(("<?xml", "<svg"))
