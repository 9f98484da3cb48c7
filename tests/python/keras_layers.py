"""Reference layer tables from Keras Applications (Keras 3, any backend), for tests/fixtures/keras_layers/.

    keras_layers.py OUTDIR [MODEL...]    writes OUTDIR/MODEL.tsv for each model (default: all of MODELS)

Each model is built with weights=None and include_top=True at its default input size, in a
fresh Python process, so that auto-generated layer names carry no numeric suffixes from
models built before it. A file is one comment line, then one row per entry of model.layers:
index<TAB>name<TAB>class_name<TAB>count_params().
"""
import os
import subprocess
import sys

MODELS = [
    "VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "InceptionV3",
    "MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large",
    "DenseNet121", "DenseNet169", "DenseNet201", "EfficientNetB0", "EfficientNetB3",
    "EfficientNetV2B0", "EfficientNetV2S", "Xception", "ConvNeXtTiny", "NASNetMobile",
    "InceptionResNetV2",
]

def write_one(name, outdir):
    import keras

    keras.backend.clear_session()
    ctor = getattr(keras.applications, name)
    kwargs = {"weights": None}  # otherwise Keras' defaults: its tables are what a Keras user gets
    model = ctor(**kwargs)
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    path = os.path.join(outdir, name + ".tsv")
    with open(path, "w") as f:
        f.write(f"# keras {keras.__version__}, keras.applications.{name}({args}); "
                "one row per model.layers entry: index, name, class, parameter count\n")
        for i, layer in enumerate(model.layers):
            f.write(f"{i}\t{layer.name}\t{layer.__class__.__name__}\t{layer.count_params()}\n")
    print(f"{path}: {len(model.layers)} layers")


def main(argv):
    if len(argv) == 3 and argv[0] == "--one":
        write_one(argv[1], argv[2])
        return
    if not argv:
        sys.exit(__doc__)
    outdir, names = argv[0], argv[1:] or MODELS
    os.makedirs(outdir, exist_ok=True)
    for name in names:
        subprocess.run([sys.executable, os.path.abspath(__file__), "--one", name, outdir], check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
