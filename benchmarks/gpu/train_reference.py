"""The PyTorch Python loop that benchmarks/train_throughput.cpp mirrors: resnet50
(torchvision, random weights) with its fc replaced by a 10-class Linear, SGD
momentum 0.9, cross-entropy, 8 synthetic batches in pinned memory copied
non_blocking, bf16 autocast and channels_last on CUDA, 10 untimed warm-up steps.

    python3 train_reference.py [model=resnet50] [batch=64] [size=224] [steps=50] [bf16=1] [channels_last=1]
"""
import sys
import time

import torch
import torchvision


def main():
    args = sys.argv[1:] + [None] * 6
    name = args[0] or "resnet50"
    batch, size, steps = int(args[1] or 64), int(args[2] or 224), int(args[3] or 50)
    bf16, channels_last = (args[4] or "1") != "0", (args[5] or "1") != "0"
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)()
    model.fc = torch.nn.Linear(model.fc.in_features, 10)
    model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    batches = [(torch.randn(batch, 3, size, size).pin_memory() if cuda else torch.randn(batch, 3, size, size),
                torch.randint(10, (batch,)).pin_memory() if cuda else torch.randint(10, (batch,)))
               for _ in range(8)]

    def run(n):
        model.train()
        for i in range(n):
            x, y = batches[i % len(batches)]
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            opt.zero_grad()
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda and bf16):
                logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits.float(), y)
            loss.backward()
            opt.step()
            loss.item()  # the C++ Trainer reads every loss too
        if cuda:
            torch.cuda.synchronize()

    run(10)
    t0 = time.perf_counter()
    run(steps)
    s = time.perf_counter() - t0
    print("PyTorch Python %s batch %d %dx%d on %s%s%s: %.1f images/s" % (
        name, batch, size, size, "CUDA" if cuda else "CPU", " bf16" if cuda and bf16 else "",
        " channels_last" if channels_last else "", steps * batch / s))


if __name__ == "__main__":
    main()
