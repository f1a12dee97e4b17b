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
* Style statistics beyond the Gram matrix: :func:`style_mean_loss` (mean plus Gram),
  :func:`wasserstein_style_loss` (Gaussian W2, with :func:`sqrtm_psd`), :func:`mrf_loss`
  (Li & Wand patch matching, targets from :func:`mrf_patches`). Spatial control:
  :func:`guided_gram_matrix` and :func:`guided_style_loss` with masks at each layer's
  resolution (:func:`resize_mask`).
* No flags, no global state, no I/O. :func:`matting_laplacian` is host-side NumPy
  preprocessing; everything else is traceable.

Units (the one statement of them; the functions compute on whatever they are given):

* ``PIXEL_SCALE = 255``. The engine's objective (``nst.stylize``) evaluates
  :func:`total_variation` and :func:`temporal_loss` on ``PIXEL_SCALE * image``, the 0-255
  image the Caffe VGG19 sees (it subtracts a mean pixel, which no difference notices). That
  is where the papers whose weights these terms take put them: jcjohnson's neural-style
  (``TVLoss``) and Ruder et al.'s artistic-videos evaluate TV and the temporal loss on the
  Caffe-preprocessed 0-255 image. :func:`photorealism_loss` stays on the [0, 1] image: Luan
  et al.'s code divides the 0-255 image by 256 before its ``V^T L V``. A
  weight written as in the paper (TV 1e-3, temporal 1e3, photorealism 1e4) then means what
  it meant, provided the perceptual terms are normalized as in the paper too: those papers
  use means (``content_norm="mean"``, ``style_norm="mean"``); against the Gatys sums (the
  engine's default) the same perceptual weights make the content and style terms ~1e4 to
  1e5 times larger and the papers' pixel-space weights too weak to matter.

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
from nst.losses._guided import guided_gram_matrix, guided_style_loss, resize_mask
from nst.losses._matting import laplacian_to_bcoo, matting_laplacian, photorealism_loss
from nst.losses._moments import (
    feature_moments,
    sqrtm_psd,
    style_mean_loss,
    wasserstein_style_loss,
)
from nst.losses._mrf import mrf_loss, mrf_patches
from nst.losses._regularizers import total_variation
from nst.losses._style import gram_matrix, style_layer_loss, style_loss, style_targets
from nst.losses._temporal import temporal_loss
from nst.losses._units import PIXEL_SCALE as PIXEL_SCALE  # a constant, not in __all__

__all__ = (
    "content_loss",
    "feature_moments",
    "gram_matrix",
    "guided_gram_matrix",
    "guided_style_loss",
    "laplacian_to_bcoo",
    "matting_laplacian",
    "mrf_loss",
    "mrf_patches",
    "penalty",
    "photorealism_loss",
    "resize_mask",
    "sqrtm_psd",
    "style_layer_loss",
    "style_loss",
    "style_mean_loss",
    "style_targets",
    "temporal_loss",
    "total_variation",
    "wasserstein_style_loss",
    "weighted_total",
)
