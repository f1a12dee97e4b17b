"""Gradient ascent in image space: class models and neuron visualizations.

The image is optimized in the backbone's normalized input space, ``z = (I - mean) / std``
(``nst.backbones.IMAGENET_MEAN`` / ``IMAGENET_STD``), where the "zero image" of Simonyan et
al. (2014) is the ImageNet mean colour and the L2 penalty is theirs. One compiled step runs
every iteration: the numbers of ``AscentConfig`` (rate, penalty, blur period and width,
jitter, percentile) are traced arguments, so settings that differ only in them share one
program; only ``optimizer``, the blur radius, the shapes and the target layer recompile.
"""

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nst.backbones import IMAGENET_MEAN, IMAGENET_STD, Backbone
from nst.visualize._saliency import Target, check_channels, score

OPTIMIZERS = ("adam", "sgd")


@dataclasses.dataclass(frozen=True)
class AscentConfig:
    """Options of ``gradient_ascent``; the regularizers of Yosinski et al. (2015) are off by
    default (0), giving Simonyan et al.'s (2014) plain L2-penalized ascent."""

    # Iterations.
    steps: int = 200
    # "adam" (robust to the gradient's scale, which random weights make arbitrary) or "sgd"
    # (plain gradient ascent, as Simonyan et al.).
    optimizer: str = "adam"
    # Step size, in normalized input units (one unit: one ImageNet std, about 0.23 in [0, 1]).
    lr: float = 0.05
    # lambda of -lambda ||z||^2, summed over pixels and channels (Simonyan et al. 2014).
    l2: float = 1e-4
    # Blur the image with a Gaussian every `blur_every` steps; 0: never (Yosinski: 4 to 10).
    blur_every: int = 0
    # Standard deviation of that Gaussian, in pixels (Yosinski: 0.3 to 1); radius ceil(3 sigma).
    blur_sigma: float = 0.5
    # Shift the image by a random offset of up to `jitter` pixels (jnp.roll) before each
    # gradient and back after it; 0: none.
    jitter: int = 0
    # Zero the pixels (to the mean colour) whose norm over channels is below this percentile
    # of the image's, after each step (Yosinski: 0 to 50); 0: none.
    norm_percentile: float = 0.0
    # Keep the image in [0, 1] (clip after every step), so the picture shown is the one
    # optimized.
    clip: bool = True
    # Standard deviation of the Gaussian noise added to the zero image at the start, in
    # normalized units. A network with zero biases (random weights) maps the exact zero
    # image to zero features with zero gradient, a fixed point of the ascent; a trace of
    # noise breaks it and is invisible otherwise.
    init_std: float = 1e-2

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        checks = {
            "steps": self.steps >= 1,
            "lr": self.lr > 0,
            "l2": self.l2 >= 0,
            "blur_every": self.blur_every >= 0,
            "blur_sigma": self.blur_sigma > 0,
            "jitter": self.jitter >= 0,
            "norm_percentile": 0 <= self.norm_percentile < 100,
            "init_std": self.init_std >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"AscentConfig.{name} is out of range: {getattr(self, name)!r}")

    @property
    def blur_radius(self) -> int:
        return max(1, math.ceil(3 * self.blur_sigma))


class AscentResult(NamedTuple):
    """``images``: ``[N, H, W, 3]`` in [0, 1]; ``scores``: ``[steps, N]`` the target at each
    step (on the jittered image); ``final``: ``[N]`` the target on ``images``."""

    images: jax.Array
    scores: np.ndarray
    final: jax.Array


def gaussian_blur(
    images: jax.typing.ArrayLike, sigma: jax.typing.ArrayLike, *, radius: int
) -> jax.Array:
    r"""Separable Gaussian blur of ``[N, H, W, C]`` images, edges replicated.

    .. math:: w_k \propto \exp(-k^2 / 2\sigma^2), \quad k = -r \dots r, \quad \sum_k w_k = 1

    Args:
      images: ``[N, H, W, C]``.
      sigma: standard deviation in pixels (> 0); may be traced.
      radius: taps on each side (static).

    Returns:
      The blurred images, same shape, float32.
    """
    x = jnp.asarray(images, jnp.float32)
    taps = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
    sigma = jnp.maximum(jnp.asarray(sigma, jnp.float32), 1e-3)
    w = jnp.exp(-0.5 * jnp.square(taps / sigma))
    w = w / jnp.sum(w)
    for axis in (1, 2):
        pad = [(0, 0)] * 4
        pad[axis] = (radius, radius)
        padded = jnp.pad(x, pad, mode="edge")
        n = x.shape[axis]
        x = sum(
            w[k] * jax.lax.slice_in_dim(padded, k, k + n, axis=axis) for k in range(2 * radius + 1)
        )
    return x


def _bounds() -> tuple[np.ndarray, np.ndarray]:
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    return mean, std


def _to_image(z: jax.Array) -> jax.Array:
    mean, std = _bounds()
    return mean + std * z


def _optimizer(name: str, lr: jax.Array) -> optax.GradientTransformation:
    return optax.adam(lr) if name == "adam" else optax.sgd(lr)


@functools.partial(jax.jit, static_argnames=("net", "target", "optimizer", "radius", "clip"))
def _step(
    params, z, opt_state, step, key, channels, numbers, *, net, target, optimizer, radius, clip
):
    lr, l2, blur_every, sigma, jitter, percentile = numbers
    jitter = jitter.astype(jnp.int32)
    shift = jax.random.randint(key, (2,), -jitter, jitter + 1)
    shifted = jnp.roll(z, (shift[0], shift[1]), axis=(1, 2))

    def objective(zs):
        s = score(net(params, _to_image(zs))[target.layer], target, channel=channels)
        return jnp.sum(s - l2 * jnp.sum(jnp.square(zs), axis=(1, 2, 3))), s

    grad, s = jax.grad(objective, has_aux=True)(shifted)
    grad = jnp.roll(grad, (-shift[0], -shift[1]), axis=(1, 2))
    updates, opt_state = _optimizer(optimizer, lr).update(-grad, opt_state, z)  # ascent
    z = optax.apply_updates(z, updates)
    blur_now = (blur_every > 0) & ((step + 1) % jnp.maximum(blur_every, 1) == 0)
    z = jnp.where(blur_now, gaussian_blur(z, sigma, radius=radius), z)
    norms = jnp.linalg.norm(z, axis=-1)  # [N, H, W]
    cut = jnp.percentile(norms, percentile, axis=(1, 2), keepdims=True)
    z = jnp.where(((percentile > 0) & (norms < cut))[..., None], 0.0, z)
    if clip:
        mean, std = _bounds()
        z = jnp.clip(z, -mean / std, (1 - mean) / std)
    return z, opt_state, s


@functools.partial(jax.jit, static_argnames=("net", "target"))
def _score(params, images, channels, *, net, target):
    return score(net(params, images)[target.layer], target, channel=channels)


def gradient_ascent(
    key: jax.Array,
    net: Backbone,
    params,
    target: Target,
    *,
    shape: tuple[int, int],
    channels: jax.typing.ArrayLike | None = None,
    config: AscentConfig = AscentConfig(),
) -> AscentResult:
    r"""The image that maximizes a target: class models (Simonyan et al. 2014) and neurons.

    .. math:: I^* = \arg\max_I S_c(I) - \lambda \|I\|_2^2, \qquad I_0 \approx 0

    in the normalized input space (``I = 0`` is the ImageNet mean colour; ``init_std`` adds a
    trace of noise), by Adam or plain
    gradient ascent. The regularizers of Yosinski et al. (2015) are options: a Gaussian
    blur every ``blur_every`` steps, random jitter (the image is rolled by up to ``jitter``
    pixels for each gradient), and zeroing of the pixels of smallest norm. One image per
    channel in ``channels``, all optimized in one batch.

    Args:
      key: PRNG key of the initial noise and the jitter offsets.
      net: a backbone (``layers`` is replaced by the target's).
      params: its params (with the classifier head for class scores).
      target: the score to maximize (``class_score(c)``, or a neuron / channel).
      shape: ``(H, W)`` of the image (224x224 for class scores).
      channels: the channels (classes) to visualize, one image each: ``[N]``; default
        ``[target.channel]``. Traced: other classes reuse the compiled step.
      config: steps, optimizer and regularizers.

    Returns:
      ``AscentResult(images, scores, final)``.

    References:
      Simonyan, Vedaldi, Zisserman, "Deep Inside Convolutional Networks", ICLR workshop
      2014, sec. 2. Yosinski, Clune, Nguyen, Fuchs, Lipson, "Understanding Neural Networks
      Through Deep Visualization", ICML Deep Learning workshop 2015, sec. 3.
    """
    channels = jnp.atleast_1d(jnp.asarray(target.channel if channels is None else channels))
    if channels.ndim != 1 or not jnp.issubdtype(channels.dtype, jnp.integer):
        raise ValueError(f"channels must be a 1-D array of ints, got {channels}")
    h, w = (int(s) for s in shape)
    net = dataclasses.replace(net, layers=(target.layer,))
    check_channels(net, params, (channels.shape[0], h, w, 3), target, channels)
    target = dataclasses.replace(target, channel=0)  # traced: `channels`
    init_key, key = jax.random.split(key)
    z = config.init_std * jax.random.normal(init_key, (channels.shape[0], h, w, 3), jnp.float32)
    opt_state = _optimizer(config.optimizer, jnp.float32(config.lr)).init(z)
    numbers = tuple(
        jnp.float32(v)
        for v in (
            config.lr,
            config.l2,
            config.blur_every,
            config.blur_sigma,
            config.jitter,
            config.norm_percentile,
        )
    )
    static = dict(net=net, target=target, optimizer=config.optimizer, radius=config.blur_radius)
    scores = []
    for step, k in enumerate(jax.random.split(key, config.steps)):
        z, opt_state, s = _step(
            params, z, opt_state, jnp.int32(step), k, channels, numbers, clip=config.clip, **static
        )
        scores.append(s)
    images = jnp.clip(_to_image(z), 0.0, 1.0)
    final = _score(params, images, channels, net=net, target=target)
    return AscentResult(images, np.stack(jax.device_get(scores)), final)
