"""Python twin of load_checkpoint.cpp: torch.load + load_state_dict; time and peak RSS above the model.
  load_checkpoint.py NAME FILE.pth          (also: write NAME FILE.pth, to create the file)"""
import json
import sys
import time

import torch
import torchvision


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def main():
    if sys.argv[1] == "write":
        torch.save(getattr(torchvision.models, sys.argv[2])(weights=None).state_dict(), sys.argv[3])
        return
    name, path = sys.argv[1], sys.argv[2]
    torch.set_num_threads(2)
    model = getattr(torchvision.models, name)(weights=None)
    base = status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    t0 = time.perf_counter()
    state = torch.load(path)
    model.load_state_dict(state)
    del state
    seconds = time.perf_counter() - t0
    print(json.dumps({"impl": "python", "mode": "load", "model": name, "seconds": seconds,
                      "peak_above_model_mb": (status_kb("VmHWM") - base) / 1024.0}))


if __name__ == "__main__":
    main()
