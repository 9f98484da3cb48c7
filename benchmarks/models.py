"""Python twins of benchmarks/models.cpp: same models (torchvision), inputs, thread
count, warm-up and repeats; prints one JSON line per run. Each --variant is a way a
Python user runs a model for speed:
  inference: eager (as it comes), torchscript (scripted, frozen and
             optimize_for_inference: BatchNorm folded, oneDNN weights prepacked),
             compile (torch.compile with inductor's freezing, PyTorch 2.x),
             onnxruntime (exported by torch.onnx, all graph optimisations on);
  train:     eager (as it comes), channels_last (model and input channels-last;
             run.sh also sets MALLOC_MMAP_MAX_=0, tlearn's allocator setting),
             compile (channels_last plus torch.compile, PyTorch 2.x).
  models.py inference|train NAME BATCH [--variant V] [--dtype float32|bfloat16]
            [--freeze-half] [--threads N]
Setting a variant up (scripting, exporting, compiling) is timed apart and reported
as setup_s, never inside images_per_s."""
import argparse
import json
import os
import statistics
import tempfile
import time

import torch
import torchvision


def median_seconds(step, warmup, repeats):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def onnxruntime_session(model, x, threads, profile=False):
    """The model exported by torch.onnx (input "x") in an ONNX Runtime CPU session
    with every graph optimisation on, `threads` intra-op threads."""
    import onnxruntime as ort
    path = os.path.join(tempfile.mkdtemp(), "model.onnx")
    kwargs = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
    torch.onnx.export(model, (x,), path, input_names=["x"], opset_version=17, **kwargs)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    if profile:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(os.path.dirname(path), "ort")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def inference_step(model, x, variant, threads):
    """Returns (step, setup seconds) for one way of running the model."""
    t0 = time.perf_counter()
    if variant == "eager":
        def step():
            with torch.no_grad():
                model(x)
    elif variant == "torchscript":
        with torch.no_grad():
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))

        def step():
            with torch.no_grad():
                frozen(x)
    elif variant == "compile":
        import torch._inductor.config as inductor
        inductor.freezing = True  # folds weights and BatchNorm as constants, prepacks them
        compiled = torch.compile(model, mode="max-autotune-no-cudagraphs")
        with torch.no_grad():
            compiled(x)  # compiles here, so setup_s holds the compile time

        def step():
            with torch.no_grad():
                compiled(x)
    elif variant == "onnxruntime":
        session = onnxruntime_session(model, x, threads)
        feed = {"x": x.numpy()}

        def step():
            session.run(None, feed)
    else:
        raise SystemExit(f"unknown inference variant {variant}")
    return step, time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["inference", "train"])
    p.add_argument("name")
    p.add_argument("batch", type=int)
    p.add_argument("--variant", default="eager")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--freeze-half", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", type=int, default=224)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dtype = getattr(torch, a.dtype)
    model = getattr(torchvision.models, a.name)(weights=None).to(dtype)
    x = torch.randn(a.batch, 3, a.size, a.size, dtype=dtype)
    repeats = 15 if a.batch == 1 else 5
    setup = 0.0
    if a.mode == "inference":
        model.eval()
        step, setup = inference_step(model, x, a.variant, a.threads)
        seconds = median_seconds(step, 2, repeats)
    else:
        model.train()
        if a.variant in ("channels_last", "compile"):
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        elif a.variant != "eager":
            raise SystemExit(f"unknown train variant {a.variant}")
        if a.freeze_half:
            # The same layers tlearn's first(half of the layer table) freezes: parameters in
            # module order up to half of the leaf modules with parameters.
            leaves = [m for m in model.modules() if len(list(m.children())) == 0]
            for m in leaves[: len(leaves) // 2]:
                for prm in m.parameters():
                    prm.requires_grad_(False)
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eval()
        params = [prm for prm in model.parameters() if prm.requires_grad]
        sgd = torch.optim.SGD(params, lr=0.01, momentum=0.9)
        labels = torch.randint(0, 1000, (a.batch,))
        forward = model
        if a.variant == "compile":
            t0 = time.perf_counter()
            forward = torch.compile(model)
            torch.nn.functional.cross_entropy(forward(x), labels).backward()  # compiles forward and backward
            sgd.zero_grad()
            setup = time.perf_counter() - t0

        def step():
            sgd.zero_grad()
            loss = torch.nn.functional.cross_entropy(forward(x), labels)
            loss.backward()
            sgd.step()
        seconds = median_seconds(step, 1, 3)
    mode = a.mode + ("-freeze-half" if a.freeze_half else "")
    print(json.dumps({"impl": "python", "variant": a.variant, "mode": mode, "model": a.name, "batch": a.batch,
                      "dtype": a.dtype, "images_per_s": a.batch / seconds, "setup_s": round(setup, 2)}))


if __name__ == "__main__":
    main()
