"""Checks files that tlearn wrote against the fixtures Python wrote.

usage: check_roundtrip.py <fixture_dir> <misc.pth> <misc.safetensors> <resnet18.pth>
 - torch.load reads tlearn's .pth and returns the same tensors bit for bit;
 - the safetensors file has the right layout, tensors and metadata;
 - torchvision's resnet18 accepts tlearn's file in load_state_dict(strict=True)."""
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensorfiles import assert_same_dicts, read_safetensors  # noqa: E402

fixtures, pth, st, r18 = sys.argv[1:5]
expected = torch.load(os.path.join(fixtures, "misc.pth"))

loaded = torch.load(pth)
assert type(loaded).__name__ == "OrderedDict", type(loaded)
assert_same_dicts(expected, loaded, "save_pth")
assert loaded["shared_a"].dtype == torch.float32

tensors, meta = read_safetensors(st)
assert meta == {"format": "pt", "source": "tlearn"}, meta
assert_same_dicts(expected, tensors, "save_safetensors")

model = torchvision.models.resnet18()
model.load_state_dict(torch.load(r18), strict=True)
assert_same_dicts(torch.load(os.path.join(fixtures, "resnet18.pth")), model.state_dict(), "resnet18")
print("round trip ok")
