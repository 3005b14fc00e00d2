from engine_helpers import Add2, Lin, Square, Stats

from minikeras import Input, Model, Sequential
from minikeras.utils import count_params, print_summary

SEQUENTIAL = """\
_________________________________________________________________
Layer (type)                 Output Shape              Param #
=================================================================
dense (Lin)                  (None, 1000)              785000
_________________________________________________________________
out (Lin)                    (None, 10)                10010
=================================================================
Total params: 795,010
Trainable params: 795,010
Non-trainable params: 0
_________________________________________________________________"""

FUNCTIONAL = """\
____________________________________________________________________________________________________
Layer (type)                     Output Shape          Param #     Connected to
====================================================================================================
a (InputLayer)                   (None, 3)             0
____________________________________________________________________________________________________
b (InputLayer)                   (None, 3)             0
____________________________________________________________________________________________________
shared (Lin)                     (None, 4)             16          a[0][0]
                                                                   b[0][0]
____________________________________________________________________________________________________
add (Add2)                       (None, 4)             0           shared[0][0]
                                                                   shared[1][0]
====================================================================================================
Total params: 16
Trainable params: 16
Non-trainable params: 0
____________________________________________________________________________________________________"""


def lines_of(model, **kwargs):
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    return lines


def test_sequential_summary_exact():
    model = Sequential([Lin(1000, input_shape=(784,), name="dense"), Lin(10, name="out")])
    out = lines_of(model)
    assert "\n".join(line.rstrip() for line in out) == SEQUENTIAL
    assert all(len(line) == 65 for line in out if "params" not in line)


def test_functional_summary_with_connections_exact():
    a, b = Input((3,), name="a"), Input((3,), name="b")
    shared = Lin(4, name="shared")
    model = Model([a, b], Add2(name="add")([shared(a), shared(b)]))
    out = lines_of(model)
    assert "\n".join(line.rstrip() for line in out) == FUNCTIONAL
    assert all(len(line) == 100 for line in out if "params" not in line)


def test_shared_layer_with_different_shapes_is_multiple():
    x, y = Input((2,), name="x"), Input((5,), name="y")
    sq = Square(name="sq")
    model = Model([x, y], [sq(x), sq(y)])
    rows = [line for line in lines_of(model) if line.startswith("sq ")]
    assert rows[0].split()[:3] == ["sq", "(Square)", "multiple"]


def test_functional_chain_is_sequential_like_and_nontrainable_counts():
    x = Input((4,), name="x")
    model = Model(x, Stats(name="st")(Lin(3, name="d")(x)))
    out = lines_of(model)
    assert len(out[0]) == 65 and "Connected to" not in out[1]
    assert out[-4:-1] == ["Total params: 21", "Trainable params: 18",
                          "Non-trainable params: 3"]
    model.get_layer("d").trainable = False
    assert lines_of(model)[-3] == "Trainable params: 3"


def test_line_length_positions_and_print_summary_function():
    model = Sequential([Lin(2, input_shape=(3,), name="d")])
    out = lines_of(model, line_length=80, positions=[30, 60, 80])
    assert out[0] == "_" * 80 and out[1].index("Output Shape") == 30
    got = []
    print_summary(model, print_fn=got.append)
    assert got == lines_of(model)
    assert count_params(model.weights + model.weights) == 8


def test_summary_prints_by_default(capsys):
    Sequential([Lin(2, input_shape=(3,))]).summary()
    assert "Total params: 8" in capsys.readouterr().out
