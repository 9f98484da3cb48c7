"""torchvision as the reference for tlearn's backbones (Debian python3-torchvision 0.14.1).

  keys OUT.json NAME...            state_dict keys, shapes and parameter counts (no weight init: fast)
  export NAME DIR [options]        random-weight model: DIR/NAME.pth (torch.save(state_dict)),
                                   DIR/NAME.io.safetensors {input, output[, features]}
      --size N                     input size (default 64)
      --batch N                    batch size (default 2)
      --no-top                     output is the backbone's feature path (model.features etc.)
      --train                      output in train mode (batch statistics); also saves the grads of
                                   (output**2).sum() w.r.t. the input and the first conv weight
      --old-keys                   densenet: save the pre-0.3 key names of the official files
                                   ("denselayer1.norm.1.weight" for "denselayer1.norm1.weight")
      --aux                        inception_v3 / googlenet with torchvision's default aux heads
      --from-size N                vit: the saved weights are a model built for N; the reference
                                   output is that state resized by torchvision's
                                   interpolate_embeddings to --size

maxvit_t: built for --size (torchvision fixes its partition grid at construction).

vit_*: built for --size (its position embedding); the output file also holds "tokens", the
encoder's output, and --no-top's output is the patch tokens as an (N, C, H/p, W/p) map.

inception_v3 and googlenet are built without aux heads and transform_input=False, as tlearn
builds them for random weights and weight files (tlearn skips the official checkpoints' aux keys).
"""
import argparse
import collections
import contextlib
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torchvision  # noqa: E402
from tensorfile import write_safetensors  # noqa: E402


@contextlib.contextmanager
def no_init():
    """Skip weight initialisation: only names and shapes are wanted."""
    names = ["kaiming_normal_", "kaiming_uniform_", "normal_", "uniform_", "trunc_normal_",
             "xavier_uniform_", "xavier_normal_", "constant_", "zeros_", "ones_", "orthogonal_"]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    for n in names:
        setattr(torch.nn.init, n, lambda t, *a, **k: t)
    saved_reset = {}
    for cls in (torch.nn.Conv2d, torch.nn.Linear, torch.nn.BatchNorm2d):
        saved_reset[cls] = cls.reset_parameters
        cls.reset_parameters = lambda self: None
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)
        for cls, f in saved_reset.items():
            cls.reset_parameters = f


def build(name, **kwargs):
    if name == "vit_toy":  # tlearn's tests register the same narrow ViT
        return torchvision.models.VisionTransformer(patch_size=16, num_layers=2, num_heads=4, hidden_dim=64,
                                                    mlp_dim=128, image_size=kwargs.get("image_size", 224))
    kwargs.setdefault("weights", None)
    if name in ("inception_v3", "googlenet"):
        kwargs.setdefault("aux_logits", False)
        kwargs.setdefault("transform_input", False)
        kwargs.setdefault("init_weights", False)
    return torchvision.models.get_model(name, **kwargs) if hasattr(torchvision.models, "get_model") \
        else getattr(torchvision.models, name)(**kwargs)


def vit_tokens(model, x):
    """torchvision's VisionTransformer.forward up to the head: the encoder's output tokens."""
    x = model._process_input(x)
    x = torch.cat([model.class_token.expand(x.shape[0], -1, -1), x], dim=1)
    return model.encoder(x)


def features_path(name, model, x):
    """What tlearn returns with include_top=False: torchvision's feature path."""
    if name.startswith("vit_"):
        t = vit_tokens(model, x)[:, 1:]
        side = x.shape[-1] // model.patch_size
        return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], x.shape[-2] // model.patch_size, side)
    if name.startswith("swin"):
        return model.permute(model.norm(model.features(x)))
    if name.startswith("maxvit"):
        x = model.stem(x)
        for block in model.blocks:
            x = block(x)
        return x
    if name.startswith(("vgg", "alexnet", "squeezenet", "mobilenet", "efficientnet", "mnasnet", "convnext")):
        y = model.layers(x) if name.startswith("mnasnet") else model.features(x)
        if name.startswith("densenet"):
            y = torch.relu(y)
        return y
    if name.startswith("densenet"):
        return torch.relu(model.features(x))
    if name.startswith(("resnet", "resnext", "wide_resnet")):
        m = model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        return m.layer4(m.layer3(m.layer2(m.layer1(x))))
    if name.startswith("regnet"):
        return model.trunk_output(model.stem(x))
    if name.startswith("shufflenet"):
        m = model
        x = m.maxpool(m.conv1(x))
        return m.conv5(m.stage4(m.stage3(m.stage2(x))))
    if name == "inception_v3":
        m = model
        x = m._transform_input(x)
        for n in ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                  "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                  "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]:
            x = getattr(m, n)(x)
        return x
    if name == "googlenet":
        m = model
        x = m._transform_input(x)
        for n in ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
                  "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
                  "inception5a", "inception5b"]:
            x = getattr(m, n)(x)
        return x
    raise SystemExit(f"no feature path known for {name}")


def cmd_keys(out, names):
    result = {}
    with no_init(), torch.no_grad():
        for name in names:
            model = build(name)
            sd = model.state_dict()
            result[name] = {
                "keys": [[k, list(v.shape)] for k, v in sd.items()],
                "params": sum(p.numel() for p in model.parameters()),
            }
    with open(out, "w") as f:
        json.dump(result, f)


def old_densenet_keys(state):
    """The key names of torchvision's published densenet files (torchvision renames them on load)."""
    pattern = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))((?:[12])\.(?:weight|bias|running_mean|running_var))$")
    return collections.OrderedDict((pattern.sub(r"\1.\2", k), v) for k, v in state.items())


def cmd_export(name, out_dir, size, batch, no_top, train, old_keys=False, aux=False, from_size=None):
    torch.manual_seed(0)
    if name.startswith("vit_"):
        model = build(name, image_size=from_size or size)
        # A random class token (torchvision starts it at zero), so its path is tested too.
        with torch.no_grad():
            model.class_token.normal_()
    elif name.startswith("maxvit"):  # torchvision fixes MaxViT's input size when it builds it
        model = build(name, input_size=(size, size))
    else:
        model = build(name, aux_logits=True) if aux else build(name)
    # Random BatchNorm statistics, so eval mode is not the identity.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    state = old_densenet_keys(model.state_dict()) if old_keys else model.state_dict()
    torch.save(state, os.path.join(out_dir, name + ".pth"))
    if from_size:
        from torchvision.models.vision_transformer import interpolate_embeddings
        resized = interpolate_embeddings(size, model.patch_size, collections.OrderedDict(state))
        model = build(name, image_size=size)
        model.load_state_dict(resized)
    model.train(train)
    if aux and train:
        model.dropout.p = 0.0
    x = torch.randn(batch, 3, size, size)
    tensors = {"input": x.clone()}
    if train:
        x.requires_grad_(True)
        y = features_path(name, model, x) if no_top else model(x)
        loss = 0
        if aux:  # inception_v3 in training mode: InceptionOutputs(logits, aux_logits)
            # (its dropout is off here and in the C++ test: random masks cannot match)
            y, aux_logits = y
            tensors["aux_output"] = aux_logits.detach()
            loss = (aux_logits ** 2).sum()
        (loss + (y ** 2).sum()).backward()
        first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        tensors["input_grad"] = x.grad
        if aux:
            tensors["aux_conv0_grad"] = model.AuxLogits.conv0.conv.weight.grad
            tensors["aux_fc_grad"] = model.AuxLogits.fc.weight.grad
        tensors["first_conv_grad"] = first_conv.weight.grad
        tensors["output"] = y.detach()
    else:
        with torch.no_grad():
            tensors["output"] = features_path(name, model, x) if no_top else model(x)
            if name.startswith("vit_"):
                tensors["tokens"] = vit_tokens(model, x)
    write_safetensors(tensors, os.path.join(out_dir, name + ".io.safetensors"))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("keys")
    k.add_argument("out")
    k.add_argument("names", nargs="+")
    e = sub.add_parser("export")
    e.add_argument("name")
    e.add_argument("dir")
    e.add_argument("--size", type=int, default=64)
    e.add_argument("--batch", type=int, default=2)
    e.add_argument("--no-top", action="store_true")
    e.add_argument("--train", action="store_true")
    e.add_argument("--old-keys", action="store_true")
    e.add_argument("--aux", action="store_true")
    e.add_argument("--from-size", type=int, default=None)
    a = p.parse_args()
    if a.cmd == "keys":
        cmd_keys(a.out, a.names)
    else:
        cmd_export(a.name, a.dir, a.size, a.batch, a.no_top, a.train, a.old_keys, a.aux, a.from_size)


if __name__ == "__main__":
    main()
