"""The Python side of benchmarks/data_pipeline.cpp: the same folder through a torch
DataLoader, with either pipeline Python users have: --decoder pil (PIL + torchvision
transforms) or --decoder tensor (torchvision.io.decode_jpeg + transforms v2 on uint8
tensors, torchvision 0.16 and later). Prints 'images_per_second X'.

    python benchmarks/data_pipeline.py FOLDER --workers 2 --batch 32 --epochs 2 --pipeline train [--decoder pil]
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
    ap.add_argument("--decoder", choices=["pil", "tensor"], default="pil")
    a = ap.parse_args()
    if a.decoder == "tensor":
        return run(a, tensor_pipeline(a.pipeline), loader=decode_file)
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
    return run(a, t)


def decode_file(path):
    from torchvision.io import decode_jpeg, read_file
    return decode_jpeg(read_file(path))


def tensor_pipeline(pipeline):
    """The same transforms as torchvision.transforms.v2 on uint8 CHW tensors."""
    from torchvision.transforms import v2
    to_float = v2.ToDtype(torch.float32, scale=True)
    if pipeline == "train":
        return v2.Compose([
            v2.Resize((224, 224), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomAffine(degrees=15, scale=(0.9, 1.1), interpolation=v2.InterpolationMode.BILINEAR),
            v2.ColorJitter(brightness=0.2, contrast=0.2),
            to_float,
        ])
    return v2.Compose([v2.Resize(256, antialias=True), v2.CenterCrop(224), to_float])


def run(a, t, loader=None):
    def cpu():
        return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                        resource.getrusage(resource.RUSAGE_CHILDREN)))
    cpu0 = cpu()
    data = ImageFolder(a.folder, transform=t, **({"loader": loader} if loader else {}))
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
