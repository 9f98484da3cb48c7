"""Layer-wise learning-rate decay groups (timm's param_groups_layer_decay rule) on torchvision's models.

  layer_decay_reference.py OUT.json NAME DECAY WEIGHT_DECAY

For each parameter of torchvision's NAME: its lr scale and weight decay. The rule, as timm
applies it: the stem is layer 0, block i layer i (1-based), the final norm and the head layer
B + 1; scale = DECAY ** (B + 1 - layer); no weight decay on 1-D parameters nor on the class
token and position embedding. Blocks: ViT's encoder layers, ResNet's residual blocks.
"""
import json
import re
import sys

import torch
import torchvision


def layer_of(name, model_name):
    if model_name.startswith("vit_"):
        if name in ("class_token", "encoder.pos_embedding") or name.startswith("conv_proj."):
            return ("stem", None)
        m = re.match(r"encoder\.layers\.encoder_layer_(\d+)\.", name)
        return ("block", int(m.group(1))) if m else ("top", None)
    if model_name.startswith("resnet"):
        if name.startswith(("conv1.", "bn1.")):
            return ("stem", None)
        m = re.match(r"layer(\d+)\.(\d+)\.", name)
        return ("block", (int(m.group(1)), int(m.group(2)))) if m else ("top", None)
    raise SystemExit("no rule for " + model_name)


def main():
    out, name, decay, weight_decay = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    model = getattr(torchvision.models, name)(weights=None)
    named = list(model.named_parameters())
    blocks = sorted({layer_of(n, name)[1] for n, _ in named if layer_of(n, name)[0] == "block"})
    top = len(blocks) + 1
    result = {}
    for n, p in named:
        kind, key = layer_of(n, name)
        layer = 0 if kind == "stem" else top if kind == "top" else blocks.index(key) + 1
        no_decay = p.ndim <= 1 or n in ("class_token", "encoder.pos_embedding")
        result[n] = [decay ** (top - layer), 0.0 if no_decay else weight_decay]
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
