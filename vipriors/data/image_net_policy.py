"""The AutoAugment paper's ImageNet policy as data, for both of its runners (DALI's graph in
vipriors.data.policies, torch in vipriors.data.torch_policy); importing it needs no DALI."""

# The AutoAugment paper's ImageNet policy (Cubuk et al. 2019, its appendix; timm's "original"),
# as (operation, probability, level 0-10). DALI's own ImageNet policy is another list: the
# TPU EfficientNet one (timm's "v0").
ORIGINAL_IMAGE_NET = [
    [("posterize", 0.4, 8), ("rotate", 0.6, 9)], [("solarize", 0.6, 5), ("auto_contrast", 0.6, 5)],
    [("equalize", 0.8, 8), ("equalize", 0.6, 3)], [("posterize", 0.6, 7), ("posterize", 0.6, 6)],
    [("equalize", 0.4, 7), ("solarize", 0.2, 4)], [("equalize", 0.4, 4), ("rotate", 0.8, 8)],
    [("solarize", 0.6, 3), ("equalize", 0.6, 7)], [("posterize", 0.8, 5), ("equalize", 1.0, 2)],
    [("rotate", 0.2, 3), ("solarize", 0.6, 8)], [("equalize", 0.6, 8), ("posterize", 0.4, 6)],
    [("rotate", 0.8, 8), ("color", 0.4, 0)], [("rotate", 0.4, 9), ("equalize", 0.6, 2)],
    [("equalize", 0.0, 7), ("equalize", 0.8, 8)], [("invert", 0.6, 4), ("equalize", 1.0, 8)],
    [("color", 0.6, 4), ("contrast", 1.0, 8)], [("rotate", 0.8, 8), ("color", 1.0, 2)],
    [("color", 0.8, 8), ("solarize", 0.8, 7)], [("sharpness", 0.4, 7), ("invert", 0.6, 8)],
    [("shear_x", 0.6, 5), ("equalize", 1.0, 9)], [("color", 0.4, 0), ("equalize", 0.6, 3)],
    [("equalize", 0.4, 7), ("solarize", 0.2, 4)], [("solarize", 0.6, 5), ("auto_contrast", 0.6, 5)],
    [("invert", 0.6, 4), ("equalize", 1.0, 8)], [("color", 0.6, 4), ("contrast", 1.0, 8)],
    [("equalize", 0.8, 8), ("equalize", 0.6, 3)],
]
