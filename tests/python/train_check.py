"""Reference checks for tests/train/test_train.cpp (Debian's python3 + torch + torchvision).

  train_check.py tfevents FILE TAG VALUE...   parse a TFRecord event file by hand, check the
                                              first event is "brain.Event:2" and that the
                                              scalars of TAG are VALUE... (step order)
  train_check.py vgg11 PTH IO.safetensors     torch.load the C++ backbone export, load it strictly
                                              into torchvision's vgg11().features, compare outputs
  train_check.py gradscaler OUT.json G...     torch.amp.GradScaler("cpu", init_scale=8,
                                              growth_interval=2) over steps whose gradient is
                                              G (a number, "inf" or "nan") for a 3-element
                                              parameter under SGD(lr=0.1); writes scale, growth
                                              tracker and parameter after each step. Exits 77
                                              where torch has no CPU GradScaler (before 2.3).
"""
import struct
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from tensorfile import read_safetensors  # noqa: E402

_POLY = 0x82F63B78


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf, i):
    out, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        out |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return out, i


def fields(buf):
    """Protobuf message -> list of (field, value); value is bytes, int or raw fixed bytes."""
    i, out = 0, []
    while i < len(buf):
        key, i = varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        elif wire == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wire)
        out.append((field, v))
    return out


def records(path):
    data = open(path, "rb").read()
    i = 0
    while i < len(data):
        header = data[i:i + 8]
        (n,) = struct.unpack("<Q", header)
        (len_crc,) = struct.unpack("<I", data[i + 8:i + 12])
        assert len_crc == masked(header), "bad length CRC at %d" % i
        payload = data[i + 12:i + 12 + n]
        (data_crc,) = struct.unpack("<I", data[i + 12 + n:i + 16 + n])
        assert data_crc == masked(payload), "bad data CRC at %d" % i
        yield payload
        i += 16 + n


def check_tfevents(path, tag, expected):
    events = [dict(fields(r)) for r in records(path)]
    assert events[0][3] == b"brain.Event:2", events[0]
    got = []
    for e in events[1:]:
        assert 1 in e and 2 in e and 5 in e
        for f, value in fields(e[5]):
            v = dict(fields(value))
            if v[1].decode() == tag:
                got.append((e.get(2, 0), struct.unpack("<f", v[2])[0]))
    values = [v for _, v in sorted(got)]
    assert len(values) == len(expected), (values, expected)
    for a, b in zip(values, expected):
        assert abs(a - b) <= 1e-5 * max(1, abs(b)), (values, expected)
    print("tfevents ok:", len(events), "events,", tag, values)


def check_vgg11(pth, io_path):
    import torchvision
    sd = torch.load(pth)
    model = torchvision.models.vgg11()
    features = {k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")}
    assert len(features) == len(sd), "non-feature keys in the backbone export: %s" % [k for k in sd if k not in features]
    model.features.load_state_dict(features, strict=True)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and all(k.startswith("classifier.") for k in missing), (missing, unexpected)
    t = read_safetensors(io_path)
    with torch.no_grad():
        y = model.features.eval()(t["input"])
    err = (y - t["output"]).abs().max().item()
    assert err < 1e-4, err
    print("vgg11 export ok, max abs diff", err)


def gradscaler(out, grads):
    import json

    try:
        scaler = torch.amp.GradScaler("cpu", init_scale=8.0, growth_interval=2)
    except (AttributeError, TypeError, RuntimeError):
        sys.exit(77)
    p = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([p], lr=0.1)
    rows = []
    for g in grads:
        opt.zero_grad()
        loss = (p * torch.tensor([float(g), 1.0, -2.0])).sum()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        rows.append({"scale": scaler.get_scale(), "tracker": int(scaler._get_growth_tracker()),
                     "param": p.detach().tolist()})
    with open(out, "w") as f:
        json.dump(rows, f)


if __name__ == "__main__":
    if sys.argv[1] == "tfevents":
        check_tfevents(sys.argv[2], sys.argv[3], [float(v) for v in sys.argv[4:]])
    elif sys.argv[1] == "vgg11":
        check_vgg11(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "gradscaler":
        gradscaler(sys.argv[2], sys.argv[3:])
    else:
        sys.exit("unknown command " + sys.argv[1])
