"""The array layout every part of ``nst`` takes: NHWC images and features, channels last.

``nchw_hint`` turns a shape error about an image into one that names the likely cause when
the array is channels-first (PyTorch's NCHW), so the fix (a transpose) is in the message.
"""

from collections.abc import Sequence

__all__ = ["nchw_hint"]


def nchw_hint(shape: Sequence[int]) -> str:
    """A sentence for an image ``[C, H, W]`` / ``[N, C, H, W]`` (C in 1, 3, 4), else "".

    >>> nchw_hint((1, 3, 64, 48))
    '; this looks like NCHW (channels first): nst takes NHWC, e.g. x.transpose(0, 2, 3, 1)'
    >>> nchw_hint((64, 48, 3))
    ''
    """
    shape = tuple(shape)
    if len(shape) not in (3, 4) or shape[-3] not in (1, 3, 4) or shape[-1] in (1, 3, 4):
        return ""
    order = "0, 2, 3, 1" if len(shape) == 4 else "1, 2, 0"
    return f"; this looks like NCHW (channels first): nst takes NHWC, e.g. x.transpose({order})"
