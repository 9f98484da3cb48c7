"""Keras (3, JAX backend) as the reference for tlearn's Keras weight files.

Runs in the test virtual environment with keras, jax and h5py (cmake/bootstrap.sh makes it).

  export MODEL DIR [--size N] [--top] [--classes N] [--alpha A] [--pooling avg|max] [--freeze N]
                   [--formats all|h5]
      builds keras.applications.MODEL (with `alpha` where given) with random weights (and random
      BatchNorm statistics, LayerNorm and LayerScale weights) and writes, in DIR:
        MODEL.h5           the legacy HDF5 layout of Keras 2 save_weights (layer_names, weight_names),
                           the layout of the official Keras Applications files
        MODEL.keras2.h5    the same layout as Keras 2 / TensorFlow wrote it (fixed-length strings,
                           "kernel:0" names, generated layer names counted from _1), the
                           official files' exact form
        MODEL.full.h5      a legacy full-model file (model.save("x.h5"): weights under model_weights/)
        MODEL.weights.h5   Keras 3 save_weights
        MODEL.keras        Keras 3 model.save (a zip with model.weights.h5)
        MODEL.io.safetensors  {input, output} for a random batch of 2, channels-first, and
                           "counts": Keras' count_params(), then its trainable and non-trainable
                           parameter counts with model.layers[:N] frozen (--freeze N, default 0)
      (--formats h5: MODEL.h5 and MODEL.io.safetensors only)
  predict MODEL WEIGHTS IN OUT [--size N] [--top] [--classes N] [--alpha A] [--tutorial]
      builds MODEL with weights=None (with --tutorial: the tutorial model below), load_weights(WEIGHTS)
      (a file tlearn wrote), and writes Keras' output for IN's "input" (channels-first) to OUT as {"output"}
  tutorial DIR [--size N]
      the VGG16 transfer model of the Keras tutorials: VGG16(include_top=False) + Flatten +
      Dense(256, relu) + Dropout(0.5) + Dense(1, sigmoid), saved as above as tutorial.*
"""
import argparse
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The suite runs tests side by side with one thread each (OMP_NUM_THREADS=1): XLA too.
if os.environ.get("OMP_NUM_THREADS") == "1":
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
# Keras runs eagerly here, and XLA compiling each operation took half of every run: the
# compiled operations are kept beside the environment (build-keras/jax-cache) for the
# next run, the other LibTorch lane's included.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(os.path.dirname(sys.prefix), "jax-cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensorfile import read_raw, write_raw  # noqa: E402


def write_safetensors(arrays, path):
    """Arrays to a safetensors file (this environment has no torch): int64 ones as they
    are, the rest as float32."""
    def entry(name, a):
        dtype, kind = ("I64", np.int64) if a.dtype == np.int64 else ("F32", np.float32)
        return (name, dtype, list(a.shape), np.ascontiguousarray(a, dtype=kind).tobytes())
    write_raw([entry(name, a) for name, a in arrays.items()], path)


def all_layers(model):
    """model.layers, with the layers of nested Sequentials (ConvNeXt's stem) in their place."""
    import keras
    for layer in model.layers:
        if isinstance(layer, keras.Sequential):
            yield from all_layers(layer)
        else:
            yield layer


def randomize_norms_and_scales(model, rng):
    """Random BatchNorm statistics, LayerNorm and LayerScale weights and Normalization
    constants, where Keras' initialisers would leave them at values that hide a swap
    (gamma 1, beta 0; LayerScale's 1e-6, which silences a ConvNeXt block)."""
    import keras
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.LayerNormalization):
            gamma, beta = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                               rng.uniform(-0.5, 0.5, beta.shape).astype("float32")])
        elif layer.__class__.__name__ == "LayerScale":
            (gamma,) = layer.get_weights()
            layer.set_weights([rng.uniform(0.1, 0.3, gamma.shape).astype("float32")])
        elif isinstance(layer, keras.layers.BatchNormalization):
            values = []
            for v in layer.weights:
                n = v.path.split("/")[-1]
                lo, hi = {"gamma": (0.5, 1.5), "beta": (-0.5, 0.5), "moving_mean": (-0.5, 0.5),
                          "moving_variance": (0.5, 1.5)}[n]
                values.append(rng.uniform(lo, hi, v.shape).astype("float32"))
            layer.set_weights(values)
        elif layer.__class__.__name__ == "Normalization" and layer.get_weights():
            # An ImageNet-like mean and variance, so the layer is not the identity
            # (EfficientNetV2 gives its Normalization constants: no weights).
            mean, variance, count = layer.get_weights()
            layer.set_weights([rng.uniform(0.4, 0.5, mean.shape).astype("float32"),
                               rng.uniform(0.04, 0.08, variance.shape).astype("float32"), count])
            layer.finalize_state()


def keras2_name(layer):
    """The layer's name as Keras 2.0 generated it: unnamed layers counted from 1 ("conv2d_1"
    where Keras 3 says "conv2d"), as in the official files of models with unnamed layers."""
    import re

    from keras.src.utils.naming import to_snake_case
    base = to_snake_case(layer.__class__.__name__)
    m = re.fullmatch(re.escape(base) + r"(?:_(\d+))?", layer.name)
    return layer.name if m is None else f"{base}_{int(m.group(1) or 0) + 1}"


def tf_keras_name(name):
    """MobileNetV3's layer names as TF-Keras gave them, and Keras' official files keep them:
    nested with "/" ("Conv/BatchNorm", "expanded_conv_1/squeeze_excite/Conv"), where
    Keras 3 says "conv_bn", "expanded_conv_1_squeeze_excite_conv"."""
    import re

    fixed = {"conv": "Conv", "conv_bn": "Conv/BatchNorm", "conv_1": "Conv_1", "conv_1_bn": "Conv_1/BatchNorm",
             "conv_2": "Conv_2", "logits": "Logits"}
    if name in fixed:
        return fixed[name]
    m = re.fullmatch(r"(expanded_conv(?:_\d+)?)_(expand|depthwise|project)(_bn|_pad)?", name)
    if m:
        return f"{m[1]}/{m[2]}" + {"_bn": "/BatchNorm", "_pad": "/pad", None: ""}[m[3]]
    m = re.fullmatch(r"(expanded_conv(?:_\d+)?)_squeeze_excite_(avg_pool|conv|relu|conv_1|mul)", name)
    if m:
        return f"{m[1]}/squeeze_excite/" + {"avg_pool": "AvgPool", "conv": "Conv", "relu": "Relu",
                                            "conv_1": "Conv_1", "mul": "Mul"}[m[2]]
    m = re.fullmatch(r"(expanded_conv(?:_\d+)?)_add", name)
    return f"{m[1]}/Add" if m else name


def save_keras2_layout(model, path):
    """The layout of the official Keras Applications files, written by Keras 2 / TensorFlow:
    fixed-length byte-string attributes, ":0"-suffixed weight names, Keras 2.0's numbering
    of generated layer names."""
    import h5py
    import keras
    with h5py.File(path, "w") as f:
        layers = [layer for layer in model.layers]
        tf_keras = model.name.startswith("MobileNetV3")
        names = [tf_keras_name(layer.name) if tf_keras else keras2_name(layer) for layer in layers]
        f.attrs["layer_names"] = np.array([n.encode() for n in names], dtype="S")
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for name, layer in zip(names, layers):
            g = f.require_group(name)  # "a/b/pad" makes "a/b" before layer "a/b" comes
            # A nested model (the tutorial's VGG16) keeps its own layers' names in its weights'.
            nested = isinstance(layer, keras.Model)
            names = [f"{w.path if nested else name + '/' + w.path.split('/')[-1]}:0" for w in layer.weights]
            g.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S")
            for n, w in zip(names, layer.weights):
                g.create_dataset(n, data=np.asarray(w.numpy()))


def parameter_counts(model, freeze):
    """count_params(), then trainable and non-trainable counts with layers[:freeze] frozen."""
    total = model.count_params()
    for layer in model.layers[:freeze]:
        layer.trainable = False
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return np.array([total, trainable, total - trainable], dtype=np.int64)


def save_all(model, out_dir, name, size, rng, formats="all", freeze=0):
    from keras.src.legacy.saving import legacy_h5_format
    import h5py

    with h5py.File(os.path.join(out_dir, name + ".h5"), "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    if formats == "all":
        save_keras2_layout(model, os.path.join(out_dir, name + ".keras2.h5"))
        legacy_h5_format.save_model_to_hdf5(model, os.path.join(out_dir, name + ".full.h5"))
        model.save_weights(os.path.join(out_dir, name + ".weights.h5"))
        model.save(os.path.join(out_dir, name + ".keras"))
    # Pixels 0..255 for models that rescale them themselves (MobileNetV3's Rescaling layer,
    # ConvNeXt's Normalization by 255 times ImageNet's mean and std).
    if any(layer.__class__.__name__ == "Rescaling" or layer.name.endswith("prestem_normalization")
           for layer in model.layers):
        x = rng.uniform(0, 255, (2, size, size, 3)).astype("float32")
    else:
        x = rng.standard_normal((2, size, size, 3)).astype("float32")
    y = np.asarray(model(x, training=False))
    to_nchw = (lambda a: a.transpose(0, 3, 1, 2)) if y.ndim == 4 else (lambda a: a)
    counts = parameter_counts(model, freeze)  # last: freezing changes what save_weights writes first
    write_safetensors({"input": x.transpose(0, 3, 1, 2), "output": to_nchw(y), "counts": counts},
                      os.path.join(out_dir, name + ".io.safetensors"))
    return x


def imagenet_twin(args, weights_path):
    """keras.applications.<model>(weights="imagenet") as Keras builds it for its own file
    (EfficientNet adds a layer then), loading `weights_path` where Keras would download."""
    import keras
    from keras.src.utils import file_utils
    download = file_utils.get_file
    file_utils.get_file = lambda *a, **k: weights_path
    try:
        return getattr(keras.applications, args.model)(
            weights="imagenet", include_top=args.top, input_shape=(args.size, args.size, 3))
    finally:
        file_utils.get_file = download


def build_model(args):
    """keras.applications.<args.model> with weights=None at args.size, as the arguments say."""
    import keras
    kwargs = dict(weights=None, include_top=args.top, input_shape=(args.size, args.size, 3))
    if args.top:
        kwargs["classes"] = args.classes
    if args.alpha is not None:
        kwargs["alpha"] = args.alpha
    if args.minimalistic:
        kwargs["minimalistic"] = True
    if args.pooling:
        kwargs["pooling"] = args.pooling
    return getattr(keras.applications, args.model)(**kwargs)


def cmd_export(args):
    import keras
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    model = build_model(args)
    randomize_norms_and_scales(model, rng)
    x = save_all(model, args.dir, args.model, args.size, rng, args.formats, args.freeze)
    if args.imagenet:
        twin = imagenet_twin(args, os.path.join(args.dir, args.model + ".h5"))
        y = np.asarray(twin(x, training=False))
        write_safetensors({"output": y.transpose(0, 3, 1, 2) if y.ndim == 4 else y},
                          os.path.join(args.dir, args.model + ".imagenet.safetensors"))


def tutorial_model(size):
    """VGG16(include_top=False) + Flatten + Dense(256, relu) + Dropout(0.5) + Dense(1, sigmoid)."""
    import keras
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
    model = keras.Sequential([
        base,
        keras.layers.Flatten(),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.build((None, size, size, 3))
    return model


def cmd_tutorial(args):
    import keras
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    save_all(tutorial_model(args.size), args.dir, "tutorial", args.size, rng)


def cmd_predict(args):
    """Keras' load_weights on a file tlearn wrote, then Keras' prediction on tlearn's input."""
    model = tutorial_model(args.size) if args.tutorial else build_model(args)
    model.load_weights(args.weights)
    x = read_raw(args.input)["input"].transpose(0, 2, 3, 1)
    y = np.asarray(model(x, training=False))
    write_safetensors({"output": y.transpose(0, 3, 1, 2) if y.ndim == 4 else y}, args.output)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("model")
    e.add_argument("dir")
    e.add_argument("--size", type=int, default=64)
    e.add_argument("--top", action="store_true")
    e.add_argument("--classes", type=int, default=1000)
    e.add_argument("--formats", choices=["all", "h5"], default="all")
    e.add_argument("--alpha", type=float)
    e.add_argument("--minimalistic", action="store_true")
    e.add_argument("--pooling", choices=["avg", "max"])
    e.add_argument("--imagenet", action="store_true",
                   help="also Keras' weights='imagenet' model on the same weights: MODEL.imagenet.safetensors")
    e.add_argument("--freeze", type=int, default=0)
    t = sub.add_parser("tutorial")
    t.add_argument("dir")
    t.add_argument("--size", type=int, default=64)
    r = sub.add_parser("predict")
    r.add_argument("model")
    r.add_argument("weights")
    r.add_argument("input")
    r.add_argument("output")
    r.add_argument("--size", type=int, default=64)
    r.add_argument("--top", action="store_true")
    r.add_argument("--classes", type=int, default=1000)
    r.add_argument("--alpha", type=float)
    r.add_argument("--minimalistic", action="store_true")
    r.add_argument("--pooling", choices=["avg", "max"])
    r.add_argument("--tutorial", action="store_true")
    args = p.parse_args()
    {"export": cmd_export, "tutorial": cmd_tutorial, "predict": cmd_predict}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
