"""Minimal safetensors writer/reader for tests (Debian has no python3-safetensors); torch is
optional, for write_raw alone."""
import json
import struct

try:
    import torch
except ImportError:  # the Keras reference environment: write_raw only
    torch = None

_DTYPES = {} if torch is None else {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL"}
_TYPES = {v: k for k, v in _DTYPES.items()}


def _raw(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(tensors, path, metadata=None):
    write_raw([(name, _DTYPES[t.dtype], list(t.shape), _raw(t)) for name, t in tensors.items()], path, metadata)


def write_raw(entries, path, metadata=None):
    """(name, dtype name such as "F32", shape, bytes) entries to a safetensors file; needs no torch."""
    header, offset = {}, 0
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for entry in entries:
            f.write(entry[3])


def _read(path):
    """The JSON header and the data section of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        return header, f.read()


def read_safetensors(path):
    header, data = _read(path)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dtype = _TYPES[info["dtype"]]
        if dtype == torch.bfloat16:
            t = torch.frombuffer(bytearray(data[a:b]), dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(bytearray(data[a:b]), dtype=dtype) if b > a else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"])
    return out


def read_raw(path):
    """A float32 safetensors file as numpy arrays; needs no torch."""
    import numpy as np
    header, data = _read(path)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit(f"read_raw: {name} is {info['dtype']}, only F32 is supported")
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=np.float32).reshape(info["shape"])
    return out
