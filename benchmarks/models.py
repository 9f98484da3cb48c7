"""PyTorch eager twin of benchmarks/models.cpp: same models (torchvision), inputs,
thread count, warm-up and repeats; prints one JSON line.
  models.py inference|train NAME BATCH [--freeze-half] [--threads N]"""
import argparse
import json
import statistics
import time

import torch
import torchvision


def median_seconds(step, warmup, repeats):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["inference", "train"])
    p.add_argument("name")
    p.add_argument("batch", type=int)
    p.add_argument("--freeze-half", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", type=int, default=224)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, a.name)(weights=None)
    x = torch.randn(a.batch, 3, a.size, a.size)
    repeats = 15 if a.batch == 1 else 5
    if a.mode == "inference":
        model.eval()

        def step():
            with torch.no_grad():
                model(x)
        seconds = median_seconds(step, 2, repeats)
    else:
        model.train()
        if a.freeze_half:
            # The same layers tlearn's first(half of the layer table) freezes: parameters in
            # module order up to half of the leaf modules with parameters.
            leaves = [m for m in model.modules() if len(list(m.children())) == 0]
            for m in leaves[: len(leaves) // 2]:
                for prm in m.parameters():
                    prm.requires_grad_(False)
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eval()
        params = [prm for prm in model.parameters() if prm.requires_grad]
        sgd = torch.optim.SGD(params, lr=0.01, momentum=0.9)
        labels = torch.randint(0, 1000, (a.batch,))

        def step():
            sgd.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), labels)
            loss.backward()
            sgd.step()
        seconds = median_seconds(step, 1, 3)
    mode = a.mode + ("-freeze-half" if a.freeze_half else "")
    print(json.dumps({"impl": "python", "mode": mode, "model": a.name, "batch": a.batch,
                      "images_per_s": a.batch / seconds}))


if __name__ == "__main__":
    main()
