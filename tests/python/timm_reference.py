"""timm's side of the timm-weights tests.

usage: timm_reference.py write OUTDIR
    For each architecture tlearn maps, a timm model with random weights (and random
    BatchNorm statistics and layer scales, so nothing is trivially zero) saved as
    the Hub holds it (timm.models.save_for_hf: config.json + model.safetensors;
    resnet18 as pytorch_model.bin, the older layout), with a batch of input and
    timm's outputs in OUTDIR/<arch>/reference.safetensors: logits, forward_features
    and the pooled features (forward_head(pre_logits=True)). OUTDIR/transform/ holds
    timm's eval transform of a real photo for three data configs (resnet18's, the
    augreg ViT's, and a CLIP model's, whose config.json is clip_config.json).
usage: timm_reference.py check FOLDER
    Loads what tlearn's save_timm wrote in FOLDER with timm.create_model("local-dir:FOLDER")
    and with pretrained_cfg_overlay, runs FOLDER/input.safetensors through both and
    writes FOLDER/timm_output.safetensors."""
import json
import os
import sys

import torch
import timm
import timm.data
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import tensorfile  # noqa: E402

ARCHS = ["resnet18", "densenet121", "vgg11", "convnext_tiny", "efficientnet_b0", "tf_efficientnet_b0", "inception_v3",
         "regnety_004", "regnetx_008", "mobilenetv3_large_100", "mobilenetv3_small_100", "vit_base_patch16_224",
         "swin_tiny_patch4_window7_224"]


def randomise(model):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)
        for name, p in model.named_parameters():
            if name.endswith("gamma"):  # ConvNeXt's layer scale starts at 1e-6
                p.copy_(torch.rand(p.shape, generator=g) * 0.5 + 0.5)


def write(out):
    for arch in ARCHS:
        torch.manual_seed(0)
        model = timm.create_model(arch, pretrained=False).eval()
        randomise(model)
        folder = os.path.join(out, arch)
        timm.models.save_for_hf(model, folder, safe_serialization=(arch != "resnet18"))
        size = model.pretrained_cfg["input_size"][1]
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            features = model.forward_features(x)
            tensorfile.write_safetensors({
                "input": x,
                "logits": model(x),
                "features": features,
                "pre_logits": model.forward_head(features, pre_logits=True),
            }, os.path.join(folder, "reference.safetensors"))
    # timm's eval transform of a photo, for a torchvision-like and an Inception-like config.
    import skimage.data
    photo = os.path.join(os.path.dirname(skimage.data.__file__), "astronaut.png")
    os.makedirs(os.path.join(out, "transform"), exist_ok=True)
    image = Image.open(photo).convert("RGB")
    tensors = {}
    for arch in ("resnet18", "vit_base_patch16_224"):
        cfg = timm.data.resolve_data_config({}, model=timm.create_model(arch, pretrained=False))
        tensors[arch] = timm.data.create_transform(**cfg)(image)
    # A CLIP-pretrained model's config: OpenAI's mean and std, bilinear, crop_pct 0.9.
    clip = dict(input_size=(3, 224, 224), interpolation="bilinear", crop_pct=0.9, crop_mode="center",
                mean=timm.data.OPENAI_CLIP_MEAN, std=timm.data.OPENAI_CLIP_STD)
    tensors["clip"] = timm.data.create_transform(**clip)(image)
    with open(os.path.join(out, "transform", "clip_config.json"), "w") as f:
        json.dump({"architecture": "resnet18", "num_classes": 1000,
                   "pretrained_cfg": {k: list(v) if isinstance(v, tuple) else v for k, v in clip.items()}}, f)
    tensorfile.write_safetensors(tensors, os.path.join(out, "transform", "photos.safetensors"))
    with open(os.path.join(out, "transform", "photo.txt"), "w") as f:
        f.write(photo)


def check(folder):
    config = json.load(open(os.path.join(folder, "config.json")))
    x = tensorfile.read_safetensors(os.path.join(folder, "input.safetensors"))["input"]
    a = timm.create_model("local-dir:" + folder, pretrained=True).eval()
    b = timm.create_model(config["architecture"], pretrained=True, num_classes=config["num_classes"],
                          pretrained_cfg_overlay=dict(file=os.path.join(folder, "model.safetensors"),
                                                      num_classes=config["num_classes"])).eval()
    with torch.no_grad():
        tensorfile.write_safetensors({"local_dir": a(x), "overlay": b(x)},
                                     os.path.join(folder, "timm_output.safetensors"))
    cfg = timm.data.resolve_data_config({}, model=a)
    with open(os.path.join(folder, "timm_data_config.json"), "w") as f:
        json.dump({k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}, f)


if __name__ == "__main__":
    {"write": write, "check": check}[sys.argv[1]](sys.argv[2])
