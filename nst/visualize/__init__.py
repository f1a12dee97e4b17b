"""Visualizing and understanding CNNs, on the ``nst.backbones`` networks and ``nst.losses``.

What a neuron responds to, what image maximizes a class, what a layer still knows about
the image: the tools researchers use to choose content and style layers.

* ReLU backward rules (``RELU_RULES``): ``relu_backprop``, ``relu_deconvnet``,
  ``relu_guided``, each a ``jax.custom_vjp`` function handed to the backbone as its
  ``relu``: the same network and params, only the backward pass changes.
* ``saliency``: the image gradient of a ``Target`` (a neuron, a channel's mean, or a class
  score with ``class_score``) under a rule; ``saliency_map`` and ``gradient_image`` display
  it (Simonyan et al. 2014; Zeiler & Fergus 2014; Springenberg et al. 2015).
* ``gradient_ascent``: class models and neuron visualizations from a zero image, with the
  regularizers of Yosinski et al. (2015) as ``AscentConfig`` options.
* ``invert``: feature inversion with a beta-TV prior (Mahendran & Vedaldi 2015); ``psnr``.
* ``top_patches``: the maximally activating receptive-field crops of chosen channels over
  a set of images; ``receptive_field`` of any feature layer.

Conventions: images are float ``[N, H, W, 3]`` in [0, 1] (the backbones normalize inside);
the classifier targets (VGG ``fc6`` ... ``fc8``) need the head params
(``nst.backbones.create(..., include_head=True)``) and 224x224 images. Backbones, targets
and configs are frozen dataclasses (``jax.jit`` static arguments); options are
keyword-only; PRNG keys come first. No flags, no printing, no global state.

Example::

    net, params = nst.backbones.create("vgg16", ["relu4_3"], weights="imagenet")
    target = visualize.Target("relu4_3", channel=17, reduce="max")
    grads = visualize.saliency(net, params, images, target, rule="guided")
    picture = visualize.gradient_image(grads)
"""

from nst.visualize._ascent import AscentConfig as AscentConfig
from nst.visualize._ascent import AscentResult as AscentResult
from nst.visualize._ascent import gaussian_blur as gaussian_blur
from nst.visualize._ascent import gradient_ascent as gradient_ascent
from nst.visualize._inversion import InversionConfig as InversionConfig
from nst.visualize._inversion import InversionResult as InversionResult
from nst.visualize._inversion import feature_distance as feature_distance
from nst.visualize._inversion import invert as invert
from nst.visualize._inversion import psnr as psnr
from nst.visualize._patches import Patch as Patch
from nst.visualize._patches import ReceptiveField as ReceptiveField
from nst.visualize._patches import crop as crop
from nst.visualize._patches import receptive_field as receptive_field
from nst.visualize._patches import top_patches as top_patches
from nst.visualize._rules import RELU_RULES as RELU_RULES
from nst.visualize._rules import relu_backprop as relu_backprop
from nst.visualize._rules import relu_deconvnet as relu_deconvnet
from nst.visualize._rules import relu_guided as relu_guided
from nst.visualize._saliency import Target as Target
from nst.visualize._saliency import class_score as class_score
from nst.visualize._saliency import gradient_image as gradient_image
from nst.visualize._saliency import saliency as saliency
from nst.visualize._saliency import saliency_map as saliency_map
from nst.visualize._saliency import score as score

__all__ = [
    "RELU_RULES",
    "AscentConfig",
    "AscentResult",
    "InversionConfig",
    "InversionResult",
    "Patch",
    "ReceptiveField",
    "Target",
    "class_score",
    "crop",
    "feature_distance",
    "gaussian_blur",
    "gradient_ascent",
    "gradient_image",
    "invert",
    "psnr",
    "receptive_field",
    "relu_backprop",
    "relu_deconvnet",
    "relu_guided",
    "saliency",
    "saliency_map",
    "score",
    "top_patches",
]
