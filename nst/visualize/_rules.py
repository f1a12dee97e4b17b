"""The ReLU's backward rule, swapped through ``jax.custom_vjp``.

Each rule is a module-level function with the ReLU's forward pass, so it can be handed to
``nst.backbones.Backbone(relu=...)`` once and keep the jit cache warm. With ``x`` the
forward input and ``g`` the gradient arriving from above, the backward passes are

==============  =============================  ===============================
rule            passes ``g`` where             paper
==============  =============================  ===============================
``backprop``    ``x > 0``                      (ordinary gradient)
``deconvnet``   ``g > 0``                      Zeiler & Fergus (2014)
``guided``      ``x > 0`` and ``g > 0``        Springenberg et al. (2015)
==============  =============================  ===============================

and zero elsewhere. ``custom_vjp`` functions support reverse mode (``jax.grad``,
``jax.vjp``), ``jit`` and ``vmap``, not forward mode (``jax.jvp``).
"""

import types
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp


def _relu(x: jax.Array) -> jax.Array:
    return jnp.maximum(x, jnp.zeros((), x.dtype))


def _forward(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    return _relu(x), x  # the residual is the forward input


@jax.custom_vjp
def relu_backprop(x: jax.typing.ArrayLike) -> jax.Array:
    r"""ReLU with the ordinary backward rule: pass the gradient where the input is positive.

    .. math:: \frac{\partial L}{\partial x} = g \cdot [x > 0]

    The same values and gradients as ``jax.nn.relu`` (whose gradient at 0 is also 0).

    >>> x, g = jnp.array([1.0, -1.0]), jnp.array([-2.0, 3.0])
    >>> jax.vjp(relu_backprop, x)[1](g)[0].tolist()
    [-2.0, 0.0]

    Args:
      x: any float array.

    Returns:
      ``max(x, 0)``, the shape and dtype of ``x``.

    References:
      Simonyan, Vedaldi, Zisserman, "Deep Inside Convolutional Networks: Visualising Image
      Classification Models and Saliency Maps", ICLR workshop 2014.
    """
    return _relu(jnp.asarray(x))


relu_backprop.defvjp(_forward, lambda x, g: (jnp.where(x > 0, g, jnp.zeros_like(g)),))


@jax.custom_vjp
def relu_deconvnet(x: jax.typing.ArrayLike) -> jax.Array:
    r"""ReLU with the deconvnet backward rule: pass the gradient where *it* is positive.

    .. math:: R = g \cdot [g > 0]

    The forward input is ignored on the way back: the "rectification" of the deconvnet
    reconstruction (max pooling still routes through its switches, the forward argmax).

    >>> x, g = jnp.array([1.0, -1.0]), jnp.array([-2.0, 3.0])
    >>> jax.vjp(relu_deconvnet, x)[1](g)[0].tolist()
    [0.0, 3.0]

    Args:
      x: any float array.

    Returns:
      ``max(x, 0)``, the shape and dtype of ``x``.

    References:
      Zeiler, Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014.
    """
    return _relu(jnp.asarray(x))


relu_deconvnet.defvjp(_forward, lambda x, g: (jnp.where(g > 0, g, jnp.zeros_like(g)),))


@jax.custom_vjp
def relu_guided(x: jax.typing.ArrayLike) -> jax.Array:
    r"""ReLU with the guided-backpropagation rule: both the input and the gradient positive.

    .. math:: R = g \cdot [x > 0] \cdot [g > 0]

    >>> x, g = jnp.array([1.0, -1.0, 2.0]), jnp.array([-2.0, 3.0, 6.0])
    >>> jax.vjp(relu_guided, x)[1](g)[0].tolist()
    [0.0, 0.0, 6.0]

    Args:
      x: any float array.

    Returns:
      ``max(x, 0)``, the shape and dtype of ``x``.

    References:
      Springenberg, Dosovitskiy, Brox, Riedmiller, "Striving for Simplicity: The All
      Convolutional Net", ICLR workshop 2015, sec. 3.4.
    """
    return _relu(jnp.asarray(x))


relu_guided.defvjp(_forward, lambda x, g: (jnp.where((x > 0) & (g > 0), g, jnp.zeros_like(g)),))

RELU_RULES: Mapping[str, Callable[[jax.Array], jax.Array]] = types.MappingProxyType(
    {"backprop": relu_backprop, "deconvnet": relu_deconvnet, "guided": relu_guided}
)


def get_rule(rule: str | Callable[[jax.Array], jax.Array]) -> Callable[[jax.Array], jax.Array]:
    """A rule by name (a key of ``RELU_RULES``), or a ReLU replacement passed through."""
    if callable(rule):
        return rule
    if rule not in RELU_RULES:
        raise ValueError(f"rule must be one of {', '.join(RELU_RULES)} or a function, got {rule!r}")
    return RELU_RULES[rule]
