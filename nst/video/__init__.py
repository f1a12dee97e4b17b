"""Video style transfer: temporally consistent optimization and feed-forward video.

    from nst import image, video
    clip = video.load_clip("clip.mp4", size=256, max_frames=60)   # uint8 [T, H, W, 3]
    result = video.stylize_video(config, clip, [image.load(style)], "out.mp4.frames")
    frames = video.io.read_frames_folder("out.mp4.frames", len(clip))
    video.write_mp4("out.mp4", frames, fps=clip.fps)
    print(video.clip_warping_errors(frames, clip.frame, len(clip))["mean"])

Modules: ``io`` (clips in, MP4 or PNG frames out), ``flow`` (OpenCV DIS / Farneback
optical flow, host-side), ``warp`` (bilinear warping and Ruder et al.'s reliability mask,
JAX), ``temporal`` (per-frame optimization with the temporal loss, resumable), ``metrics``
(Lai et al.'s warping error), ``feedforward`` (a trained network over a clip; import it
explicitly, it loads orbax), ``synthetic`` (clips with a known camera motion).

OpenCV and FFmpeg (imageio-ffmpeg) are the optional extra ``pip install -e .[video]``;
they are imported when first used, with a one-line error naming the extra when missing.
"""

from nst.video.flow import flow_pair as flow_pair
from nst.video.flow import optical_flow as optical_flow
from nst.video.io import Clip as Clip
from nst.video.io import VideoError as VideoError
from nst.video.io import load_clip as load_clip
from nst.video.io import write_mp4 as write_mp4
from nst.video.metrics import clip_warping_errors as clip_warping_errors
from nst.video.metrics import reappearance_errors as reappearance_errors
from nst.video.metrics import warping_error as warping_error
from nst.video.temporal import VideoConfig as VideoConfig
from nst.video.temporal import VideoResult as VideoResult
from nst.video.temporal import ruder_temporal_weight as ruder_temporal_weight
from nst.video.temporal import stylize_video as stylize_video

__all__ = [
    "Clip",
    "VideoConfig",
    "VideoError",
    "VideoResult",
    "clip_warping_errors",
    "flow_pair",
    "load_clip",
    "optical_flow",
    "reappearance_errors",
    "ruder_temporal_weight",
    "stylize_video",
    "warping_error",
    "write_mp4",
]
