"""Targets (a neuron, a channel's mean, a class score) and their image gradients."""

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from nst.backbones import Backbone
from nst.visualize import _rules

REDUCTIONS = ("mean", "max")


@dataclasses.dataclass(frozen=True)
class Target:
    """One number per image, read from one layer: what a visualization explains or maximizes.

    Frozen and hashable (a static argument of ``jax.jit``).

    Attributes:
      layer: a feature name of the backbone: ``conv3_1``, ``relu4_2``, ``pool5``, ... or a
        classifier layer (``fc8``: the class scores before the softmax, see
        ``class_score``).
      channel: the channel (for ``fc6`` ... ``fc8``: the unit or class index).
      position: ``(row, col)`` in the layer's feature map: one neuron. None: the whole
        channel, reduced by ``reduce``.
      reduce: with ``position=None``: ``"mean"`` (the channel's mean activation) or
        ``"max"`` (its strongest neuron on the given image, as Springenberg et al. show).
        Ignored for the classifier's ``[N, features]`` layers.
    """

    layer: str
    channel: int = 0
    position: tuple[int, int] | None = None
    reduce: str = "mean"

    def __post_init__(self):
        if self.reduce not in REDUCTIONS:
            raise ValueError(f"reduce must be one of {', '.join(REDUCTIONS)}, got {self.reduce!r}")
        if isinstance(self.channel, int) and self.channel < 0:
            raise ValueError(f"channel must be >= 0, got {self.channel}")
        if self.position is not None:
            position = tuple(int(p) for p in self.position)
            if len(position) != 2 or min(position) < 0:
                raise ValueError(f"position must be (row, col) >= 0, got {self.position}")
            object.__setattr__(self, "position", position)

    @property
    def label(self) -> str:
        """``"conv3_1 ch 7 (4, 5)"``, ``"relu4_1 ch 2 mean"``, ``"fc8 class 281"``."""
        if self.layer.startswith("fc"):
            return f"{self.layer} {'class' if self.layer == 'fc8' else 'unit'} {self.channel}"
        where = (
            self.reduce if self.position is None else f"({self.position[0]}, {self.position[1]})"
        )
        return f"{self.layer} ch {self.channel} {where}"


def class_score(index: int, *, layer: str = "fc8") -> Target:
    """The unnormalized score of class ``index`` (``fc8``, before the softmax).

    Simonyan et al. (2014) explain and maximize the score rather than the softmax
    probability, which can grow by lowering the other classes' scores.
    """
    return Target(layer, int(index))


def score(
    features: jax.typing.ArrayLike,
    target: Target,
    *,
    channel: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """The target's value for each image of a batch of features.

    Args:
      features: the target layer's features, ``[N, h, w, c]`` or ``[N, c]`` (classifier).
      target: what to read: ``target.channel``, at ``target.position`` or reduced over
        the map by ``target.reduce``.
      channel: overrides ``target.channel``: a scalar or one channel per image ``[N]``,
        possibly traced (gradient ascent on several classes in one program).

    Returns:
      ``[N]`` float32.

    Raises:
      ValueError: features of rank other than 2 or 4, a channel or position outside them,
        or a position for ``[N, c]`` features.
    """
    f = jnp.asarray(features)
    if f.ndim not in (2, 4):
        raise ValueError(f"features must be [N, h, w, c] or [N, c], got shape {f.shape}")
    n, c = f.shape[0], f.shape[-1]
    ch = target.channel if channel is None else channel
    if isinstance(ch, int) and not 0 <= ch < c:
        raise ValueError(f"channel {ch} is out of range for {target.layer}'s {c} channels")
    ch = jnp.broadcast_to(jnp.asarray(ch, jnp.int32), (n,))
    if f.ndim == 2:
        if target.position is not None:
            raise ValueError(f"{target.layer} has no spatial positions; use position=None")
        return jnp.take_along_axis(f, ch[:, None], axis=-1)[:, 0]
    maps = jnp.take_along_axis(f, ch[:, None, None, None], axis=-1)[..., 0]  # [N, h, w]
    if target.position is not None:
        row, col = target.position
        if row >= maps.shape[1] or col >= maps.shape[2]:
            raise ValueError(
                f"position {target.position} is outside {target.layer}'s "
                f"{maps.shape[1]}x{maps.shape[2]} feature map"
            )
        return maps[:, row, col]
    if target.reduce == "max":
        return maps.max(axis=(1, 2))
    return maps.mean(axis=(1, 2))


def saliency(
    net: Backbone,
    params,
    images: jax.typing.ArrayLike,
    target: Target,
    *,
    rule: str | Callable[[jax.Array], jax.Array] = "backprop",
    channels: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""The gradient of the target with respect to the image, with a ReLU backward rule.

    .. math:: \frac{\partial S(I)}{\partial I}\Big|_{I_0}

    computed through ``dataclasses.replace(net, relu=rule)``: the same network and params,
    only the ReLU's backward pass changes (``RELU_RULES``). ``"backprop"`` is the saliency
    of Simonyan et al. (2014) and equals ``jax.grad``; ``"deconvnet"`` is Zeiler & Fergus'
    (2014) reconstruction; ``"guided"`` is Springenberg et al.'s (2015) guided
    backpropagation. Each image's gradient is its own (the scores are summed over the batch).

    Args:
      net: a backbone; its ``layers`` and ``relu`` are replaced here.
      params: its params (with the classifier head for ``fc`` targets).
      images: ``[N, H, W, 3]`` in [0, 1] (224x224 for classifier targets).
      target: the neuron, channel or class score (``Target``, ``class_score``).
      rule: ``"backprop"``, ``"deconvnet"``, ``"guided"``, or a ReLU replacement function.
      channels: overrides ``target.channel``, one channel per image ``[N]`` (or a scalar);
        traced, so the neurons of one layer share one compiled program.

    Returns:
      ``[N, H, W, 3]`` float32, the gradient in the [0, 1] pixel units of ``images``.

    References:
      Simonyan, Vedaldi, Zisserman, ICLR workshop 2014, sec. 3. Zeiler, Fergus, ECCV 2014.
      Springenberg, Dosovitskiy, Brox, Riedmiller, ICLR workshop 2015.
    """
    x = jnp.asarray(images, jnp.float32)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must be [N, H, W, 3], got shape {x.shape}")
    net = dataclasses.replace(net, layers=(target.layer,), relu=_rules.get_rule(rule))
    channels = target.channel if channels is None else channels
    check_channels(net, params, x.shape, target, channels)
    # The channel is traced: every channel of a layer shares one compiled program.
    return _saliency(net, params, x, dataclasses.replace(target, channel=0), channels)


def check_channels(net: Backbone, params, shape: tuple[int, ...], target: Target, channels) -> None:
    """Trace-time check (``jax.eval_shape``, nothing computed) that the channels exist and
    the position fits the target layer's features; channels may be one int or one per image."""
    try:
        values = np.atleast_1d(np.asarray(channels)).tolist()
    except jax.errors.TracerArrayConversionError:
        return  # traced: the values are known only at run time
    images = jax.ShapeDtypeStruct(tuple(shape), jnp.float32)
    features = jax.eval_shape(net, params, images)[target.layer]
    for channel in values:
        one = dataclasses.replace(target, channel=int(channel))
        jax.eval_shape(functools.partial(score, target=one), features)


@functools.partial(jax.jit, static_argnames=("net", "target"))
def _saliency(net, params, x, target, channels):
    def total(x):
        return jnp.sum(score(net(params, x)[target.layer], target, channel=channels))

    return jax.grad(total)(x)


def saliency_map(gradients: jax.typing.ArrayLike) -> jax.Array:
    r"""Simonyan et al.'s (2014) saliency map: :math:`\max_c |g_{hwc}|`, scaled to [0, 1].

    Args:
      gradients: ``[N, H, W, C]`` (or ``[H, W, C]``) image gradients.

    Returns:
      ``[N, H, W]`` (``[H, W]``) float32, each map divided by its maximum (zero maps stay 0).
    """
    g = jnp.max(jnp.abs(jnp.asarray(gradients, jnp.float32)), axis=-1)
    peak = jnp.max(g, axis=(-2, -1), keepdims=True)
    return g / jnp.where(peak > 0, peak, 1.0)


def gradient_image(gradients: jax.typing.ArrayLike, *, scale: float = 0.15) -> jax.Array:
    r"""A signed gradient shown as an image: ``0.5 + scale * (g - mean) / std``, clipped.

    Mean and standard deviation are each image's own (over H, W and C), so gray is zero
    and ``1 / (2 scale)`` standard deviations reach black or white; the usual display of
    deconvnet and guided-backpropagation reconstructions.

    Args:
      gradients: ``[N, H, W, C]`` (or ``[H, W, C]``).
      scale: contrast: the shift of one standard deviation, in [0, 1] units.

    Returns:
      The shape of ``gradients``, float32 in [0, 1].
    """
    g = jnp.asarray(gradients, jnp.float32)
    axes = (-3, -2, -1)
    g = g - jnp.mean(g, axis=axes, keepdims=True)
    std = jnp.std(g, axis=axes, keepdims=True)
    return jnp.clip(0.5 + scale * g / jnp.where(std > 0, std, 1.0), 0.0, 1.0)
