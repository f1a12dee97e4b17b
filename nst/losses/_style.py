"""Style losses: Gram matrices of feature maps and their distances, per layer and summed."""

from collections.abc import Mapping

import jax
import jax.numpy as jnp

from nst.losses import _checks
from nst.losses._distances import penalty

GRAM_NORMS = ("none", "hw", "chw")
STYLE_NORMS = ("gatys", "johnson", "mean")
# The Gram normalization each style-loss normalization expects its targets in.
GRAM_NORM_FOR_STYLE = {"gatys": "none", "johnson": "chw", "mean": "chw"}


class GramTargets(dict):
    """{layer: target Gram} from :func:`style_targets`, with the style-loss ``norm`` they
    were made for, so :func:`style_loss` refuses them for another normalization (Gatys and
    Johnson targets differ by a factor :math:`C H W`: a silent mis-scaling otherwise).

    A pytree (``norm`` is static), so it passes through ``jit``, ``vmap`` and ``tree.map``.
    """

    def __init__(self, grams: Mapping[str, jax.Array], *, norm: str) -> None:
        super().__init__(grams)
        self.norm = norm

    def __repr__(self) -> str:
        return f"GramTargets(norm={self.norm!r}, {dict.__repr__(self)})"


jax.tree_util.register_pytree_with_keys(
    GramTargets,
    lambda t: ([(jax.tree_util.DictKey(k), t[k]) for k in sorted(t)], (t.norm, tuple(sorted(t)))),
    lambda aux, children: GramTargets(dict(zip(aux[1], children, strict=True)), norm=aux[0]),
    lambda t: ([t[k] for k in sorted(t)], (t.norm, tuple(sorted(t)))),
)


@jax.custom_jvp
def _gram(F: jax.Array) -> jax.Array:
    """``F^T F`` over the positions axis: ``[..., M, C] -> [..., C, C]``."""
    return jnp.einsum("...mi,...mj->...ij", F, F)


@_gram.defjvp
def _gram_jvp(primals, tangents):
    # d(F^T F) = T + T^T with T = F^T dF: one product instead of two. Its transpose, the
    # gradient F (G' + G'^T), then comes out in F's own [M, C] layout, without the
    # [C, M] transposes that autodiff of the plain einsum makes XLA insert (the VGG19
    # Gatys step at 256 px: 0.349 -> 0.327 s on XLA:CPU; benchmarks/gatys_step.py).
    (F,), (dF,) = primals, tangents
    t = jnp.einsum("...mi,...mj->...ij", F, dF)
    return _gram(F), t + jnp.swapaxes(t, -1, -2)


def gram_matrix(F: jax.typing.ArrayLike, *, norm: str = "none") -> jax.Array:
    r"""Gram matrix of a feature map: channel-by-channel inner products over all positions.

    With the :math:`M = HW` positions of one image flattened, :math:`F` is :math:`M \times C`
    and

    .. math::

        G_{ij} = \frac{1}{Z} \sum_{k=1}^{M} F_{ki} F_{kj}, \qquad
        Z = \begin{cases} 1 & \texttt{none} \\ HW & \texttt{hw} \\ CHW & \texttt{chw}
        \end{cases}

    ``chw`` is the normalization of Johnson et al.

    >>> import jax.numpy as jnp
    >>> gram_matrix(jnp.ones((2, 3, 2))).tolist()
    [[6.0, 6.0], [6.0, 6.0]]

    Args:
      F: features, ``[H, W, C]`` or ``[N, H, W, C]``.
      norm: ``"none"``, ``"hw"`` or ``"chw"``.

    Returns:
      ``[C, C]`` or ``[N, C, C]``, symmetric. float32 (float64 for float64 input; bfloat16 is
      promoted to float32 before the products are summed).

    Raises:
      ValueError: ``F`` of rank other than 3 or 4, or an unknown ``norm``.

    References:
      Gatys, Ecker, Bethge, "Image Style Transfer Using Convolutional Neural Networks",
      CVPR 2016, eq. (3). Johnson, Alahi, Fei-Fei, "Perceptual Losses for Real-Time Style
      Transfer and Super-Resolution", ECCV 2016, sec. 3.2.
    """
    _checks.check_option(norm, "norm", GRAM_NORMS)
    F = _checks.as_float(F)
    _checks.check_rank(F, "F")
    height, width, channels = F.shape[-3:]
    gram = _gram(F.reshape(*F.shape[:-3], height * width, channels))
    if norm == "hw":
        return gram / (height * width)
    if norm == "chw":
        return gram / (channels * height * width)
    return gram


def style_layer_loss(
    F: jax.typing.ArrayLike,
    A: jax.typing.ArrayLike,
    *,
    norm: str = "gatys",
    kind: str = "squared",
    delta: jax.typing.ArrayLike = 1.0,
) -> jax.Array:
    r"""Style loss of one layer: penalty between the Gram of ``F`` and a target Gram ``A``.

    With :math:`N_l = C` channels, :math:`M_l = HW` positions and :math:`\rho` the elementwise
    :func:`penalty`:

    .. math::

        E_\mathrm{gatys} = \frac{1}{4 N_l^2 M_l^2} \sum_{i,j} \rho(G_{ij} - A_{ij}),
        \quad G = \mathrm{gram}(F, \texttt{none}); \qquad
        E_\mathrm{johnson} = \sum_{i,j} \rho(G_{ij} - A_{ij}),
        \quad G = \mathrm{gram}(F, \texttt{chw}); \qquad
        E_\mathrm{mean} = \frac{1}{N_l^2} E_\mathrm{johnson}.

    ``mean`` is the mean over the Gram's entries: the style loss of jcjohnson's
    neural-style (``nn.MSECriterion`` of Grams divided by ``C H W``), which Ruder et al.
    and Luan et al. build on, and of the PyTorch tutorial; their style weights are in its
    units. ``A`` must be in the matching normalization: use :func:`style_targets` (or
    ``gram_matrix(style_features, norm="none")`` for ``gatys`` and ``norm="chw"`` for
    ``johnson`` and ``mean``). With ``kind="squared"`` and ``gatys``, the gradient is
    :math:`\partial E / \partial F = F (G - A) / (N_l^2 M_l^2)` (``F`` as :math:`M_l \times N_l`).

    >>> import jax.numpy as jnp
    >>> F = jnp.ones((2, 2, 1))
    >>> float(style_layer_loss(F, jnp.zeros((1, 1))))  # G = 4: 4**2 / (4 * 1 * 16)
    0.25

    Args:
      F: generated features, ``[H, W, C]`` or ``[N, H, W, C]``.
      A: target Gram, ``[C, C]`` (shared by a whole batch) or ``[N, C, C]`` (one per image).
        Compute it once, outside the optimization loop.
      norm: ``"gatys"``, ``"johnson"`` or ``"mean"``.
      kind: penalty kind, see :func:`penalty`.
      delta: threshold of the ``huber`` / ``smooth_l1`` penalties.

    Returns:
      One loss per image: ``[]`` or ``[N]``. float32 (float64 for float64 input).

    Raises:
      ValueError: ``F`` of rank other than 3 or 4, ``A`` not ``[C, C]`` / ``[N, C, C]``, or an
        unknown ``norm``/``kind``.

    References:
      Gatys, Ecker, Bethge, "Image Style Transfer Using Convolutional Neural Networks",
      CVPR 2016, eqs. (4)-(6). Johnson, Alahi, Fei-Fei, "Perceptual Losses for Real-Time Style
      Transfer and Super-Resolution", ECCV 2016, sec. 3.2.
    """
    _checks.check_option(norm, "norm", STYLE_NORMS)
    F, A = _checks.as_float(F), _checks.as_float(A)
    _checks.check_rank(F, "F")
    height, width, channels = F.shape[-3:]
    gram_shape = (channels, channels)
    if A.shape != gram_shape and not (F.ndim == 4 and A.shape == (F.shape[0], *gram_shape)):
        also = f" or {(F.shape[0], *gram_shape)}" if F.ndim == 4 else ""
        raise ValueError(
            f"A must be the target Gram of shape {gram_shape}{also} for F of shape "
            f"{tuple(F.shape)}; got shape {tuple(A.shape)}"
        )
    gram = gram_matrix(F, norm=GRAM_NORM_FOR_STYLE[norm])
    total = jnp.sum(penalty(gram - A, kind=kind, delta=delta), axis=(-2, -1))
    if norm == "gatys":
        return total / (4.0 * channels**2 * (height * width) ** 2)
    if norm == "mean":
        return total / channels**2
    return total


def style_targets(
    features: Mapping[str, jax.typing.ArrayLike], *, norm: str = "gatys"
) -> dict[str, jax.Array]:
    """Target Grams of the style image's features, in the normalization ``norm`` expects.

    ``gatys`` uses un-normalized Grams, ``johnson`` and ``mean`` Grams divided by ``C * H * W``;
    computing targets here keeps them consistent with :func:`style_layer_loss`.

    Args:
      features: layer name -> style features ``[H, W, C]`` or ``[N, H, W, C]``.
      norm: the style-loss normalization, ``"gatys"``, ``"johnson"`` or ``"mean"``.

    Returns:
      layer name -> Gram ``[C, C]`` or ``[N, C, C]``: a dict that remembers ``norm``, so
      :func:`style_loss` with another ``norm`` raises instead of mis-scaling.

    Raises:
      ValueError: unknown ``norm``, ``features`` not a mapping, or a feature map of the
        wrong rank.
    """
    _checks.check_option(norm, "norm", STYLE_NORMS)
    _checks.check_mapping(features, "features", "{'conv1_1': F}")
    gram_norm = GRAM_NORM_FOR_STYLE[norm]
    return GramTargets(
        {name: gram_matrix(f, norm=gram_norm) for name, f in features.items()}, norm=norm
    )


def style_loss(
    features: Mapping[str, jax.typing.ArrayLike],
    target_grams: Mapping[str, jax.typing.ArrayLike],
    layer_weights: Mapping[str, jax.typing.ArrayLike],
    *,
    norm: str = "gatys",
    kind: str = "squared",
    delta: jax.typing.ArrayLike = 1.0,
) -> jax.Array:
    r"""Weighted sum of :func:`style_layer_loss` over the layers named in ``layer_weights``.

    .. math::

        \mathcal{L}_\mathrm{style} = \sum_{l} w_l E_l

    Layers present in ``features`` but absent from ``layer_weights`` are ignored.

    >>> import jax.numpy as jnp
    >>> feats = {"conv1_1": jnp.ones((2, 2, 1))}
    >>> float(style_loss(feats, {"conv1_1": jnp.zeros((1, 1))}, {"conv1_1": 2.0}))
    0.5

    Args:
      features: layer name -> generated features ``[H, W, C]`` or ``[N, H, W, C]``.
      target_grams: layer name -> target Gram ``[C, C]`` or ``[N, C, C]`` in the normalization
        of ``norm`` (see :func:`style_targets`).
      layer_weights: layer name -> weight :math:`w_l` (a number or a traced scalar).
      norm: ``"gatys"``, ``"johnson"`` or ``"mean"``, see :func:`style_layer_loss`.
      kind: penalty kind, see :func:`penalty`.
      delta: threshold of the ``huber`` / ``smooth_l1`` penalties.

    Returns:
      One loss per image: ``[]`` or ``[N]``.

    Raises:
      ValueError: ``features``, ``target_grams`` or ``layer_weights`` not a mapping (a list
        of weights, say); empty ``layer_weights``; a weighted layer missing from
        ``features`` or ``target_grams``; targets from ``style_targets`` made for another
        ``norm``; or any error of :func:`style_layer_loss`.

    References:
      Gatys, Ecker, Bethge, "Image Style Transfer Using Convolutional Neural Networks",
      CVPR 2016, eq. (5).
    """
    _checks.check_mapping(features, "features", "{'conv1_1': F}")
    _checks.check_mapping(target_grams, "target_grams", "style_targets(style_features)")
    _checks.check_mapping(layer_weights, "layer_weights", "{'conv1_1': 0.5, 'conv2_1': 0.5}")
    made_for = getattr(target_grams, "norm", norm)
    if made_for != norm:
        raise ValueError(
            f"target_grams were made by style_targets(norm={made_for!r}) but the loss has "
            f"norm={norm!r} (Grams normalized differently: the loss would be mis-scaled); "
            f"make them with style_targets(..., norm={norm!r})"
        )
    if not layer_weights:
        raise ValueError("layer_weights must name at least one layer, got an empty mapping")
    total = None
    for layer, weight in layer_weights.items():
        if layer not in features:
            raise ValueError(
                f"features has no layer {layer!r} (named in layer_weights); "
                f"available: {sorted(features)}"
            )
        if layer not in target_grams:
            raise ValueError(
                f"target_grams has no layer {layer!r} (named in layer_weights); "
                f"available: {sorted(target_grams)}"
            )
        try:
            layer_loss = style_layer_loss(
                features[layer], target_grams[layer], norm=norm, kind=kind, delta=delta
            )
        except ValueError as e:
            raise ValueError(f"layer {layer!r}: {e}") from e
        term = weight * layer_loss
        total = term if total is None else total + term
    return total
