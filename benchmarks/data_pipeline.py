"""The Python side of benchmarks/data_pipeline.cpp: the same folder through
torchvision transforms + PIL + torch DataLoader. Prints 'images_per_second X'.

    /usr/bin/python3 benchmarks/data_pipeline.py FOLDER --workers 2 --batch 32 --epochs 2 --pipeline train
"""
import argparse
import resource
import time

import torch
import torchvision.transforms as T
from torchvision.datasets import ImageFolder


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--pipeline", choices=["train", "eval"], default="train")
    a = ap.parse_args()
    to_float = T.Compose([T.PILToTensor(), T.ConvertImageDtype(torch.float)])  # 0..1; scale is irrelevant here
    if a.pipeline == "train":
        # = TrainTransform().size({224, 224}).flip().rotate(15).zoom(0.1).brightness(0.2).contrast(0.2)
        t = T.Compose([
            T.Resize((224, 224)),
            T.RandomHorizontalFlip(),
            T.RandomAffine(degrees=15, scale=(0.9, 1.1), interpolation=T.InterpolationMode.BILINEAR),
            T.ColorJitter(brightness=0.2, contrast=0.2),
            to_float,
        ])
    else:
        # = eval_transform({256, 224})
        t = T.Compose([T.Resize(256), T.CenterCrop(224), to_float])
    def cpu():
        return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                        resource.getrusage(resource.RUSAGE_CHILDREN)))
    cpu0 = cpu()
    data = ImageFolder(a.folder, transform=t)
    loader = torch.utils.data.DataLoader(data, batch_size=a.batch, shuffle=True, num_workers=a.workers,
                                         persistent_workers=a.workers > 0)
    for _ in loader:  # warm-up epoch: workers started, files in the page cache
        pass
    start = time.perf_counter()
    n = 0
    for _ in range(a.epochs):
        for images, labels in loader:
            n += images.shape[0]
    dt = time.perf_counter() - start
    del loader  # joins the workers, so that their CPU time is counted
    total = len(data) * (a.epochs + 1)
    print(f"images_per_second {n / dt:.1f}")
    print(f"cpu_ms_per_image {(cpu() - cpu0) * 1000 / total:.3f}")


if __name__ == "__main__":
    main()
