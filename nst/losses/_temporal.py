"""Temporal consistency loss for video style transfer (Ruder et al.)."""

import jax
import jax.numpy as jnp

from nst.losses import _checks


def _mask_to_image_layout(mask: jax.Array, frame: jax.Array) -> jax.Array:
    """Reshapes ``mask`` so it broadcasts against ``frame``; raises if it cannot."""
    height, width, channels = frame.shape[-3:]
    batch = frame.shape[:-3]
    per_pixel = (height, width)
    if mask.shape == per_pixel:  # [H, W]
        return mask[..., None]
    if mask.shape in ((*per_pixel, 1), (*per_pixel, channels)):  # [H, W, 1|C]
        return mask
    if batch:
        if mask.shape == (*batch, *per_pixel):  # [N, H, W]
            return mask[..., None]
        if mask.shape in ((*batch, *per_pixel, 1), (*batch, *per_pixel, channels)):
            return mask
    accepted = ["[H, W]", "[H, W, 1]", "[H, W, C]"]
    if batch:
        accepted += ["[N, H, W]", "[N, H, W, 1]", "[N, H, W, C]"]
    raise ValueError(
        f"mask must have shape {' or '.join(accepted)} for frame of shape {tuple(frame.shape)}; "
        f"got shape {tuple(mask.shape)}"
    )


def temporal_loss(
    frame: jax.typing.ArrayLike,
    previous: jax.typing.ArrayLike,
    mask: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Masked mean squared difference between a stylized frame and the previous one.

    ``previous`` is the previous stylized frame warped into the current frame by optical flow;
    ``mask`` (:math:`c \in [0, 1]`) is 0 at disocclusions and motion boundaries, where the flow
    is unreliable. With :math:`D = HWC`:

    .. math::

        \mathcal{L}_\mathrm{temporal} = \frac{1}{D} \sum_{h,w,k}
            c_{hwk} \, (x_{hwk} - \omega_{hwk})^2

    The mean divides by :math:`D`, not by the mask's sum.

    >>> import jax.numpy as jnp
    >>> mask = jnp.array([[1.0, 0.0]])
    >>> float(temporal_loss(jnp.ones((1, 2, 1)), jnp.zeros((1, 2, 1)), mask))
    0.5

    Args:
      frame: the current stylized frame :math:`x`, ``[H, W, C]`` or ``[N, H, W, C]``.
      previous: the warped previous stylized frame :math:`\omega`, the shape of ``frame`` (or
        ``[H, W, C]`` shared by a batched ``frame``).
      mask: per-pixel weights :math:`c`, ``[H, W]``, ``[H, W, 1]`` or ``[H, W, C]`` (and, for
        batched ``frame``, ``[N, H, W]``, ``[N, H, W, 1]`` or ``[N, H, W, C]``); ``None`` means
        all ones.

    Returns:
      One loss per frame: ``[]`` or ``[N]``. float32 (float64 for float64 input).

    Raises:
      ValueError: ``frame`` of rank other than 3 or 4, or ``previous`` / ``mask`` of a shape
        that does not match ``frame``.

    References:
      Ruder, Dosovitskiy, Brox, "Artistic Style Transfer for Videos", GCPR 2016, eq. (7).
    """
    frame, previous = _checks.as_float(frame), _checks.as_float(previous)
    _checks.check_image(frame, "frame")
    _checks.check_target_shape(frame, previous, "frame", "previous")
    squared = jnp.square(frame - previous)
    if mask is not None:
        squared = squared * _mask_to_image_layout(_checks.as_float(mask), frame)
    return jnp.mean(squared, axis=(-3, -2, -1))
