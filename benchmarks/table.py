"""Turns the JSON lines of one benchmarks/run.sh run into its tables: each Python
variant a column, tlearn against the best of them and against eager.
  table.py ROWS.jsonl"""
import json
import statistics
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
machine = next((r for r in rows if r.get("mode") == "machine"), {})


def find(**kw):
    for r in rows:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


def median_row(**kw):
    """The rows matching kw (repeated runs), reduced to one with each number's median."""
    found = [r for r in rows if all(r.get(k) == v for k, v in kw.items())]
    if not found:
        return None
    return {k: statistics.median(r[k] for r in found) if isinstance(v, (int, float)) else v
            for k, v in found[0].items()}


def keys_in_order(mode_prefix):
    seen = []
    for r in rows:
        if r.get("impl") == "python" and r.get("mode", "").startswith(mode_prefix):
            k = (r["mode"], r["model"], r["batch"], r.get("dtype", "float32"))
            if k not in seen:
                seen.append(k)
    return seen


def cell(r):
    return f"{r['images_per_s']:.1f}" if r else "-"


def comparison(title, mode_prefix, variants, tlearn_mode, goals):
    """One table: a row per (mode, model, batch, dtype), a column per Python variant."""
    out = [title, "", "| row | " + " | ".join(variants) + " | tlearn | / best | / eager | goal |",
           "| --- | " + " | ".join("---:" for _ in variants) + " | ---: | ---: | ---: | --- |"]
    below = []
    for mode, model, batch, dtype in keys_in_order(mode_prefix):
        py = {v: find(impl="python", variant=v, mode=mode, model=model, batch=batch, dtype=dtype) for v in variants}
        t = find(impl="tlearn", mode=tlearn_mode(mode), model=model, batch=batch, dtype=dtype)
        measured = {v: r for v, r in py.items() if r}
        if not measured or not t:
            continue
        best_variant = max(measured, key=lambda v: measured[v]["images_per_s"])
        best = measured[best_variant]["images_per_s"]
        eager = measured.get("eager", {}).get("images_per_s")
        vs_best = t["images_per_s"] / best
        vs_eager = t["images_per_s"] / eager if eager else None
        goal_best, goal_eager = goals(mode)
        met = vs_best >= goal_best and (vs_eager is None or vs_eager >= goal_eager)
        error = ""  # tlearn's output against the plain float32 model's
        if t.get("logit_max_abs"):
            error = f"; rel. error {t['max_abs_diff'] / t['logit_max_abs']:.0e}"
        elif "max_abs_diff" in t:  # all-zero logits (a ViT's zero-initialised head)
            error = f"; abs. error {t['max_abs_diff']:.0e}"
        name = f"{mode.replace('inference', 'infer')} {model} b{batch}" + (" bf16" if dtype == "bfloat16" else "")
        cells = [(f"**{cell(py[v])}**" if v == best_variant else cell(py[v])) for v in variants]
        out.append(f"| {name} | " + " | ".join(cells) + f" | {t['images_per_s']:.1f} | {vs_best:.2f}x | "
                   + (f"{vs_eager:.2f}x" if vs_eager else "-")
                   + f" | {goal_best:.1f}x best, {goal_eager:.1f}x eager: {'met' if met else 'NOT met'}{error} |")
        if not met:
            below.append(name)
    return out, below


inference, below_i = comparison(
    "Inference, images/s (Python's best in bold; tlearn after `optimize_for_inference`):", "inference",
    ["eager", "torchscript", "compile", "onnxruntime"], lambda mode: mode + "-optimized",
    lambda mode: (1.0, 1.3))
training, below_t = comparison(
    "Training step (forward, backward, SGD), images/s (tlearn as its `Trainer` runs on the CPU: channels-last, freed memory kept):", "train",
    ["eager", "channels_last", "compile"], lambda mode: mode,
    lambda mode: (1.3, 1.3) if mode.endswith("freeze-half") else (1.0, 1.0))

other = ["| row | Python | tlearn | ratio | goal |", "| --- | ---: | ---: | ---: | --- |"]
py, t = median_row(impl="python", mode="load"), median_row(impl="tlearn", mode="load")
size = next((r["file_mb"] for r in rows if "file_mb" in r), None)
if py and t:
    other.append(f"| load vgg16 checkpoint (s) | {py['seconds']:.2f} | {t['seconds']:.2f} | "
                 f"{py['seconds'] / t['seconds']:.2f}x | 1.5x |")
    other.append(f"| load vgg16: peak RSS above model (MB; file {size} MB) | {py['peak_above_model_mb']:.0f} | "
                 f"{t['peak_above_model_mb']:.0f} | {t['peak_above_model_mb'] / size:.2f}x file | <= 1.2x file |")
a, b = median_row(mode="compile", impl="by_hand"), median_row(mode="compile", impl="with_tlearn")
if a and b:
    other.append(f"| compile one backbone (s; by hand vs tlearn) | {a['seconds']:.1f} | {b['seconds']:.1f} | "
                 f"{b['seconds'] / a['seconds']:.2f}x time | <= 1.3x |")

setup = [r for r in rows if r.get("impl") == "python" and r.get("setup_s", 0) > 0]
setup_line = ""
if setup:
    by_variant = {}
    for r in setup:
        by_variant.setdefault(r["variant"], []).append(r["setup_s"])
    setup_line = ("Setup time, excluded from images/s (median, max over the rows): " + "; ".join(
        f"{v} {statistics.median(s):.1f} s, {max(s):.1f} s" for v, s in by_variant.items()) + ".")

print(f"Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, 2 threads; "
      f"LibTorch {machine.get('libtorch', '?')}; Python's torch {machine.get('torch', '?')}, "
      f"onnxruntime {machine.get('onnxruntime', 'absent')}.")
print(f"Command: `{machine.get('command', 'bash benchmarks/run.sh').strip()}`\n")
print("\n".join(inference))
print()
print("\n".join(training))
print()
print(setup_line + "\n\n" if setup_line else "", end="")
if len(other) > 2:
    print("\n".join(other))
below = below_i + below_t
print()
print("Rows below their goal: " + (", ".join(below) if below else "none") + ".")
