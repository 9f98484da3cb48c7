"""One linear layer's matrix product through LibTorch's two CPU paths: F.linear
(addmm: MKL's or OpenBLAS's sgemm) and oneDNN with weights prepacked once
(mkldnn._linear_pointwise, LibTorch 2.x). Default shape: vit_b_16's MLP
(197 tokens, 768 -> 3072). Prints ms per call and the largest difference.
--pack-rows packs the weight for another row count than it runs (tlearn packs
once, with no hint, for every batch size).
  python benchmarks/linear_backends.py [--rows 197] [--in 768] [--out 3072] [--threads 2] [--pack-rows N]"""
import argparse
import time

import torch


def ms_per_call(f, calls=50):
    for _ in range(5):
        f()
    t0 = time.perf_counter()
    for _ in range(calls):
        f()
    return (time.perf_counter() - t0) / calls * 1000


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=197)
    p.add_argument("--in", dest="fan_in", type=int, default=768)
    p.add_argument("--out", type=int, default=3072)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pack-rows", type=int, default=0, help="batch-size hint for the packing; 0: none, as tlearn")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x, w, b = torch.randn(a.rows, a.fan_in), torch.randn(a.out, a.fan_in), torch.randn(a.out)
    print(f"torch {torch.__version__}, {a.rows}x{a.fan_in} by {a.fan_in}x{a.out}, {a.threads} threads")
    with torch.no_grad():
        reference = torch.nn.functional.linear(x, w, b)
        print(f"F.linear (addmm)                  {ms_per_call(lambda: torch.nn.functional.linear(x, w, b)):.3f} ms")
        if not hasattr(torch.ops.mkldnn, "_reorder_linear_weight"):
            print("oneDNN prepacked linear: not in this LibTorch")
            return
        packed = (torch.ops.mkldnn._reorder_linear_weight(w, a.pack_rows) if a.pack_rows
                  else torch.ops.mkldnn._reorder_linear_weight(w))
        onednn = lambda: torch.ops.mkldnn._linear_pointwise(x, packed, b, "none", [], "")  # noqa: E731
        print(f"oneDNN, weights prepacked          {ms_per_call(onednn):.3f} ms")
        print(f"largest difference {(onednn() - reference).abs().max().item():.2e} "
              f"on values up to {reference.abs().max().item():.1f}")


if __name__ == "__main__":
    main()
