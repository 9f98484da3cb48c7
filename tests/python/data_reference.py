"""Reference images for tests/data/test_data.cpp, computed with PIL / torchvision / gzip.

    data_reference.py images OUTDIR      decodes and resizes skimage photos with PIL
    data_reference.py fmnist OUTDIR      first Fashion-MNIST images and labels via gzip

Everything is written as lossless PNG (or text) for the C++ side to compare.
"""
import gzip
import os
import sys

import numpy as np
from PIL import Image

SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
OPENCV = "/usr/share/doc/opencv-doc/examples/data"  # Debian's opencv-doc


def save(img, out, name):
    img.save(os.path.join(out, name))


def images(out):
    # The Pillow that made the references: resize is reproduced exactly against Debian's 9.x.
    import PIL
    with open(os.path.join(out, "pillow_version.txt"), "w") as f:
        f.write(PIL.__version__)
    # Files PIL writes for the C++ decoder: a progressive and a grey JPEG, a 16-bit PNG.
    chelsea = Image.open(os.path.join(SKIMAGE, "chelsea.png")).convert("RGB")
    chelsea.save(os.path.join(out, "progressive.jpg"), quality=90, progressive=True)
    chelsea.convert("L").save(os.path.join(out, "gray.jpg"), quality=90)
    chelsea.convert("CMYK").save(os.path.join(out, "cmyk.jpg"), quality=95)
    ramp = (np.arange(40 * 50, dtype=np.uint32).reshape(40, 50) * 32 % 65536).astype(np.uint16)
    Image.fromarray(ramp).save(os.path.join(out, "gray16.png"))
    np.savetxt(os.path.join(out, "gray16_high.txt"), (ramp >> 8).reshape(-1), fmt="%d")
    # BMP and TGA (24-bit, and TGA run-length encoded) for the stb formats PNG/JPEG do not cover.
    chelsea.save(os.path.join(out, "chelsea.bmp"))
    chelsea.save(os.path.join(out, "chelsea.tga"))
    chelsea.save(os.path.join(out, "chelsea_rle.tga"), compression="tga_rle")

    # PIL's decoding of each source, as RGB (alpha over white as tlearn's default).
    sources = {
        "chelsea": os.path.join(SKIMAGE, "chelsea.png"),
        "coffee": os.path.join(SKIMAGE, "coffee.png"),
        "astronaut": os.path.join(SKIMAGE, "astronaut.png"),
        "rocket": os.path.join(SKIMAGE, "rocket.jpg"),
        "progressive": os.path.join(out, "progressive.jpg"),
        "gray": os.path.join(out, "gray.jpg"),
        "cmyk": os.path.join(out, "cmyk.jpg"),
        "palette_color": os.path.join(SKIMAGE, "palette_color.png"),
        "green_palette": os.path.join(SKIMAGE, "green_palette.png"),
        "indexed": os.path.join(SKIMAGE, "foo3x5x4indexed.png"),
        "gif": os.path.join(SKIMAGE, "no_time_for_that_tiny.gif"),
        "logo": os.path.join(SKIMAGE, "logo.png"),
        "camera": os.path.join(SKIMAGE, "camera.png"),
        "ocv_baboon": os.path.join(OPENCV, "baboon.jpg"),
        "ocv_fruits": os.path.join(OPENCV, "fruits.jpg"),
        "ocv_happyfish": os.path.join(OPENCV, "HappyFish.jpg"),
        "ocv_building": os.path.join(OPENCV, "building.jpg"),
        "ocv_box": os.path.join(OPENCV, "box.png"),
        "ocv_graf1": os.path.join(OPENCV, "graf1.png"),
    }
    for name, path in sources.items():
        im = Image.open(path)
        if im.mode == "P" and "transparency" in im.info:
            im = im.convert("RGBA")
        if im.mode in ("RGBA", "LA"):
            im = im.convert("RGBA")
            white = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, im)
        save(im.convert("RGB"), out, f"decoded_{name}.png")

    # Resampling of the (lossless) decoded photos.
    filters = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "area": Image.BOX}
    sizes = [(224, 224), (100, 150), (37, 53), (480, 640)]
    for name in ("chelsea", "coffee", "astronaut", "rocket"):
        im = Image.open(os.path.join(out, f"decoded_{name}.png")).convert("RGB")
        for fname, f in filters.items():
            for h, w in sizes:
                save(im.resize((w, h), f, reducing_gap=None), out, f"{name}_{fname}_{h}x{w}.png")

    # torchvision's eval transform: Resize(256) + CenterCrop(224) on PIL images.
    import torchvision.transforms as T
    for interp, fname in ((T.InterpolationMode.BILINEAR, "bilinear"), (T.InterpolationMode.BICUBIC, "bicubic")):
        t = T.Compose([T.Resize(256, interpolation=interp), T.CenterCrop(224)])
        for name in ("chelsea", "rocket"):
            im = Image.open(os.path.join(out, f"decoded_{name}.png")).convert("RGB")
            save(t(im), out, f"{name}_eval_{fname}.png")


def fmnist(out):
    root = "/usr/share/datasets/fashion-mnist"
    for split in ("train", "t10k"):
        with gzip.open(os.path.join(root, f"{split}-images-idx3-ubyte.gz"), "rb") as f:
            data = f.read()
        n = int.from_bytes(data[4:8], "big")
        first = np.frombuffer(data, dtype=np.uint8, count=28 * 28, offset=16).reshape(28, 28)
        Image.fromarray(first).save(os.path.join(out, f"{split}_first.png"))
        with gzip.open(os.path.join(root, f"{split}-labels-idx1-ubyte.gz"), "rb") as f:
            labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
        with open(os.path.join(out, f"{split}_labels.txt"), "w") as f:
            f.write(f"{n} {labels[0]} {np.bincount(labels, minlength=10).tolist()}\n")


if __name__ == "__main__":
    {"images": images, "fmnist": fmnist}[sys.argv[1]](sys.argv[2])
