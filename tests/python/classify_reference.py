"""torchvision's own pipeline on a photo: PIL decode, weights.transforms(), model, softmax.
  classify_reference.py NAME WEIGHTS.pth IMAGE OUT.safetensors"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torchvision  # noqa: E402
from PIL import Image  # noqa: E402
from tensorfile import write_safetensors  # noqa: E402

name, weights, image, out = sys.argv[1:5]
model = getattr(torchvision.models, name)(weights=None)
model.load_state_dict(torch.load(weights))
model.eval()
enum = torchvision.models.get_model_weights(name) if hasattr(torchvision.models, "get_model_weights") else None
transform = list(enum)[0].transforms()
x = transform(Image.open(image).convert("RGB"))
with torch.no_grad():
    probs = model(x.unsqueeze(0)).softmax(1)
write_safetensors({"input": x, "probs": probs}, out)
