"""Gatys et al. (2016) image optimization: the stylization engine.

Read top to bottom, one module per job:

1. options: ``nst.config.StylizeConfig`` (checked when made; ``nst.config.split`` tells the
   numbers a compiled step takes as data from what fixes the program);
2. targets computed once (``_targets``: ``make_targets``, ``gram_targets``, ...);
3. the objective, every formula a call into ``nst.losses`` (``_objective``: ``make_objective``);
4. one jit-compiled step shared by all optax optimizers, its loop forms (a Python loop of
   jitted steps on CPU, scanned chunks on accelerators) and the ``Cache`` of compiled
   programs (``_step``: ``make_step``);
5. the driver: initial images, the loop, results (``_driver``: ``sweep``, ``stylize``), or
   L-BFGS driven from the host, with its two-loop recursion jitted (``_lbfgs``, the CPU
   default) or SciPy's L-BFGS-B (``_scipy``), all keeping the same books (``_log``:
   history, snapshots, progress, the stop on a non-finite loss);
6. checkpoints of interrupted runs (``_checkpoint``).

Every run is a *sweep*: ``K`` configs that differ only in data (``nst.config.split``) are
stacked along a leading axis and optimized by ONE ``jax.vmap``-ed compiled step. A single run
is the sweep with ``K = 1``, so there is one code path.

Pixels stay valid: first-order optimizers clip to [0, 1] after every step; the host-driven
L-BFGS projects every trial point onto [0, 1]; SciPy's L-BFGS-B optimizes under box bounds;
optax's L-BFGS is left unclipped during the run (clipping would invalidate the value and
gradient its line search stores) and the final image is clipped.

References:
  Gatys, Ecker, Bethge. Image Style Transfer Using Convolutional Neural Networks. CVPR 2016.
  Gatys et al. Controlling Perceptual Factors in Neural Style Transfer. CVPR 2017.
  Luan et al. Deep Photo Style Transfer. CVPR 2017.
"""

from nst.style_stats import W2_EPS as W2_EPS
from nst.stylize._checkpoint import CheckpointError as CheckpointError
from nst.stylize._checkpoint import load_checkpoint as load_checkpoint
from nst.stylize._checkpoint import save_checkpoint as save_checkpoint
from nst.stylize._checkpoint import steps_saved as steps_saved
from nst.stylize._driver import Result as Result
from nst.stylize._driver import check_sweep as check_sweep
from nst.stylize._driver import initial_image as initial_image
from nst.stylize._driver import stylize as stylize
from nst.stylize._driver import sweep as sweep
from nst.stylize._objective import Hyper as Hyper
from nst.stylize._objective import make_hyper as make_hyper
from nst.stylize._objective import make_objective as make_objective
from nst.stylize._step import Cache as Cache
from nst.stylize._step import State as State
from nst.stylize._step import default_loop as default_loop
from nst.stylize._step import default_sweep_form as default_sweep_form
from nst.stylize._step import make_step as make_step
from nst.stylize._targets import CALIBRATION as CALIBRATION
from nst.stylize._targets import CALIBRATION_SIZE as CALIBRATION_SIZE
from nst.stylize._targets import Targets as Targets
from nst.stylize._targets import blend_style_grams as blend_style_grams
from nst.stylize._targets import content_targets as content_targets
from nst.stylize._targets import create_backbone as create_backbone
from nst.stylize._targets import gram_targets as gram_targets
from nst.stylize._targets import load_params as load_params
from nst.stylize._targets import make_targets as make_targets
from nst.stylize._targets import network as network
from nst.stylize._targets import region_targets as region_targets
from nst.stylize._targets import scale_styles as scale_styles
from nst.stylize._targets import stat_targets as stat_targets
from nst.stylize._targets import style_blend as style_blend

__all__ = [
    "CALIBRATION",
    "CALIBRATION_SIZE",
    "Cache",
    "CheckpointError",
    "Hyper",
    "Result",
    "State",
    "Targets",
    "blend_style_grams",
    "check_sweep",
    "content_targets",
    "create_backbone",
    "default_loop",
    "default_sweep_form",
    "gram_targets",
    "initial_image",
    "load_params",
    "make_hyper",
    "make_objective",
    "make_step",
    "make_targets",
    "network",
    "region_targets",
    "scale_styles",
    "stat_targets",
    "steps_saved",
    "style_blend",
    "stylize",
    "sweep",
]
