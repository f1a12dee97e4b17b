"""The pixel unit of the engine's pixel-space terms (stated in ``nst.losses``' docstring)."""

# The engine evaluates total variation and the temporal loss on PIXEL_SCALE * image: the
# 0-255 image of the Caffe VGG19 and of the papers whose weights those terms take.
PIXEL_SCALE = 255.0
