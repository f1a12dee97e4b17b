"""Feature inversion (Mahendran & Vedaldi 2015): the image whose features match a target's."""

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nst import losses
from nst.backbones import Backbone


@dataclasses.dataclass(frozen=True)
class InversionConfig:
    """Options of ``invert``."""

    # Adam iterations.
    steps: int = 300
    # Adam step size, in [0, 1] pixel units.
    lr: float = 0.02
    # lambda of the beta-TV prior, per pixel (the TV sum is divided by H * W).
    tv_weight: float = 0.5
    # beta of R_beta (Mahendran & Vedaldi: 1 to 2; 2 is smooth).
    beta: float = 2.0
    # Standard deviation of the Gaussian noise (around gray 0.5) the image starts from.
    init_std: float = 0.1

    def __post_init__(self):
        checks = {
            "steps": self.steps >= 1,
            "lr": self.lr > 0,
            "tv_weight": self.tv_weight >= 0,
            "beta": self.beta > 0,
            "init_std": self.init_std >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"InversionConfig.{name} is out of range: {getattr(self, name)!r}")


class InversionResult(NamedTuple):
    """``images``: ``[N, H, W, 3]`` in [0, 1]; ``losses``: ``[steps, N]`` the normalized
    feature distance at each step; ``final``: ``[N]`` that distance for ``images``."""

    images: jax.Array
    losses: np.ndarray
    final: jax.Array


def feature_distance(features: jax.typing.ArrayLike, target: jax.typing.ArrayLike) -> jax.Array:
    r"""Mahendran & Vedaldi's normalized loss :math:`\|\Phi(x) - \Phi_0\|^2 / \|\Phi_0\|^2`.

    Twice ``nst.losses.content_loss`` (``norm="gatys"``, half the squared distance) over
    the target's squared norm, so it is 1 for ``features = 0`` whatever the layer.

    Args:
      features: ``[N, h, w, c]`` (or ``[N, c]``, flattened to ``[N, 1, 1, c]``).
      target: the same shape (or one unbatched target for the batch).

    Returns:
      ``[N]`` float32.
    """
    f, p = jnp.asarray(features), jnp.asarray(target)
    if f.ndim == 2:
        f, p = f[:, None, None, :], p[..., None, None, :]
    norm = jnp.sum(jnp.square(p), axis=(-3, -2, -1))
    return 2.0 * losses.content_loss(f, p, norm="gatys") / jnp.maximum(norm, 1e-12)


def _objective(params, x, target, tv_weight, beta, net, layer):
    distance = feature_distance(net(params, x)[layer], target)
    h, w = x.shape[1:3]
    prior = losses.total_variation(x, kind="beta", beta=beta) / (h * w)
    return jnp.sum(distance + tv_weight * prior), distance


@functools.partial(jax.jit, static_argnames=("net", "layer"))
def _step(params, x, opt_state, target, numbers, *, net, layer):
    lr, tv_weight, beta = numbers
    grad, distance = jax.grad(_objective, argnums=1, has_aux=True)(
        params, x, target, tv_weight, beta, net, layer
    )
    updates, opt_state = optax.adam(lr).update(grad, opt_state, x)
    x = jnp.clip(optax.apply_updates(x, updates), 0.0, 1.0)  # Mahendran & Vedaldi's box
    return x, opt_state, distance


@functools.partial(jax.jit, static_argnames=("net", "layer"))
def _features(params, images, *, net, layer):
    return net(params, images)[layer]


def invert(
    key: jax.Array,
    net: Backbone,
    params,
    images: jax.typing.ArrayLike,
    *,
    layer: str,
    config: InversionConfig = InversionConfig(),
) -> InversionResult:
    r"""Reconstructs images from one layer's features (Mahendran & Vedaldi 2015).

    .. math::

        x^* = \arg\min_{x \in [0, 1]^{H \times W \times 3}}
            \frac{\|\Phi(x) - \Phi_0\|^2}{\|\Phi_0\|^2} + \frac{\lambda}{HW} R_\beta(x),
        \qquad \Phi_0 = \Phi(x_0)

    with :math:`R_\beta` = ``nst.losses.total_variation(kind="beta")``, by Adam from gray
    plus Gaussian noise, the image clipped to [0, 1] after every step. The target features
    are computed once; each image of the batch is reconstructed independently.

    Args:
      key: PRNG key of the initial noise.
      net: a backbone (``layers`` is replaced by ``(layer,)``).
      params: its params.
      images: the originals ``x_0``, ``[N, H, W, 3]`` in [0, 1].
      layer: the layer to invert (``conv1_1`` ... ``pool5``, ``fc6`` ... with the head).
      config: steps, rate and prior.

    Returns:
      ``InversionResult(images, losses, final)``.

    References:
      Mahendran, Vedaldi, "Understanding Deep Image Representations by Inverting Them",
      CVPR 2015, eq. (1) and sec. 3.
    """
    x0 = jnp.asarray(images, jnp.float32)
    if x0.ndim != 4 or x0.shape[-1] != 3:
        raise ValueError(f"images must be [N, H, W, 3], got shape {x0.shape}")
    net = dataclasses.replace(net, layers=(layer,))
    target = _features(params, x0, net=net, layer=layer)
    x = jnp.clip(0.5 + config.init_std * jax.random.normal(key, x0.shape), 0.0, 1.0)
    opt_state = optax.adam(config.lr).init(x)
    numbers = tuple(jnp.float32(v) for v in (config.lr, config.tv_weight, config.beta))
    history = []
    for _ in range(config.steps):
        x, opt_state, distance = _step(params, x, opt_state, target, numbers, net=net, layer=layer)
        history.append(distance)
    final = feature_distance(_features(params, x, net=net, layer=layer), target)
    return InversionResult(x, np.stack(jax.device_get(history)), final)


def psnr(a: jax.typing.ArrayLike, b: jax.typing.ArrayLike) -> jax.Array:
    r"""Peak signal-to-noise ratio of images in [0, 1]: :math:`10 \log_{10}(1 / \mathrm{MSE})`.

    Args:
      a: ``[N, H, W, C]`` or ``[H, W, C]``.
      b: the same shape.

    Returns:
      ``[N]`` (or ``[]``) in decibels; ``inf`` for identical images.
    """
    a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    mse = jnp.mean(jnp.square(a - b), axis=(-3, -2, -1))
    return -10.0 * jnp.log10(mse)
