"""Output sizes and explicit pads, exactly as Keras 2 and TensorFlow compute them.

Every kernel in this package takes *explicit* pads ``((top, bottom), (left, right))``. This module
turns the Keras spellings ``"valid"`` and ``"same"`` into those numbers, so the kernels never have
to know about padding modes. Pure Python: importing it does not import numba.
"""

from __future__ import annotations

Pads = tuple[tuple[int, int], tuple[int, int]]

PADDINGS = ("valid", "same")


def dilated_size(kernel_size: int, dilation: int) -> int:
    """The extent a dilated kernel covers: ``k + (k - 1) * (d - 1)``.

    Args:
        kernel_size: Number of taps along the axis.
        dilation: Distance between neighbouring taps (1 means no gaps).

    Returns:
        The number of input pixels spanned by one window.
    """
    return kernel_size + (kernel_size - 1) * (dilation - 1)


def conv_output_length(
    input_length: int | None, kernel_size: int, padding: str, stride: int, dilation: int = 1
) -> int | None:
    """Keras's ``conv_output_length``: the output size along one spatial axis.

    Args:
        input_length: Input size along the axis, or ``None`` when unknown.
        kernel_size: Number of taps along the axis.
        padding: ``"valid"``, ``"same"``, ``"full"`` or ``"causal"``.
        stride: Step between windows.
        dilation: Distance between taps.

    Returns:
        The output size (``None`` stays ``None``). It may be zero or negative for a
        ``"valid"`` window larger than the input; callers decide whether that is an error.

    Raises:
        ValueError: If ``padding`` is not one of the four known modes.
    """
    if input_length is None:
        return None
    k = dilated_size(kernel_size, dilation)
    if padding in ("same", "causal"):
        length = input_length
    elif padding == "valid":
        length = input_length - k + 1
    elif padding == "full":
        length = input_length + k - 1
    else:
        raise ValueError(
            f"conv_output_length: padding must be 'valid', 'same', 'full' or 'causal', "
            f"got {padding!r}"
        )
    # Ceil division, written the Keras way so negative lengths stay as Keras has them.
    return (length + stride - 1) // stride


def same_pads(
    input_length: int, kernel_size: int, stride: int, dilation: int = 1
) -> tuple[int, int]:
    """TensorFlow's ``"same"`` pads along one axis: half before, the odd pixel after.

    Args:
        input_length: Input size along the axis.
        kernel_size: Number of taps along the axis.
        stride: Step between windows.
        dilation: Distance between taps.

    Returns:
        ``(before, after)`` so that the output has ``ceil(input_length / stride)`` pixels.
    """
    out = (input_length + stride - 1) // stride
    total = max((out - 1) * stride + dilated_size(kernel_size, dilation) - input_length, 0)
    return total // 2, total - total // 2


def explicit_pads(
    padding: str,
    input_hw: tuple[int, int],
    kernel_hw: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
) -> Pads:
    """Turn ``"valid"`` / ``"same"`` into ``((top, bottom), (left, right))``.

    Args:
        padding: ``"valid"`` or ``"same"``.
        input_hw: Input height and width.
        kernel_hw: Kernel height and width (undilated).
        strides: Row and column strides.
        dilation: Row and column dilation.

    Returns:
        The explicit pads for both spatial axes.

    Raises:
        ValueError: If ``padding`` is neither ``"valid"`` nor ``"same"``.
    """
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        return (
            same_pads(input_hw[0], kernel_hw[0], strides[0], dilation[0]),
            same_pads(input_hw[1], kernel_hw[1], strides[1], dilation[1]),
        )
    raise ValueError(f"explicit_pads: padding must be 'valid' or 'same', got {padding!r}")


def output_hw(
    input_hw: tuple[int, int],
    kernel_hw: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int],
    pads: Pads,
) -> tuple[int, int]:
    """Output height and width of a window op with explicit pads.

    With the pads from :func:`explicit_pads` this equals :func:`conv_output_length` on each axis.

    Args:
        input_hw: Input height and width.
        kernel_hw: Kernel height and width (undilated).
        strides: Row and column strides.
        dilation: Row and column dilation.
        pads: ``((top, bottom), (left, right))``.

    Returns:
        ``(out_h, out_w)``; a non-positive entry means the window does not fit.
    """
    sizes = []
    for axis in range(2):
        padded = input_hw[axis] + pads[axis][0] + pads[axis][1]
        window = dilated_size(kernel_hw[axis], dilation[axis])
        sizes.append((padded - window) // strides[axis] + 1 if padded >= window else 0)
    return sizes[0], sizes[1]
