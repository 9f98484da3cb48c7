"""References of the fine-tuning recipe from torch, timm and scikit-learn.

  recipe_reference.py OUT_DIR

Writes into OUT_DIR:
  schedules.json   learning rates before each optimizer update of torch's and timm's schedulers
  ema.safetensors  a model's states over six updates and timm ModelEmaV3's averages of them
  mixup.safetensors + mixup.json   timm Mixup on one batch (MixUp, CutMix) and sampling statistics
  losses.safetensors + losses.json inputs and torch / torchvision / timm losses on them
  metrics.safetensors + metrics.json  logits, labels and scikit-learn's metrics on them
  weight_decay.json  timm's param_groups_weight_decay split of torchvision's resnet18
"""
import json
import os
import sys

import numpy as np
import sklearn.metrics as skm
import timm.loss
import timm.optim
import timm.scheduler
import timm.utils
import torch
import torchvision
from timm.data.mixup import Mixup, cutmix_bbox_and_lam, mixup_target

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensorfile import write_safetensors  # noqa: E402

PER_EPOCH, EPOCHS, LR = 7, 5, 0.1
TOTAL, WARMUP = PER_EPOCH * EPOCHS, PER_EPOCH


def lrs(make, steps=TOTAL):
    """The lr of each of `steps` optimizer updates under torch scheduler make(optimizer)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=LR)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def schedules(out):
    S = torch.optim.lr_scheduler
    result = {
        "per_epoch": PER_EPOCH, "epochs": EPOCHS, "lr": LR,
        # Cosine after a one-epoch linear warm-up from 1% (SequentialLR of LinearLR and CosineAnnealingLR).
        "cosine_warmup": lrs(lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.01, total_iters=WARMUP),
                                                          S.CosineAnnealingLR(o, T_max=TOTAL - WARMUP, eta_min=1e-4)],
                                                      milestones=[WARMUP])),
        "one_cycle": lrs(lambda o: S.OneCycleLR(o, max_lr=LR, total_steps=TOTAL, pct_start=0.3, cycle_momentum=False)),
        "step": lrs(lambda o: S.StepLR(o, step_size=2 * PER_EPOCH, gamma=0.5)),
        "multistep": lrs(lambda o: S.MultiStepLR(o, milestones=[2 * PER_EPOCH, 4 * PER_EPOCH], gamma=0.3)),
        "polynomial": lrs(lambda o: S.PolynomialLR(o, total_iters=TOTAL, power=2.0)),
    }
    # timm's cosine with the warm-up as a prefix, stepped per update.
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=LR)
    sched = timm.scheduler.CosineLRScheduler(opt, t_initial=TOTAL - WARMUP, lr_min=1e-4, warmup_t=WARMUP,
                                             warmup_lr_init=0.01 * LR, warmup_prefix=True, t_in_epochs=False)
    timm_lrs = []
    for t in range(TOTAL):
        sched.step_update(num_updates=t)
        timm_lrs.append(opt.param_groups[0]["lr"])
    result["timm_cosine_warmup"] = timm_lrs
    with open(os.path.join(out, "schedules.json"), "w") as f:
        json.dump(result, f)


def small_model():
    return torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Flatten(), torch.nn.Linear(12, 4))


def ema(out):
    torch.manual_seed(0)
    model = small_model()
    tensors = {"init/" + k: v.clone() for k, v in model.state_dict().items()}
    averages = {"copy": timm.utils.ModelEmaV3(model, decay=0.9, use_warmup=True, exclude_buffers=True),
                "average": timm.utils.ModelEmaV3(model, decay=0.9, use_warmup=True, exclude_buffers=False),
                "plain": timm.utils.ModelEmaV3(model, decay=0.7, use_warmup=False, exclude_buffers=True)}
    for step in range(1, 7):
        with torch.no_grad():
            for v in model.state_dict().values():
                if v.is_floating_point():
                    v.add_(torch.randn_like(v))
                else:
                    v.add_(3)
        for k, v in model.state_dict().items():
            tensors[f"step{step}/{k}"] = v.clone()
        for name, e in averages.items():
            e.update(model, step=step)
            for k, v in e.module.state_dict().items():
                tensors[f"{name}{step}/{k}"] = v.clone()
    write_safetensors(tensors, os.path.join(out, "ema.safetensors"))


def mixup(out):
    torch.manual_seed(1)
    x = torch.rand(6, 3, 20, 24)
    y = torch.tensor([0, 3, 1, 4, 2, 3])
    tensors, info = {"x": x, "y": y}, {}
    for name, mixer in [("mixup", Mixup(mixup_alpha=0.8, cutmix_alpha=0.0, label_smoothing=0.1, num_classes=5)),
                        ("cutmix", Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.1, num_classes=5))]:
        np.random.seed(3)
        lam, use_cutmix = mixer._params_per_batch()
        box = [0, 0, 0, 0]
        if use_cutmix:
            (yl, yh, xl, xh), lam = cutmix_bbox_and_lam(x.shape, lam, correct_lam=True)
            box = [int(yl), int(yh), int(xl), int(xh)]
        np.random.seed(3)
        mixed, target = mixer(x.clone(), y.clone())
        tensors[name + "/x"] = mixed
        tensors[name + "/target"] = target
        info[name] = {"lam": float(lam), "cutmix": bool(use_cutmix), "box": box}
    # Sampling statistics of the batch mode: both on, 80% of batches mixed, half of those CutMix.
    np.random.seed(4)
    mixer = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, prob=0.8, switch_prob=0.5, num_classes=5)
    draws = 20000
    unmixed, cut, lam_mix, lam_cut = 0, 0, [], []
    for _ in range(draws):
        lam, use_cutmix = mixer._params_per_batch()
        if lam == 1.0:
            unmixed += 1
        elif use_cutmix:
            cut += 1
            _, lam = cutmix_bbox_and_lam((1, 3, 32, 32), lam, correct_lam=True)
            lam_cut.append(lam)
        else:
            lam_mix.append(lam)
    info["stats"] = {"draws": draws, "unmixed": unmixed / draws, "cutmix": cut / draws,
                     "mixup_lam_mean": float(np.mean(lam_mix)), "mixup_lam_var": float(np.var(lam_mix)),
                     "cutmix_lam_mean": float(np.mean(lam_cut)), "cutmix_lam_var": float(np.var(lam_cut))}
    write_safetensors(tensors, os.path.join(out, "mixup.safetensors"))
    with open(os.path.join(out, "mixup.json"), "w") as f:
        json.dump(info, f)


def losses(out):
    torch.manual_seed(2)
    F = torch.nn.functional
    logits = torch.randn(16, 5) * 2
    labels = torch.randint(0, 5, (16,))
    soft = torch.softmax(torch.randn(16, 5), 1)
    ml_logits = torch.randn(16, 4) * 2
    ml_targets = (torch.rand(16, 4) > 0.6).float()
    pos_weight = torch.tensor([3.0, 1.0, 0.5, 2.0])
    one_hot = F.one_hot(labels, 5).float()
    result = {
        "soft_ce": timm.loss.SoftTargetCrossEntropy()(logits, soft).item(),
        "multilabel_bce": F.binary_cross_entropy_with_logits(ml_logits, ml_targets, pos_weight=pos_weight).item(),
        "focal_multilabel": torchvision.ops.sigmoid_focal_loss(ml_logits, ml_targets, alpha=0.25, gamma=2.0,
                                                               reduction="mean").item(),
        "focal_classes": torchvision.ops.sigmoid_focal_loss(logits, one_hot, alpha=-1, gamma=1.5, reduction="mean").item(),
        "smoothed_ce": F.cross_entropy(logits, labels, label_smoothing=0.1).item(),
        "mixup_target_ce": timm.loss.SoftTargetCrossEntropy()(logits, mixup_target(labels, 5, 0.3, 0.1)).item(),
    }
    write_safetensors({"logits": logits, "labels": labels, "soft": soft, "ml_logits": ml_logits,
                       "ml_targets": ml_targets, "pos_weight": pos_weight}, os.path.join(out, "losses.safetensors"))
    with open(os.path.join(out, "losses.json"), "w") as f:
        json.dump(result, f)


def metrics(out):
    g = torch.Generator().manual_seed(5)
    # Binary: one logit per sample, noisy in its label; scores rounded so that ties occur.
    yb = torch.randint(0, 2, (203,), generator=g)
    zb = (torch.randn(203, generator=g) + 1.2 * (yb.float() - 0.5) * 2).mul(4).round().div(4)
    # Five classes; class 4 is rare and never the argmax, class 3 never a label: scikit-learn's label union matters.
    yc = torch.randint(0, 4, (301,), generator=g)
    zc = torch.randn(301, 5, generator=g)
    zc[torch.arange(301), yc] += 1.0
    zc[:, 4] -= 6.0
    yc[:7] = 4
    yc[yc == 3] = 2
    # Multi-label, four labels.
    ym = (torch.rand(157, 4, generator=g) > 0.55).float()
    zm = torch.randn(157, 4, generator=g) + (ym - 0.5) * 1.5
    pb, pc, pm = (zb > 0).long().numpy(), zc.argmax(1).numpy(), (zm > 0).long().numpy()
    b, c, m = yb.numpy(), yc.numpy(), ym.long().numpy()
    probs = torch.softmax(zc.double(), 1).numpy()
    prf = skm.precision_recall_fscore_support(c, pc, labels=range(5), zero_division=0)
    result = {
        "binary": {"accuracy": skm.accuracy_score(b, pb), "precision": skm.precision_score(b, pb),
                   "recall": skm.recall_score(b, pb), "f1": skm.f1_score(b, pb),
                   "f1_micro": skm.f1_score(b, pb, average="micro"), "auc": skm.roc_auc_score(b, zb.numpy())},
        "classes": {"accuracy": skm.accuracy_score(c, pc),
                    "precision": skm.precision_score(c, pc, average="macro", zero_division=0),
                    "recall": skm.recall_score(c, pc, average="macro", zero_division=0),
                    "f1": skm.f1_score(c, pc, average="macro", zero_division=0),
                    "precision_micro": skm.precision_score(c, pc, average="micro"),
                    "f1_micro": skm.f1_score(c, pc, average="micro"),
                    # roc_auc_score needs every class among the labels: the four present ones, renormalized.
                    "auc_present": float(np.mean([skm.roc_auc_score(c == k, probs[:, k]) for k in [0, 1, 2, 4]])),
                    "confusion": skm.confusion_matrix(c, pc, labels=range(5)).tolist(),
                    "per_class_precision": prf[0].tolist(), "per_class_recall": prf[1].tolist(),
                    "per_class_f1": prf[2].tolist(), "support": prf[3].tolist()},
        "multilabel": {"accuracy": float((pm == m).mean()),
                       "precision": skm.precision_score(m, pm, average="macro", zero_division=0),
                       "recall": skm.recall_score(m, pm, average="macro", zero_division=0),
                       "f1": skm.f1_score(m, pm, average="macro", zero_division=0),
                       "f1_micro": skm.f1_score(m, pm, average="micro", zero_division=0),
                       "auc": skm.roc_auc_score(m, zm.numpy(), average="macro")},
    }
    write_safetensors({"zb": zb, "yb": yb, "zc": zc, "yc": yc, "zm": zm, "ym": ym},
                      os.path.join(out, "metrics.safetensors"))
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(result, f)


def weight_decay(out):
    model = torchvision.models.resnet18()
    groups = timm.optim.param_groups_weight_decay(model, weight_decay=0.05)
    ids = {id(p): n for n, p in model.named_parameters()}
    result = {"decay": sorted(ids[id(p)] for g in groups if g["weight_decay"] > 0 for p in g["params"]),
              "no_decay": sorted(ids[id(p)] for g in groups if g["weight_decay"] == 0 for p in g["params"])}
    with open(os.path.join(out, "weight_decay.json"), "w") as f:
        json.dump(result, f)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    schedules(out)
    ema(out)
    mixup(out)
    losses(out)
    metrics(out)
    weight_decay(out)


if __name__ == "__main__":
    main()
