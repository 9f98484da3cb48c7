"""torchvision's augmentation operations on real photos, for the bit-exact tests.

  augment_reference.py OUT_DIR

Writes OUT_DIR/ops.safetensors (each input photo, (3, H, W) uint8, each operation's
output on it, and ColorJitter's steps on it as floats), OUT_DIR/ops.json (the list of cases) and OUT_DIR/stats.json (RandomErasing's
sampling statistics). Operations run through torchvision.transforms.autoaugment._apply_op,
the function RandAugment, TrivialAugmentWide, AutoAugment and AugMix call, with nearest
interpolation as they use it.
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode, RandomErasing
from torchvision.transforms.autoaugment import _apply_op

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensorfile import write_safetensors  # noqa: E402

SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"

CASES = [
    ("ShearX", 0.3, None), ("ShearX", -0.17, None), ("ShearY", 0.3, None), ("ShearY", -0.2, [128.0, 64.0, 32.0]),
    ("TranslateX", 40.6, None), ("TranslateX", -13.0, None), ("TranslateY", 30.0, [7.0]), ("TranslateY", -7.9, None),
    ("Rotate", 30.0, None), ("Rotate", -12.5, None), ("Rotate", 90.0, None), ("Rotate", 17.0, [128.0, 64.0, 32.0]),
    ("Brightness", 0.9, None), ("Brightness", -0.5, None), ("Color", 0.9, None), ("Color", -0.6, None),
    ("Contrast", 0.9, None), ("Contrast", -0.5, None), ("Sharpness", 0.9, None), ("Sharpness", -0.5, None),
    ("Posterize", 4.0, None), ("Posterize", 6.0, None), ("Posterize", 2.0, None),
    ("Solarize", 255.0, None), ("Solarize", 128.0, None), ("Solarize", 34.0, None),
    ("AutoContrast", 0.0, None), ("Equalize", 0.0, None), ("Invert", 0.0, None), ("Identity", 0.0, None),
]

# One AugMix draw, given: the original image's weight, each chain's weight and steps.
AUGMIX = {"original_weight": 0.3, "chain_weights": [0.2, 0.3, 0.2],
          "chains": [[["Rotate", 12.0], ["Solarize", 100.0]], [["Equalize", 0.0]],
                     [["ShearX", -0.2], ["Contrast", 0.5], ["Posterize", 3.0]]]}


# ColorJitter's functional steps and the factors tested.
JITTER = [("brightness", F.adjust_brightness, 1.3), ("contrast", F.adjust_contrast, 0.6),
          ("saturation", F.adjust_saturation, 1.7), ("saturation", F.adjust_saturation, 0.3),
          ("hue", F.adjust_hue, 0.2), ("hue", F.adjust_hue, -0.35)]


def photo(name, step):
    img = np.asarray(Image.open(os.path.join(SKIMAGE, name)).convert("RGB"))[::step, ::step]
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous()


def augmix(img):
    # torchvision AugMix.forward's blend, with the draw above.
    f32 = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    mix = f32(AUGMIX["original_weight"]) * img
    for weight, chain in zip(AUGMIX["chain_weights"], AUGMIX["chains"]):
        aug = img
        for name, magnitude in chain:
            aug = _apply_op(aug, name, magnitude, interpolation=InterpolationMode.NEAREST, fill=None)
        mix.add_(f32(weight) * aug)
    return mix.to(torch.uint8)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    photos = {"chelsea": photo("chelsea.png", 2), "coffee": photo("coffee.png", 2)}
    tensors = {"input/" + k: v for k, v in photos.items()}
    for pname, img in photos.items():
        for i, (name, magnitude, fill) in enumerate(CASES):
            tensors[f"{pname}/{i}"] = _apply_op(img, name, magnitude, interpolation=InterpolationMode.NEAREST, fill=fill)
        tensors[f"{pname}/augmix"] = augmix(img)
        # ColorJitter's steps on the float image, in 0..255 units.
        x = img.float() / 255
        for name, fn, factor in JITTER:
            tensors[f"{pname}/{name}_{factor}"] = fn(x, factor) * 255
    write_safetensors(tensors, os.path.join(out, "ops.safetensors"))
    with open(os.path.join(out, "ops.json"), "w") as f:
        json.dump({"cases": [[n, m, f] for n, m, f in CASES], "augmix": AUGMIX,
                   "jitter": [[n, f] for n, _, f in JITTER]}, f)
    # RandomErasing's draws on a 3x224x224 image: how often, and how large.
    torch.manual_seed(0)
    img = torch.zeros(3, 224, 224)
    draws, erased, area, height, width = 20000, 0, [], [], []
    for _ in range(draws):
        if torch.rand(1) < 0.5:
            i, j, h, w, v = RandomErasing.get_params(img, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=[0.0])
            if h < 224:
                erased += 1
                area.append(h * w / 224.0 / 224.0)
                height.append(h)
                width.append(w)
    with open(os.path.join(out, "stats.json"), "w") as f:
        json.dump({"draws": draws, "erased": erased / draws, "area_mean": float(np.mean(area)),
                   "area_std": float(np.std(area)), "height_mean": float(np.mean(height)),
                   "width_mean": float(np.mean(width))}, f)


if __name__ == "__main__":
    main()
