#!/usr/bin/env python3
"""Write MiniONN's CIFAR-10 CNN with RANDOM weights as models/cifar10-minionn.onnx.

No CIFAR-10 data was reachable where veil's models were made, so this network is NOT
trained: its weights are a seeded Kaiming-uniform initialisation. It is there to
exercise veil on a network of MiniONN's CIFAR-10 shape and size (cost, depth, the
AveragePool and 1x1 Conv paths); its predictions mean nothing. The file says so in its
metadata (`veil.note`).

Reproduce
---------
    pip install torch onnx onnxruntime numpy
    python models/make_cifar10_minionn.py

Model (input: ONE image, float32 [1, 3, 32, 32], values in [0, 1]; output "logits"
[1, 10])
-----------------------------------------------------------------------------------
Conv3x3 3->64 pad 1 -> ReLU -> Conv3x3 64->64 pad 1 -> ReLU -> AvgPool 2x2 ->
Conv3x3 64->64 pad 1 -> ReLU -> Conv3x3 64->64 pad 1 -> ReLU -> AvgPool 2x2 ->
Conv3x3 64->64 pad 1 -> ReLU -> Conv1x1 64->64 -> ReLU -> Conv1x1 64->16 -> ReLU ->
Flatten (16*8*8 = 1024) -> FC 1024->10.

Weights: kaiming_uniform_(nonlinearity="relu") for every conv, kaiming_uniform_(
nonlinearity="linear") for the FC, biases uniform(+-1/sqrt(fan_in)) (PyTorch's default
bias init), torch.manual_seed(SEED).

f and k: f = 12; k = signed bits of the largest |pre-activation| (any conv output) at
2^(2f) over 2,000 random inputs in [0, 1] (seeded; 1,000 i.i.d. uniform pixels, 1,000
smooth: uniform 4x4 / 8x8 images upsampled bilinearly), in float and in the exact
fixed-point simulation (veil_export.py), + 1 bit of margin (no max-pool, so no
window differences). The AvgPools have no padding, so every window has 4 elements.

Also writes fixtures/cifar10-minionn-torch.json: torch and fixed-point logits for four
inputs defined by a formula (no data file needed), see INPUT_FORMULA.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import veil_export as vx

SEED = 20240607
N_RANDOM = 2000
N_FIXTURE = 4
K_MAX = 62
F_BITS = 12
SHAPE = (1, 3, 32, 32)
INPUT_FORMULA = ("x[n] = float32(((i * 7919 + n * 104729) mod 256) / 255) for the flat "
                 "C-order index i in 0..3072 of the [1, 3, 32, 32] input (n = 0..3); "
                 "division in float32")


class Cifar10Minionn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1)
        self.conv2 = nn.Conv2d(64, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.conv4 = nn.Conv2d(64, 64, 3, padding=1)
        self.conv5 = nn.Conv2d(64, 64, 3, padding=1)
        self.conv6 = nn.Conv2d(64, 64, 1)
        self.conv7 = nn.Conv2d(64, 16, 1)
        self.fc = nn.Linear(1024, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = F.avg_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.conv3(x))
        x = F.avg_pool2d(torch.relu(self.conv4(x)), 2)
        x = torch.relu(self.conv5(x))
        x = torch.relu(self.conv6(x))
        x = torch.relu(self.conv7(x))
        return self.fc(torch.flatten(x, 1))

    def steps(self):
        S = vx.Step
        return [S("conv", "conv1", self.conv1), S("relu"),
                S("conv", "conv2", self.conv2), S("relu"), S("avgpool"),
                S("conv", "conv3", self.conv3), S("relu"),
                S("conv", "conv4", self.conv4), S("relu"), S("avgpool"),
                S("conv", "conv5", self.conv5), S("relu"),
                S("conv", "conv6", self.conv6), S("relu"),
                S("conv", "conv7", self.conv7), S("relu"), S("flatten"),
                S("linear", "fc", self.fc)]


def init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nonlin = "relu" if isinstance(m, nn.Conv2d) else "linear"
            nn.init.kaiming_uniform_(m.weight, nonlinearity=nonlin)
            fan_in = m.weight[0].numel()
            nn.init.uniform_(m.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))


def random_inputs(n: int) -> np.ndarray:
    """n inputs in [0, 1], seeded: the first half i.i.d. uniform pixels, the second half
    smooth images (uniform 4x4 or 8x8 per channel, bilinearly upsampled to 32x32),
    closer to natural images' spatial correlation (which i.i.d. noise averages away)."""
    gen = torch.Generator().manual_seed(SEED)
    half = n // 2
    iid = torch.rand((half, 3, 32, 32), generator=gen)
    smooth = []
    for i in range(n - half):
        r = 4 if i % 2 == 0 else 8
        low = torch.rand((1, 3, r, r), generator=gen)
        smooth.append(F.interpolate(low, size=(32, 32), mode="bilinear", align_corners=True))
    x = torch.cat([iid] + smooth).clamp(0, 1).to(torch.float32)
    return x.numpy()


def formula_inputs(n: int) -> np.ndarray:
    i = np.arange(3 * 32 * 32, dtype=np.int64)
    xs = [(((i * 7919 + k * 104729) % 256).astype(np.float32) / np.float32(255.0))
          .reshape(SHAPE) for k in range(n)]
    return np.concatenate(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                    help="output folder (default: this script's folder, models/)")
    args = ap.parse_args()
    out: Path = args.out
    (out / "fixtures").mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    t0 = time.time()

    torch.manual_seed(SEED)
    model = Cifar10Minionn()
    init_weights(model)
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    steps = model.steps()

    x = random_inputs(N_RANDOM)
    with torch.no_grad():
        ref = np.concatenate([model(torch.from_numpy(x[s : s + 250])).numpy()
                              for s in range(0, N_RANDOM, 250)])
    fl_logits, fl_max = vx.float_forward(steps, x, chunk=250)
    assert np.abs(fl_logits - ref).max() < 1e-4
    f = F_BITS
    fx_logits, fx_max = vx.fixed_forward(steps, x, f, chunk=100)
    kk = vx.choose_k(fx_max, fl_max, f, vx.logits_name(steps))
    k = kk["k"]
    assert 2 * f < k <= K_MAX
    agree = float((fx_logits.argmax(1) == ref.argmax(1)).mean())
    err = float(np.abs(fx_logits / 2.0 ** (2 * f) - ref).max())
    hist = np.bincount(ref.argmax(1), minlength=10).tolist()
    print(f"[{time.time() - t0:.0f}s] {n_params} parameters; f={f}: {json.dumps(kk)}")
    print(f"fixed vs float over {N_RANDOM} random inputs: argmax agrees {agree:.4f}, "
          f"max |logit error| {err:.4g}; float argmax histogram {hist}")

    meta = {
        "veil.f": str(f),
        "veil.k": str(k),
        "veil.input_min": "0",
        "veil.input_max": "1",
        "veil.note": "RANDOM weights (seeded Kaiming-uniform), not trained: no CIFAR-10 "
                     "data was available. Only for cost/shape tests; predictions are "
                     "meaningless. f, k measured over 2000 random inputs in [0, 1].",
        "veil.trained_by": "models/make_cifar10_minionn.py (untrained)",
    }
    path = out / "cifar10-minionn.onnx"
    vx.export_legacy(model, SHAPE, path, meta)
    vx.check_ort(path, x[:200], ref[:200], meta)
    print(json.dumps({path.name: vx.describe(path)}, indent=1))
    print(vx.op_summary(path))

    fxin = formula_inputs(N_FIXTURE)
    with torch.no_grad():
        one = [model(torch.from_numpy(fxin[i : i + 1]))[0].numpy() for i in range(N_FIXTURE)]
    fx_one, _ = vx.fixed_forward(steps, fxin, f)
    fixture = {
        "description": "MiniONN CIFAR-10 CNN with RANDOM weights (models/cifar10-minionn.onnx) "
                       "on four formula inputs",
        "made_by": "models/make_cifar10_minionn.py",
        "input": "float32 [1, 3, 32, 32]; " + INPUT_FORMULA,
        "f": f,
        "k": k,
        "indices": list(range(N_FIXTURE)),
        "torch_logits": [[float(v) for v in row] for row in one],
        "torch_logits_note": "float32 values written as the exact float64 they widen to",
        "torch_predictions": [int(r.argmax()) for r in one],
        "fixed_logits": [[int(v) for v in row] for row in fx_one],
        "fixed_logits_note": "int64 at scale 2^(2f); encode = round half away from zero "
                             "(f64::round) of x*2^f, W*2^f, b*2^(2f); after each Conv: "
                             "ReLU then >> f (floor); AveragePool 2x2 as veil lowers it "
                             "(model/src/lower.rs): the sum of the 4 integers, and the next "
                             "Conv's weights divided by 4 in f64 before encoding "
                             "(round(W/4 * 2^f))",
        "fixed_predictions": [int(r.argmax()) for r in fx_one],
    }
    fx_path = out / "fixtures" / "cifar10-minionn-torch.json"
    vx.write_json(fx_path, fixture)
    print(f"[{time.time() - t0:.0f}s] wrote {path.name} ({path.stat().st_size} bytes), "
          f"{fx_path.name} ({fx_path.stat().st_size} bytes); f={f} k={k}")


if __name__ == "__main__":
    main()
