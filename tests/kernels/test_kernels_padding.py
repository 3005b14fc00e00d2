"""Padding helpers: Keras's conv_output_length and TensorFlow's 'same' pads."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minikeras.kernels.padding import (
    conv_output_length,
    explicit_pads,
    output_hw,
    same_pads,
)


@pytest.mark.parametrize(
    "args, expected",
    [
        ((7, 3, "valid", 1), 5),
        ((7, 3, "same", 2), 4),
        ((7, 3, "valid", 2), 3),
        ((7, 3, "full", 1), 9),
        ((7, 3, "causal", 1), 7),
        ((7, 3, "valid", 1, 2), 3),  # dilated kernel spans 5
        ((None, 3, "same", 1), None),
        ((2, 5, "valid", 1), -2),  # Keras keeps the negative value; callers reject it
    ],
)
def test_conv_output_length_matches_keras(args, expected):
    assert conv_output_length(*args) == expected


def test_unknown_padding_is_rejected_by_name():
    with pytest.raises(ValueError, match="padding.*'bogus'"):
        conv_output_length(5, 3, "bogus", 1)
    with pytest.raises(ValueError, match="padding.*'full'"):
        explicit_pads("full", (5, 5), (3, 3), (1, 1))


def test_same_puts_the_odd_pixel_at_the_end():
    assert same_pads(6, 2, 1) == (0, 1)
    assert same_pads(7, 4, 1) == (1, 2)
    assert same_pads(5, 3, 2) == (1, 1)
    assert same_pads(6, 3, 2) == (0, 1)
    assert same_pads(5, 1, 3) == (0, 0)


@settings(max_examples=200, deadline=None)
@given(
    length=st.integers(1, 40),
    kernel=st.integers(1, 6),
    stride=st.integers(1, 4),
    dilation=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same"]),
)
def test_explicit_pads_give_keras_output_length(length, kernel, stride, dilation, padding):
    pads = explicit_pads(padding, (length, 1), (kernel, 1), (stride, 1), (dilation, 1))
    expected = conv_output_length(length, kernel, padding, stride, dilation)
    got = output_hw((length, 1), (kernel, 1), (stride, 1), (dilation, 1), pads)[0]
    assert got == max(expected, 0)
    if padding == "same":
        before, after = pads[0]
        assert 0 <= after - before <= 1
