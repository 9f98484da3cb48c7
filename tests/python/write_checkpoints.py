"""Writes the checkpoint fixtures for tests/io/test_io.cpp into argv[1]:
good files in every format torch.save writes (plus expected values as
hand-written safetensors) and bad files that must give a tlearn::Error."""
import collections
import io
import os
import pickle
import re
import struct
import sys
import warnings
import zipfile

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensorfiles import write_safetensors  # noqa: E402

out = sys.argv[1]
os.makedirs(os.path.join(out, "bad"), exist_ok=True)
torch.manual_seed(0)


def path(*names):
    return os.path.join(out, *names)


def misc_dict():
    base = torch.randn(4, 6)
    shared = torch.arange(24, dtype=torch.float32)
    d = collections.OrderedDict()
    d["f32"] = torch.randn(3, 4)
    d["f64"] = torch.randn(5, dtype=torch.float64)
    d["f16"] = torch.randn(2, 3).half()
    d["bf16"] = torch.randn(2, 3).bfloat16()
    d["i64"] = torch.tensor([-(2 ** 40), 0, 7, 2 ** 62], dtype=torch.int64)
    d["i32"] = torch.tensor([-5, 2 ** 31 - 1], dtype=torch.int32)
    d["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    d["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
    d["u8"] = torch.tensor([0, 255], dtype=torch.uint8)
    d["bool"] = torch.tensor([True, False, True])
    d["transposed"] = base.t()                       # non-contiguous view
    d["slice"] = base.view(-1)[7:13].view(2, 3)      # storage offset 7, same storage as "transposed"
    d["shared_a"] = shared.view(4, 6)
    d["shared_b"] = shared[6:12]                     # shares memory with shared_a
    d["scalar"] = torch.tensor(3.5)
    d["empty"] = torch.zeros(0, 3)
    d["param"] = torch.nn.Parameter(torch.randn(2, 2))
    return d


misc = misc_dict()
torch.save(misc, path("misc.pth"))
torch.save(misc, path("misc_legacy.pth"), _use_new_zipfile_serialization=False)
torch.save(misc, path("misc_proto4.pth"), pickle_protocol=4)
write_safetensors(path("misc_expected.safetensors"), misc, {"written_by": "write_checkpoints.py"})

# The same archive re-written with zip64 records (extra fields and end records).
src = zipfile.ZipFile(path("misc.pth"))
limit, count_limit = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 64, 2
with zipfile.ZipFile(path("misc_zip64.pth"), "w", zipfile.ZIP_STORED) as z:
    for info in src.infolist():
        with z.open(info.filename, "w", force_zip64=True) as f:
            f.write(src.read(info.filename))
zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = limit, count_limit
with open(path("misc_zip64.pth"), "rb") as f:
    assert b"PK\x06\x06" in f.read(), "zip64 end record missing"

# A real torchvision state dict with random weights, plain and wrapped.
model = torchvision.models.resnet18()
sd = model.state_dict()
torch.save(sd, path("resnet18.pth"))
torch.save(sd, path("resnet18_legacy.pth"), _use_new_zipfile_serialization=False)
torch.save({"epoch": 3, "arch": "resnet18", "best_acc1": 0.5, "state_dict": sd,
            "optimizer": torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9).state_dict()},
           path("resnet18_wrapped.pth"))
torch.save({"model": sd, "args": [1, 2.5, None, True]}, path("resnet18_model.pth"),
           _use_new_zipfile_serialization=False)
write_safetensors(path("resnet18_expected.safetensors"), sd)

# ---- bad inputs ----
good = open(path("misc.pth"), "rb").read()
legacy = open(path("misc_legacy.pth"), "rb").read()


def bad(name, data):
    with open(path("bad", name), "wb") as f:
        f.write(data)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def torch_like_zip(pkl, extra=()):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        for name, data in extra:
            z.writestr(name, data)
        z.writestr("archive/version", "3\n")
    return buf.getvalue()


def legacy_stream(main):
    return (pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) + pickle.dumps(1001, protocol=2) +
            pickle.dumps({"protocol_version": 1001, "little_endian": True,
                          "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2) + main)


bad("empty.pth", b"")
bad("truncated_zip.pth", good[: len(good) // 2])
bad("truncated_legacy.pth", legacy[:-10])
bad("wrong_magic.pth", b"hello, this is not a checkpoint at all\n" * 10)
bad("evil_zip.pth", torch_like_zip(pickle.dumps({"x": Evil()}, protocol=2)))
bad("evil_legacy.pth", legacy_stream(pickle.dumps({"x": Evil()}, protocol=2)))
bad("evil_eval.pth", torch_like_zip(b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1\x85R."))

# A storage record shorter than the pickle declares.
one = io.BytesIO()
torch.save({"x": torch.ones(4)}, one)
z = zipfile.ZipFile(io.BytesIO(one.getvalue()))
arch = z.namelist()[0].split("/")[0]
pkl = z.read(arch + "/data.pkl")
bad("short_record.pth", torch_like_zip(pkl, [("archive/data/0", b"\0" * 8)]))
# A storage that declares 10**15 elements (more than any file holds).
huge = re.sub(rb"(Xcpu\x00*.{0,2}?)K\x04t", lambda m: m.group(1) + b"\x8a\x08" + (10 ** 15).to_bytes(8, "little") + b"t",
              pkl.replace(b"X\x03\x00\x00\x00cpu", b"Xcpu\x00"), count=1, flags=re.S)
huge = huge.replace(b"Xcpu\x00", b"X\x03\x00\x00\x00cpu")
assert huge != pkl
bad("huge_numel.pth", torch_like_zip(huge.replace(b"archive", arch.encode()), [("archive/data/0", b"\0" * 16)]))
# A tensor view larger than its storage: size (9,) on a storage of 4 elements.
assert pkl.count(b"K\x04\x85") == 1
bad("view_past_storage.pth", torch_like_zip(pkl.replace(b"K\x04\x85", b"K\x09\x85"), [("archive/data/0", b"\0" * 16)]))
# The central directory offset points past the end of the file.
eocd = good.rfind(b"PK\x05\x06")
bad("bad_central_directory.pth", good[: eocd + 16] + struct.pack("<I", len(good) * 4) + good[eocd + 20:])
# A broadcast view of 2^40 elements over 12 stored ones (zero stride): torch.load accepts it,
# and the first copy of it would need 4 TiB.
bcast = io.BytesIO()
torch.save({"x": torch.zeros(12).as_strided((2 ** 40,), (0,))}, bcast)
bad("zero_stride_bomb.pth", bcast.getvalue())
# Sizes whose product overflows int64 (one of them zero): torch's own numel check would throw.
assert pkl.count(b"K\x01\x85") == 1
big = b"\x8a\x08" + (2 ** 62).to_bytes(8, "little")
overflow = pkl.replace(b"K\x04\x85", big + big + b"K\x00\x87").replace(b"K\x01\x85", b"K\x00K\x00K\x01\x87")
bad("overflow_sizes.pth", torch_like_zip(overflow, [("archive/data/0", b"\0" * 16)]))
# Two entries with one name: torch.load takes the first, other readers the last.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    bad("duplicate_entry.pth", torch_like_zip(pkl, [("archive/data/0", b"\0" * 16), ("archive/data/0", b"\1" * 16)]))
# A pickle of a million and more one-byte values: gigabytes of objects without a budget.
bad("pickle_bomb.pth", torch_like_zip(b"\x80\x02" + b"N" * 1200000 + b"."))
# Re-zipped with compression.
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zz, zipfile.ZipFile(path("misc.pth")) as src:
    for info in src.infolist():
        zz.writestr(info.filename, src.read(info.filename))
bad("compressed.pth", buf.getvalue())
# Hostile structure: a million nested tuples, and a list that contains itself.
bad("deep_nesting.pth", torch_like_zip(b"\x80\x02N" + b"\x85" * 1000000 + b"."))
bad("self_reference.pth", torch_like_zip(b"\x80\x02]q\x00h\x00a."))
# Not a state dict at all.
plain = io.BytesIO()
torch.save([torch.ones(2)], plain)
bad("list.pth", plain.getvalue())


def st(header_json, data, declared=None):
    h = header_json.encode()
    n = len(h) if declared is None else declared
    return struct.pack("<Q", n) + h + data


bad("st_short.safetensors", b"\x10\x00\x00\x00")
bad("st_truncated_header.safetensors", st('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', b"", 1000))
bad("st_offsets_past_end.safetensors", st('{"a": {"dtype": "F32", "shape": [100], "data_offsets": [0, 400]}}', b"\0" * 16))
bad("st_overlap.safetensors", st('{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},'
                                  ' "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}', b"\0" * 24))
bad("st_gap.safetensors", st('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}', b"\0" * 16))
bad("st_shape_mismatch.safetensors", st('{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}', b"\0" * 16))
bad("st_bad_json.safetensors", st('{"a": {"dtype": "F32", ', b"\0" * 16))
bad("st_bad_dtype.safetensors", st('{"a": {"dtype": "C64", "shape": [2], "data_offsets": [0, 16]}}', b"\0" * 16))
bad("st_negative_shape.safetensors", st('{"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}', b"\0" * 16))
bad("st_duplicate_key.safetensors", st('{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},'
                                       ' "a": {"dtype": "I32", "shape": [4], "data_offsets": [0, 16]}}', b"\0" * 16))
bad("st_overflow_shape.safetensors", st('{"a": {"dtype": "F32", "shape": [4294967296, 2147483648, 0], '
                                        '"data_offsets": [0, 0]}}', b""))
bad("st_many_keys.safetensors", st('{"__metadata__": {' + ", ".join('"%d": ""' % i for i in range(1100000)) + '}}', b""))
bad("st_huge_shape.safetensors", st('{"a": {"dtype": "F32", "shape": [4611686018427387904, 4], '
                                     '"data_offsets": [0, 16]}}', b"\0" * 16))



# A small handmade module, mirrored in test_io.cpp: own parameter and buffer, conv, batch norm, linear.
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.randn(1))
        self.register_buffer("step", torch.full((1,), 5.0))
        self.conv = torch.nn.Conv2d(3, 4, 3, bias=False)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 2)


net = Net()
net.bn.running_mean.normal_()
net.bn.running_var.uniform_(0.5, 2.0)
net.bn.num_batches_tracked.fill_(7)
torch.save(net.state_dict(), path("net.pth"))
print("fixtures written to", out)
