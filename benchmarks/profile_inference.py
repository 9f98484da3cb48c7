"""Where an inference row's time goes, tlearn beside ONNX Runtime: milliseconds per
forward pass by primitive (tlearn: oneDNN's verbose log; ONNX Runtime: its own
profiler), and the part of tlearn's wall time spent outside oneDNN (dispatch,
elementwise ops, allocation, threads waiting): the wall time of a run without
the log, less the primitives' time.
  python benchmarks/profile_inference.py BUILD_DIR MODEL BATCH [--threads 2]
tlearn's side is differenced over two run lengths, so model construction,
optimize_for_inference and warm-up cancel out."""
import argparse
import collections
import json
import os
import subprocess
import time

from models import onnxruntime_session  # benchmarks/models.py: the session its onnxruntime column runs


def tlearn_run(build, model, batch, repeats, threads, verbose=True):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    if verbose:
        env.update(ONEDNN_VERBOSE="1", DNNL_VERBOSE="1")
    out = subprocess.run([f"{build}/benchmarks/bench_models", "inference", model, str(batch), "--optimized",
                          "--repeats", str(repeats), "--threads", str(threads)],
                         env=env, capture_output=True, text=True, check=True).stdout
    by_kind = collections.Counter()
    ips = None
    for line in out.splitlines():
        if line.startswith("{"):
            ips = json.loads(line)["images_per_s"]
            continue
        f = line.split(",")
        if len(f) < 8 or "exec" not in f[:6]:
            continue
        at = f.index("exec")  # oneDNN 2: verbose,exec,cpu,KIND,IMPL,...; 3: verbose,primitive,exec,...
        kind, impl = f[at + 2], f[at + 3]
        # The attributes share one field ("attr-scratchpad:user attr-post-ops:eltwise_relu").
        post = next((a.split(":", 1)[1] for x in f for a in x.split() if a.startswith("attr-post-ops:")), "")
        label = f"{kind} {impl}" + (f" +{post}" if post else "")
        by_kind[label] += float(f[-1])
    return by_kind, ips


def tlearn_profile(build, model, batch, threads):
    short, long_ = 10, 60
    a, _ = tlearn_run(build, model, batch, short, threads)
    b, _ = tlearn_run(build, model, batch, long_, threads)
    _, ips = tlearn_run(build, model, batch, long_, threads, verbose=False)  # the log's printing costs time too
    per_forward = {k: (b[k] - a.get(k, 0)) / (long_ - short) for k in b}
    return {k: v for k, v in per_forward.items() if v > 0}, 1000.0 * batch / ips


def ort_profile(model_name, batch, threads):
    import torch
    import torchvision
    torch.manual_seed(0)
    model = getattr(torchvision.models, model_name)(weights=None).eval()
    x = torch.randn(batch, 3, 224, 224)
    session = onnxruntime_session(model, x, threads, profile=True)
    feed = {"x": x.numpy()}
    for _ in range(3):
        session.run(None, feed)
    runs = 20
    t0 = time.perf_counter()
    for _ in range(runs):
        session.run(None, feed)
    wall = (time.perf_counter() - t0) * 1000 / runs
    events = json.load(open(session.end_profiling()))
    by_op = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            by_op[e["args"].get("op_name", "?")] += e["dur"] / 1000.0
    total_runs = runs + 3
    return {k: v / total_runs for k, v in by_op.items()}, wall


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("model")
    p.add_argument("batch", type=int)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    t, t_wall = tlearn_profile(a.build, a.model, a.batch, a.threads)
    o, o_wall = ort_profile(a.model, a.batch, a.threads)
    print(f"{a.model} batch {a.batch}, {a.threads} threads: ms per forward pass")
    print(f"tlearn (optimize_for_inference): {t_wall:.2f} ms wall")
    for k, v in sorted(t.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {v:8.2f}  {k}")
    print(f"  {t_wall - sum(t.values()):8.2f}  outside oneDNN primitives")
    print(f"onnxruntime: {o_wall:.2f} ms wall")
    for k, v in sorted(o.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {v:8.2f}  {k}")
    print(f"  {o_wall - sum(o.values()):8.2f}  outside kernels")


if __name__ == "__main__":
    main()
