"""Video by per-frame optimization with a temporal loss (Ruder et al. 2016).

Read top to bottom: options (``VideoConfig``) -> targets that do not change between frames
(style Grams) computed once per clip -> per frame: flows of the input frames, the earlier
outputs warped into this frame and their reliability mask (``temporal_target``) -> the
engine (``nst.stylize.stylize``) with ``temporal_weight * temporal_loss(x, warped, mask)``
added, started from the warped previous output -> the frame saved at once.

Frame ``t > 0`` minimizes the image objective plus

.. math::
  \\lambda_t \\, \\frac{1}{D} \\sum_x c(x) \\lVert x(x) - \\omega(x) \\rVert^2

(``nst.losses.temporal_loss``), where ``ω`` is the previous output warped by the backward
flow of the inputs and ``c`` the reliability mask. With long-term consistency
(``long_term=(1, 2, 4)``) each pixel takes ``ω`` from the nearest earlier frame ``t - j``
where it is reliable (Ruder et al. eq. 8: :math:`c_j^{long} = \\max(c_j - \\sum_{k<j} c_k,
0)`); since those masks do not overlap, the sum of their losses is one loss against the
composed frame with the union of the masks. ``flow="none"`` is the seeds' variant: the
previous output itself, unwarped, every pixel weighted 1.

One compiled program serves the whole clip: frame 0 carries an all-zero mask (its temporal
term is 0) so every frame's targets have the same structure, and the first frame's extra
steps are host-side. ``cache`` holds the program across frames (and across clips of one
size).

Resuming: frames are written as they finish (``nst.video._store.FrameStore``); a rerun
continues at the first missing frame, and frame ``t`` always starts from the PNG of frame
``t - 1`` as saved, so a resumed run computes the same frames as an uninterrupted one
(bit-identical on one machine and backend, where XLA is deterministic). A frame interrupted
mid-way resumes from its engine checkpoint.

References:
  Ruder, Dosovitskiy, Brox. Artistic Style Transfer for Videos. GCPR 2016.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nst import backbones, stylize
from nst import config as config_lib
from nst.config import StylizeConfig
from nst.video import flow as flow_lib
from nst.video import warp as warp_lib
from nst.video._store import FrameStore, digest
from nst.video.io import Clip

__all__ = [
    "FLOWS",
    "VideoConfig",
    "VideoResult",
    "compose",
    "identity",
    "input_scale",
    "ruder_temporal_weight",
    "stylize_video",
    "temporal_target",
    "validate",
]

FLOWS = ("dis", "farneback", "none")


@dataclasses.dataclass(frozen=True)
class VideoConfig:
    """How frames are tied together (the image objective is ``StylizeConfig``'s)."""

    # Optical flow between input frames: "dis" | "farneback" | "none" (the seeds' variant:
    # the temporal loss against the previous output itself, no warping, no mask).
    flow: str = "dis"
    # Earlier frames t - j the temporal term looks at, nearest reliable first; must hold 1.
    # (1,) is Ruder et al.'s short-term loss, (1, 2, 4) their long-term one.
    long_term: tuple[int, ...] = (1,)
    # Steps of the first frame (None: 2 * StylizeConfig.steps); later frames take steps.
    first_frame_steps: int | None = None
    # Start of frames after the first: "previous" (the previous output, warped) | "init"
    # (StylizeConfig.init, as for an independent image) | None: "previous" with a flow,
    # "init" with flow="none" (the seeds start each frame afresh).
    init: str | None = None


def validate(config: StylizeConfig, video: VideoConfig) -> None:
    """ValueError naming the bad field, before any work starts."""
    if video.flow not in FLOWS:
        raise ValueError(f"--flow={video.flow!r} is not one of {', '.join(FLOWS)}")
    js = video.long_term
    if not js or any(not isinstance(j, int) or j < 1 for j in js) or len(set(js)) != len(js):
        raise ValueError(f"--long_term must be distinct positive frame offsets, got {js}")
    if 1 not in js:
        raise ValueError(f"--long_term must include 1 (the previous frame), got {js}")
    if video.flow == "none" and tuple(js) != (1,):
        raise ValueError("--long_term needs optical flow (--flow=dis or farneback)")
    if video.first_frame_steps is not None and video.first_frame_steps < 1:
        raise ValueError(f"--first_frame_steps must be >= 1, got {video.first_frame_steps}")
    if video.init not in (None, "previous", "init"):
        raise ValueError(f"frame init must be 'previous' or 'init', got {video.init!r}")
    if config.photo_weight:
        raise ValueError("--photo_weight (matting Laplacian) is not supported for video")
    if config.temporal_weight < 0:
        raise ValueError(f"--temporal_weight must be >= 0, got {config.temporal_weight}")


def first_frame_steps(config: StylizeConfig, video: VideoConfig) -> int:
    return video.first_frame_steps or 2 * config.steps


def frame_init(video: VideoConfig) -> str:
    """Where frames after the first start: "previous" or "init" (see ``VideoConfig.init``)."""
    if video.init is not None:
        return video.init
    return "init" if video.flow == "none" else "previous"


# ------------------------------------------------------------------------- temporal weight

# Ruder et al.'s defaults: content 5 (a mean over the Caffe VGG19's features) and temporal
# 1e3 (a mean over the pixels of the 0-255 image), the units of this engine's temporal term
# (nst.losses, Units): 1e3 / 5 = 200 per unit of a mean content loss on the Caffe network.
_RUDER_PER_MEAN_CONTENT = 1e3 / 5.0


def input_scale(params: Any) -> float:
    """Network input units per unit of pixel value: 255 for the Caffe VGG19 (its ``input``
    node, BGR 0-255), ``1 / IMAGENET_STD`` (~4.4) for weights without one (ImageNet
    mean/std normalization: random and flaxmodels weights)."""
    transform = params.get("input") if hasattr(params, "get") else None
    if transform is not None:
        matrix = np.abs(np.asarray(transform["matrix"], np.float64))
        return float(matrix[matrix > 0].mean())
    return float(np.mean(1.0 / np.asarray(backbones.IMAGENET_STD)))


def ruder_temporal_weight(
    config: StylizeConfig, net: Callable[..., Mapping[str, Any]], params: Any, shape: Sequence[int]
) -> float:
    """Ruder et al.'s temporal-to-content balance in this engine's units (the default).

    .. math::
      \\lambda_t = 200 \\, \\alpha \\sum_l w_l \\, (N_l / 2 \\text{ for Gatys content loss,
      else } 1) \\, (s / 255)^2

    Ruder et al. weigh a mean content loss on the Caffe VGG19 by 5 and the mean temporal
    loss on the 0-255 image by 1e3; this engine's temporal term is on the 0-255 image too
    (``nst.losses``, Units). :math:`N_l` is the number of feature elements of content layer
    ``l`` at the frame size (the Gatys content loss is :math:`N_l / 2` times the mean), and
    :math:`s` the network's input scale (``input_scale``: 255 for the Caffe VGG19, so the
    last factor is 1; ~4.4 for ImageNet-normalized weights, whose content loss is
    :math:`(s/255)^2` times the Caffe network's, taking the feature scale as linear in the
    input scale: an approximation there; for the Caffe network it is Ruder et al.'s own).
    """
    layers = config_lib.content_layers(config)
    feats = jax.eval_shape(net, params, jax.ShapeDtypeStruct((1, *shape), jnp.float32))
    total = 0.0
    for name, w in layers:
        n = float(np.prod(feats[name].shape[1:]))
        total += w * (n / 2.0 if config.content_norm == "gatys" else 1.0)
    network = (input_scale(params) / 255.0) ** 2
    return float(_RUDER_PER_MEAN_CONTENT * config.content_weight * total * network)


# ------------------------------------------------------------------------ temporal target


@jax.jit
def _warp_and_mask(image, backward, forward):
    return warp_lib.warp(image, backward), warp_lib.reliability_mask(backward, forward)


def compose(
    warped: Sequence[np.ndarray], masks: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Long-term target: each pixel from the nearest earlier frame where it is reliable.

    .. math::
      c_j^{long} = \\max(c_j - \\sum_{k < j} c_k, 0), \\quad
      \\omega = \\sum_j c_j^{long} \\omega_j, \\quad c = \\sum_j c_j^{long}

    (binary masks; ``c`` is their union). For the disjoint binary masks
    :math:`c_j^{long}`, :math:`\\sum_j c_j^{long} (x - \\omega_j)^2 = c (x - \\omega)^2`,
    so one ``temporal_loss(x, ω, c)`` is Ruder et al.'s sum over ``j``.

    Args:
      warped: the earlier outputs warped into this frame, nearest first, each ``[H, W, 3]``.
      masks: their reliability masks ``[H, W]`` in {0, 1}.

    Returns:
      ``(ω [H, W, 3], c [H, W])``; ``ω`` is ``warped[0]`` where no frame is reliable.
    """
    composed = np.array(warped[0], np.float32)
    covered = np.zeros(np.shape(masks[0]), np.float32)
    for w, m in zip(warped, masks, strict=True):
        take = np.asarray(m, np.float32) * (1.0 - covered)  # reliable here, in no nearer frame
        composed = composed * (1.0 - take[..., None]) + np.asarray(w, np.float32) * take[..., None]
        covered = covered + take
    return composed, covered


def temporal_target(
    t: int,
    video: VideoConfig,
    inputs: Callable[[int], np.ndarray],
    outputs: Callable[[int], np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(init, previous, mask)`` for frame ``t >= 1``.

    Args:
      t: the frame.
      video: the flow method and ``long_term`` offsets.
      inputs: ``t -> input frame [H, W, 3]`` (float, the stylization size).
      outputs: ``t -> finished output frame [H, W, 3]`` (for the earlier frames).

    Returns:
      init: the start of the optimization: the previous output warped into frame ``t``
        where that warp is reliable, the input frame elsewhere (disoccluded pixels and the
        strip the camera uncovers start afresh rather than from smeared border pixels).
        With ``flow="none"``: the previous output.
      previous: per pixel, the warped output of the nearest earlier frame where the pixel
        is reliable (``compose``), ``[H, W, 3]``.
      mask: ``float32 [H, W]``, 1 where some earlier frame is reliable.
    """
    if t < 1:
        raise ValueError(f"frame {t} has no earlier frame")
    if video.flow == "none":
        previous = np.asarray(outputs(t - 1), np.float32)
        return previous, previous, np.ones(previous.shape[:2], np.float32)
    current = np.asarray(inputs(t), np.float32)
    warped, masks = [], []
    for j in sorted(video.long_term):
        if t - j < 0:
            break
        backward, forward = flow_lib.flow_pair(current, inputs(t - j), method=video.flow)
        w, m = jax.device_get(_warp_and_mask(outputs(t - j), backward, forward))
        warped.append(w)
        masks.append(m)
    init = np.where(masks[0][..., None] > 0, warped[0], current).astype(np.float32)
    previous, mask = compose(warped, masks)
    return init, previous, mask


# --------------------------------------------------------------------------------- runner


@dataclasses.dataclass
class VideoResult:
    """What a call did.

    folder: the frames folder. total: frames in the clip. done: frames finished (this call
    and earlier ones). ran: the frames computed in this call. stopped: None, "interrupted",
    or the engine's reason for a frame. records: this call's per-frame records (frame,
    steps, seconds, compile_seconds, loss terms, reliable fraction). compile_seconds: this
    call's compilation time. seconds: this call's optimization time (compilation excluded).
    """

    folder: str
    total: int
    done: int
    ran: list[int]
    stopped: str | None
    records: list[dict[str, Any]]
    compile_seconds: float = 0.0
    seconds: float = 0.0


def identity(
    config: StylizeConfig, video: VideoConfig, clip: Clip, styles: Sequence[np.ndarray]
) -> dict[str, Any]:
    """What must match for a frames folder to be resumed."""
    return {
        "kind": "optimization",
        "config": dataclasses.asdict(config),
        "video": dataclasses.asdict(video),
        "clip": {"frames": digest([clip.frames]), "fps": clip.fps, "shape": list(clip.shape)},
        "styles": digest(np.asarray(s, np.float32) for s in styles),
    }


def stylize_video(
    config: StylizeConfig,
    clip: Clip,
    styles: Sequence[np.ndarray],
    folder: str,
    *,
    video: VideoConfig = VideoConfig(),
    net_params: tuple[Any, Any] | None = None,
    cache: stylize.Cache | None = None,
    restart: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
    step_progress: Callable[[int, float, float], None] | None = None,
) -> VideoResult:
    """Stylizes every frame of ``clip`` not yet in ``folder``, in order.

    Args:
      config: the image objective; ``temporal_weight`` weighs the temporal term
        (``ruder_temporal_weight`` gives Ruder et al.'s balance) and ``steps`` is the steps
        of every frame after the first.
      clip: the input frames at the working size.
      styles: style images, float ``[h, w, 3]`` (Grams computed once for the clip).
      folder: the frames folder (``00000.png``, ...); resumed when it holds this run.
      video: flow, long-term offsets, first-frame steps, init of later frames.
      net_params: ``(backbone, params)`` to reuse (else built from ``config``).
      cache: a ``stylize.Cache`` kept across calls to reuse the compiled step.
      restart: replace the frames of another run found in ``folder``.
      should_stop: polled between steps; True saves the frame's state and returns.
      progress: called after each frame with ``(t, total, record)``.
      step_progress: the engine's per-step callback.

    Returns:
      A ``VideoResult``.

    Raises:
      ValueError: bad settings (``validate``); VideoError: ``folder`` holds another run.
    """
    validate(config, video)
    if not styles:
        raise ValueError("at least one style image is needed")
    total = len(clip)
    store = FrameStore(folder, identity(config, video, clip, styles), restart=restart)
    start = store.done(total)
    result = VideoResult(str(folder), total, start, [], None, [])
    if start == total:
        return result
    net, params = net_params if net_params is not None else stylize.create_backbone(config)
    cache = stylize.Cache.of(cache)
    shape = clip.shape
    grams = stylize.gram_targets(config, net, params, styles, shape, content=clip.frame(0))
    outputs: dict[int, np.ndarray] = {}  # finished outputs still needed (as saved)
    reach = max(video.long_term)

    def output(j: int) -> np.ndarray:
        if j not in outputs:
            outputs[j] = store.load(j)
        return outputs[j]

    for t in range(start, total):
        content = clip.frame(t)
        if t == 0:
            init = None
            previous = np.zeros(shape, np.float32)
            mask = np.zeros(shape[:2], np.float32)
        else:
            init, previous, mask = temporal_target(t, video, clip.frame, output)
            if frame_init(video) != "previous":
                init = None
        targets = stylize.Targets(
            content=stylize.content_targets(config, net, params, content),
            grams=grams,
            temporal=(jnp.asarray(previous), jnp.asarray(mask)),
        )
        frame_config = (
            config if t else dataclasses.replace(config, steps=first_frame_steps(config, video))
        )
        began = time.perf_counter()
        out = stylize.stylize(
            frame_config,
            content,
            list(styles),
            net_params=(net, params),
            targets=targets,
            init_images=init,
            cache=cache,
            checkpoint=store.checkpoint(t),
            should_stop=should_stop,
            progress=step_progress,
        )
        wall = time.perf_counter() - began
        result.compile_seconds += out.compile_seconds
        if out.stopped == "interrupted":
            result.stopped = "interrupted"
            break
        outputs[t] = store.save(t, out.image)
        for j in [j for j in outputs if j <= t - reach]:
            del outputs[j]
        history = out.history
        seconds = float(history["time"][-1]) if len(history.get("time", ())) else 0.0
        record = {
            "frame": t,
            "steps": out.steps_done,
            "seconds": seconds,
            "wall_seconds": wall,
            "compile_seconds": out.compile_seconds,
            "reliable": float(np.mean(mask)) if t else None,
            "loss": {k: float(v[-1]) for k, v in history.items() if k != "time" and len(v)},
            "stopped": out.stopped,
            "converged": out.converged,  # the stopping rule's reason, or None
        }
        store.log(record)
        result.records.append(record)
        result.ran.append(t)
        result.done = t + 1
        result.seconds += seconds
        if out.stopped:  # a non-finite loss: the last finite image was kept
            result.stopped = f"frame {t}: {out.stopped}"
        if progress is not None:
            progress(t, total, record)
    return result
