"""Writes small Keras weight files into tests/fuzz/corpus/keras/ (committed; run again
only to change them): the keras fuzzer's seeds, and the files the io tests read with
tlearn's HDF5 reader (tests/io/test_io.cpp), each layout h5py and Keras write:

  legacy.h5       Keras' legacy save_weights (variable-length string attributes)
  keras2.h5       the official files' layout (fixed-length strings, ":0" names)
  full.h5         a full-model .h5 (model_weights group, model_config attribute)
  latest.h5       legacy layout with libver="latest" (superblock 3, version 2 object
                  headers, links as link messages)
  model.weights.h5, model.keras   Keras 3
  numbers.h5      one layer whose weights are every number type h5py writes, one compact
  chunked.h5      a chunked, compressed weight (refused: Keras never writes one)
and tests/fixtures/keras_expected.safetensors, the tiny model's weights and the numbers' values.

usage: build-keras/venv/bin/python tests/fuzz/make_keras_corpus.py   (cmake/bootstrap.sh makes it)"""
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "python"))
import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402
from keras_reference import save_keras2_layout, write_safetensors  # noqa: E402

root = os.path.join(here, "corpus", "keras")
os.makedirs(root, exist_ok=True)
path = lambda name: os.path.join(root, name)  # noqa: E731

keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((4, 4, 3)),
    keras.layers.Conv2D(2, 3, name="conv"),
    keras.layers.BatchNormalization(name="bn"),
    keras.layers.Flatten(name="flatten"),
    keras.layers.Dense(3, name="dense"),
], name="tiny")
rng = np.random.default_rng(0)
for layer in model.layers:
    for w in layer.weights:
        w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))

with h5py.File(path("legacy.h5"), "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, model)
save_keras2_layout(model, path("keras2.h5"))
legacy_h5_format.save_model_to_hdf5(model, path("full.h5"))
with h5py.File(path("latest.h5"), "w", libver="latest") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, model)
model.save_weights(path("model.weights.h5"))
model.save(path("model.keras"))

expected = {f"{layer.name}/{i}": np.asarray(w.numpy()) for layer in model.layers for i, w in enumerate(layer.weights)}

# Every number type, in the legacy layout; "compact" keeps its bytes in the object header.
values = np.arange(-3, 3, dtype=np.float64).reshape(2, 3)
types = {"f32": "<f4", "f64": "<f8", "f16": "<f2", "big_f32": ">f4", "i16": "<i2", "u8": "u1", "big_i32": ">i4"}
with h5py.File(path("numbers.h5"), "w") as f:
    f.attrs["layer_names"] = np.array([b"numbers"])
    g = f.create_group("numbers")
    names = list(types) + ["compact"]
    g.attrs["weight_names"] = np.array([n.encode() for n in names])
    for name, dtype in types.items():
        g.create_dataset(name, data=(values if dtype[-2] == "f" else values + 3).astype(dtype))
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    space = h5py.h5s.create_simple((2, 3))
    compact = h5py.h5d.create(g.id, b"compact", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
    compact.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(values, dtype="<f4"))
expected["numbers"] = values
expected["numbers_plus_3"] = values + 3

with h5py.File(path("chunked.h5"), "w") as f:
    f.attrs["layer_names"] = np.array([b"dense"])
    g = f.create_group("dense")
    g.attrs["weight_names"] = np.array([b"dense/kernel:0"])
    g.create_dataset("dense/kernel:0", data=np.ones((4, 3), "float32"), chunks=(2, 3), compression="gzip")

write_safetensors({k: v.astype("float32") for k, v in expected.items()}, os.path.join(root, "..", "..", "..", "fixtures",
                                                                                      "keras_expected.safetensors"))
for name in sorted(os.listdir(root)):
    print(name, os.path.getsize(path(name)))
