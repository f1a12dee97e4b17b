"""Neural-style-transfer losses: pure functions of arrays, usable under jit, grad and vmap.

Conventions, shared by every function here:

* Images and feature maps are NHWC floats: one ``[H, W, C]`` array or a batch
  ``[N, H, W, C]``. Images are RGB in [0, 1].
* Each loss returns one value per image: shape ``[]`` for ``[H, W, C]`` input and ``[N]`` for
  a batch. Reductions run over the last three axes ``(-3, -2, -1)``, so a batched call equals
  stacking single-image calls, and ``jax.vmap`` over a batch gives the same values.
* Targets computed once from the content/style images (content features, target Grams) may
  be shared by a batch: pass them unbatched.
* Values are computed and returned in float32 (float64 for float64 input): bfloat16 and
  float16 inputs are promoted before any sum; gradients come back in the input's dtype.
* Options (``kind``, ``norm``, ``delta``, ...) are keyword-only. Bad ranks, mismatched shapes
  and unknown options raise ``ValueError`` naming the argument, at trace time.
* No flags, no global state, no I/O. :func:`matting_laplacian` is host-side NumPy
  preprocessing; everything else is traceable.

Typical Gatys objective::

    targets = losses.style_targets(style_features, norm="gatys")  # once
    total, parts = losses.weighted_total(
        {
            "content": losses.content_loss(feats["conv4_2"], content_features["conv4_2"]),
            "style": losses.style_loss(feats, targets, layer_weights),
            "tv": losses.total_variation(image),
        },
        {"content": alpha, "style": beta, "tv": tv_weight},
    )
"""

from nst.losses._combine import weighted_total
from nst.losses._content import content_loss
from nst.losses._distances import penalty
from nst.losses._matting import laplacian_to_bcoo, matting_laplacian, photorealism_loss
from nst.losses._regularizers import total_variation
from nst.losses._style import gram_matrix, style_layer_loss, style_loss, style_targets
from nst.losses._temporal import temporal_loss

__all__ = (
    "content_loss",
    "gram_matrix",
    "laplacian_to_bcoo",
    "matting_laplacian",
    "penalty",
    "photorealism_loss",
    "style_layer_loss",
    "style_loss",
    "style_targets",
    "temporal_loss",
    "total_variation",
    "weighted_total",
)
