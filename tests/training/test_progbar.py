"""utils.progbar.Progbar: running averages like Keras 2."""

from minikeras.utils.progbar import Progbar


def test_running_average_weighted_by_step(capsys):
    bar = Progbar(target=4, verbose=2)
    bar.update(1, [("loss", 4.0), ("lr", 0.1)])
    bar.update(3, [("loss", 1.0)])  # two steps at 1.0
    bar.add(1, [("loss", 0.0)])
    out = capsys.readouterr().out
    assert "4/4" in out and "loss: 1.5000" in out  # (4 + 1 + 1 + 0) / 4


def test_stateful_metric_and_bar(capsys):
    bar = Progbar(target=2, verbose=1, stateful_metrics=["seen"])
    bar.update(1, [("seen", 10)])
    bar.update(2, [("seen", 20)])
    assert "seen: 20.0000" in capsys.readouterr().err
