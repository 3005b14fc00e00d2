"""The README's first command: train a small MobileNet-style model on the bundled digits.

Run it with::

    python -m minikeras.demo                 # 10 epochs, writes digits_model.svg
    python -m minikeras.demo --epochs 5 --out /tmp/model.svg

It builds a functional model from depthwise separable convolutions
(``SeparableConv2D`` → ``BatchNormalization`` → ``ReLU``, as in MobileNet),
prints its summary, trains it with a progress display, reports the test
accuracy and the wall time, and draws the layer graph as SVG.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from minikeras import Input, Model, optimizers
from minikeras.datasets import digits
from minikeras.layers import (
    Activation,
    BatchNormalization,
    Dense,
    Flatten,
    MaxPooling2D,
    SeparableConv2D,
)
from minikeras.utils import plot_model, set_random_seed

__all__ = ["build_model", "main"]


def build_model() -> object:
    """The demo's functional model: two separable-conv blocks, max pooling, a softmax head."""

    def block(x, filters, name):
        # MobileNet's unit: depthwise separable conv, then batch norm, then ReLU
        x = SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_sepconv")(x)
        # momentum 0.9 (Keras's default is 0.99): with only ~40 steps per epoch the
        # moving statistics used at test time must follow the weights more closely
        x = BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
        return Activation("relu", name=f"{name}_relu")(x)

    inputs = Input(shape=(8, 8, 1), name="digit_image")
    x = block(inputs, 16, "block1")
    x = block(x, 32, "block2")
    x = MaxPooling2D(2, name="pool")(x)
    # Flatten, not global pooling: on 8x8 digits *where* a stroke sits matters
    x = Flatten(name="flatten")(x)
    outputs = Dense(10, activation="softmax", name="digit")(x)
    return Model(inputs, outputs, name="mobilenet_digits")


def main(argv: list[str] | None = None) -> float:
    """Run the demo; returns the test accuracy.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(prog="python -m minikeras.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    parser.add_argument("--out", default="digits_model.svg",
                        help="where to write the model graph (SVG; default digits_model.svg)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2),
                        help="0 silent, 1 progress bar, 2 one line per epoch")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")

    start = time.perf_counter()
    set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = digits.load_data(normalize=True)
    x_train, x_test = x_train[..., None], x_test[..., None]  # NHWC, one channel

    model = build_model()
    model.summary()
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    print(f"\nTraining on {len(x_train)} digits, validating on 10% of them, "
          f"for {args.epochs} epochs")
    model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, validation_split=0.1,
              verbose=args.verbose)
    loss, acc = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"\nTest accuracy on {len(x_test)} unseen digits: {acc:.2%} (loss {loss:.4f})")
    wrong = int(np.sum(model.predict(x_test, batch_size=256).argmax(axis=1) != y_test))
    print(f"Misclassified test digits: {wrong}")

    try:
        plot_model(model, to_file=args.out, show_shapes=True)
    except Exception as e:  # drawing is a bonus; the training result stands without it
        print(f"Model graph not drawn ({type(e).__name__}: {e})", file=sys.stderr)
    else:
        print(f"Model graph written to {args.out}")
    print(f"Wall time: {time.perf_counter() - start:.1f} s")
    return acc


if __name__ == "__main__":
    main()
