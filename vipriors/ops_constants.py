"""Constants shared by the ops and the config, importable without the compiled extension."""

# ImageNet statistics in 0..255 pixel units, as the ops expect them.
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
