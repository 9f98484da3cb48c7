"""Writes the fuzzers' seed corpora into tests/fuzz/corpus/<target>/ (committed;
run again only to change them): small valid files of every format each reader
takes, so the fuzzer starts from deep inside the formats.

usage: /usr/bin/python3 tests/fuzz/make_corpus.py   (Debian's python3-torch, python3-pil)"""
import gzip
import io
import json
import os
import struct

import numpy as np
import torch
from PIL import Image

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        b = t.numpy().tobytes()
        dtype = {torch.float32: "F32", torch.int64: "I64", torch.uint8: "U8"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


# .pth: the zip format (with a view and shared storage) and the legacy format.
buf = io.BytesIO()
base = torch.arange(6, dtype=torch.float32)
torch.save({"w": base.view(2, 3), "b": base[1:3], "n": torch.tensor(3)}, buf)
put("pth", "zip.pth", buf.getvalue())
buf = io.BytesIO()
torch.save({"w": torch.ones(2, 2)}, buf, _use_new_zipfile_serialization=False)
put("pth", "legacy.pth", buf.getvalue())

put("safetensors", "small.safetensors",
    safetensors({"a": torch.ones(2, 3), "b": torch.arange(4)}, {"format": "pt"}))

# Images: every format, small, with palette, alpha and grey variants.
rng = np.random.default_rng(0)
rgb = Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8))
for name, image, fmt, extra in [
        ("rgb.png", rgb, "PNG", {}), ("gray.png", rgb.convert("L"), "PNG", {}),
        ("rgba.png", rgb.convert("RGBA"), "PNG", {}), ("palette.png", rgb.convert("P"), "PNG", {}),
        ("interlaced.png", rgb, "PNG", {"interlace": 1}),
        ("baseline.jpg", rgb, "JPEG", {"quality": 80}), ("progressive.jpg", rgb, "JPEG", {"progressive": True}),
        ("gray.jpg", rgb.convert("L"), "JPEG", {}), ("cmyk.jpg", rgb.convert("CMYK"), "JPEG", {}),
        ("image.gif", rgb.convert("P"), "GIF", {}), ("image.bmp", rgb, "BMP", {}),
        ("image.tga", rgb, "TGA", {}), ("rle.tga", rgb, "TGA", {"compression": "tga_rle"}),
        ("image.ppm", rgb, "PPM", {}), ("image.pgm", rgb.convert("L"), "PPM", {})]:
    out = io.BytesIO()
    image.save(out, fmt, **extra)
    put("image", name, out.getvalue())

# IDX (gzipped), as Fashion-MNIST stores images and labels.
put("idx", "images.gz", gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">III", 2, 3, 3) + bytes(range(18))))
put("idx", "labels.gz", gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 4) + bytes([1, 2, 3, 9])))

# A training checkpoint as Trainer::save_checkpoint writes it (train/training_state.hpp).
state = {"format": "tlearn.training_state", "version": 1, "epoch": 2, "optimizer": "SGD",
         "groups": [{"options": {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0,
                                 "nesterov": 0.0}, "parameters": ["fc.weight"]}],
         "grad_scaler": {}, "callbacks": {"ReduceLROnPlateau": {"best": 0.5, "wait": 1.0, "cooldown": 0.0},
                                          "EarlyStopping": {"best": None, "wait": 0.0, "best_epoch": -1.0}}}
put("training_state", "state.ckpt", safetensors(
    {"model/fc.weight": torch.ones(2, 2), "optimizer/fc.weight.momentum_buffer": torch.zeros(2, 2),
     "rng/cpu": torch.zeros(8, dtype=torch.uint8), "callbacks/EarlyStopping/fc.weight": torch.ones(2, 2)},
    {"format": "tlearn.training_state", "tlearn.training_state": json.dumps(state)}))
print("corpora written to", root)
