"""Shared helpers for the CNN scripts (train_mnist_cnn.py, make_cifar10_minionn.py).

It reuses train_mnist_mlp.py's IDX reader, rounding, metadata and JSON helpers, and
adds what the convolutional models need:

* a model is described twice: as a torch nn.Module (trained, exported) and as a list
  of *steps* (conv, linear, relu, maxpool, avgpool, flatten, skip save/add) that a
  float interpreter and an exact fixed-point interpreter walk. The float interpreter
  must reproduce the module's logits (checked), so the steps are the module.
* the fixed-point interpreter does what veil does: x_int = round(x * 2^f), W_int =
  round(W * 2^f), b_int = round(b * 2^(2f)) (round half away from zero, Rust's
  f64::round), z = W_int * x_int + b_int at scale 2^(2f), ReLU then floor shift
  `max(z, 0) >> f` back to 2^f. BatchNormalization is folded into the conv before it in
  float64: s = gamma / sqrt(var + eps), W' = W * s, b' = (b - mean) * s + beta. A skip
  connection adds the saved block input (scale 2^f) shifted up by f to the conv output.
  MaxPool takes the max of the ints (it commutes with ReLU and the floor shift).
  AvgPool is veil's lowering (model/src/lower.rs): the window's integers are summed and
  the next Conv/Gemm's float weights are divided by the window's area before encoding
  (W_int = round(W / area * 2^f)); no rounding happens in the pool itself.
  Integers are held in float64 torch tensors: every product and partial sum is an
  integer below 2^53, so BLAS convolutions are exact (checked: results are integral).
* k: signed bits of the largest |pre-activation| fed to a ReLU or max-pool (any
  conv/linear output but the logits, any skip sum) at scale 2^(2f), or of the largest
  max - min within a max-pool window of pre-ReLU values (veil's MaxPoolRelu compares
  those; measured, not assumed to be twice the maximum) if that needs more, plus one
  bit of margin. Same rule as veil's model::reference::calibrate (min_k), plus the
  margin; the logits' bits are reported apart (its output_min_k).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnx.external_data_helper as ext
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_mnist_mlp import (  # noqa: E402  (shared with the MLP script on purpose)
    check_ort,
    describe,
    fit,
    dump_json,
    load_mnist,
    read_idx,
    round_half_away,
    set_metadata,
    strip_torch_annotations,
)

__all__ = [
    "describe", "dump_json", "load_mnist", "read_idx", "round_half_away", "set_metadata",
    "strip_torch_annotations", "Step", "float_forward", "fixed_forward", "choose_k",
    "signed_bits", "export_legacy", "export_dynamo", "check_ort", "op_summary", "fit",
    "to_image_input", "accuracy",
]


# ---------------------------------------------------------------------------- data

def to_image_input(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28] = pixel / 255 (in float32)."""
    return (images.astype(np.float32) / np.float32(255.0)).reshape(len(images), 1, 28, 28)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


# ---------------------------------------------------------------------------- steps

@dataclass
class Step:
    """One step of a model. kind: conv | linear | relu | maxpool | avgpool | flatten |
    save | add. `conv` may carry a BatchNorm2d `bn`; `add` adds the last `save`d tensor."""
    kind: str
    name: str = ""
    mod: nn.Module | None = None
    bn: nn.BatchNorm2d | None = None
    size: int = 2
    extra: dict = field(default_factory=dict)


def _conv_params(step: Step) -> tuple[np.ndarray, np.ndarray]:
    """The layer's weight and bias in float64, with any BatchNorm folded in."""
    m = step.mod
    w = m.weight.detach().numpy().astype(np.float64)
    out = w.shape[0]
    b = (m.bias.detach().numpy().astype(np.float64) if m.bias is not None
         else np.zeros(out))
    if step.bn is not None:
        bn = step.bn
        eps = float(np.float32(bn.eps))  # the ONNX attribute is a float32
        gamma = bn.weight.detach().numpy().astype(np.float64)
        beta = bn.bias.detach().numpy().astype(np.float64)
        mean = bn.running_mean.detach().numpy().astype(np.float64)
        var = bn.running_var.detach().numpy().astype(np.float64)
        s = gamma / np.sqrt(var + eps)
        w = w * s.reshape((-1,) + (1,) * (w.ndim - 1))
        b = (b - mean) * s + beta
    return w, b


def _apply_linear(step: Step, h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    m = step.mod
    if step.kind == "conv":
        return F.conv2d(h, w, b, stride=m.stride, padding=m.padding)
    return F.linear(h, w, b)


def float_forward(steps: list[Step], x: np.ndarray, chunk: int = 2000):
    """Float32 pass through the steps (BN as BatchNorm, not folded).
    Returns (logits [N, 10], {layer name: max |pre-activation|} incl. skip sums)."""
    outs, mx = [], {}
    with torch.no_grad():
        for s in range(0, len(x), chunk):
            h = torch.from_numpy(x[s : s + chunk])
            saved = pre = None
            for st in steps:
                if st.kind in ("conv", "linear"):
                    h = st.mod(h)
                    if st.bn is not None:
                        h = st.bn(h)
                    pre = (st.name, h)
                    mx[st.name] = max(mx.get(st.name, 0.0), float(h.abs().max()))
                elif st.kind == "relu":
                    h = torch.relu(h)
                elif st.kind == "maxpool":
                    key = pre[0] + ".window_spread"
                    mx[key] = max(mx.get(key, 0.0), float(_spread(pre[1], st.size).max()))
                    h = F.max_pool2d(h, st.size)
                elif st.kind == "avgpool":
                    h = F.avg_pool2d(h, st.size)
                elif st.kind == "flatten":
                    h = torch.flatten(h, 1)
                elif st.kind == "save":
                    saved = h
                elif st.kind == "add":
                    h = h + saved
                    pre = (st.name, h)
                    mx[st.name] = max(mx.get(st.name, 0.0), float(h.abs().max()))
                else:
                    raise ValueError(st.kind)
            outs.append(h.numpy())
    return np.concatenate(outs), mx


def _windows(h: torch.Tensor, q: int) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, H/q, q, W/q, q] (non-overlapping q x q windows, no padding)."""
    n, c, hh, ww = h.shape
    return h[:, :, : hh // q * q, : ww // q * q].reshape(n, c, hh // q, q, ww // q, q)


def _spread(h: torch.Tensor, q: int) -> torch.Tensor:
    """max - min of every q x q window."""
    w = _windows(h, q)
    return w.amax(dim=(3, 5)) - w.amin(dim=(3, 5))


def encode_steps(steps: list[Step], f: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Integer (held as float64) weights at 2^f and biases at 2^(2f), BN folded. A layer
    right after an AvgPool gets its weights divided by the window's area first (veil's
    lowering: the pool becomes a sum-pool feeding that layer, W / area)."""
    enc = {}
    divisor = 1
    for st in steps:
        if st.kind == "avgpool":
            divisor = st.size * st.size
        elif st.kind in ("conv", "linear"):
            w, b = _conv_params(st)
            w = w / divisor
            divisor = 1
            enc[st.name] = (torch.from_numpy(round_half_away(w * 2.0**f).astype(np.float64)),
                            torch.from_numpy(round_half_away(b * 2.0 ** (2 * f)).astype(np.float64)))
    return enc


def fixed_forward(steps: list[Step], x: np.ndarray, f: int, chunk: int = 1000):
    """Exact fixed-point pass. Returns (logits int64 [N, 10] at 2^(2f),
    {layer name: max |z| as int at 2^(2f)})."""
    enc = encode_steps(steps, f)
    one = 2.0**f
    outs, mx = [], {}
    with torch.no_grad():
        for s in range(0, len(x), chunk):
            h = torch.from_numpy(round_half_away(x[s : s + chunk].astype(np.float64) * one)
                                 .astype(np.float64))
            saved = pre = None
            for st in steps:
                if st.kind in ("conv", "linear"):
                    w, b = enc[st.name]
                    h = _apply_linear(st, h, w, b)
                    pre = (st.name, h)
                    mx[st.name] = max(mx.get(st.name, 0), int(h.abs().max()))
                elif st.kind == "relu":
                    h = torch.floor(torch.relu(h) / one)  # max(z, 0) >> f
                elif st.kind == "maxpool":
                    # veil max-pools the pre-ReLU values (MaxPoolRelu): its circuits
                    # compare differences of the conv outputs within a window.
                    key = pre[0] + ".window_spread"
                    mx[key] = max(mx.get(key, 0), int(_spread(pre[1], st.size).max()))
                    h = _windows(h, st.size).amax(dim=(3, 5))
                elif st.kind == "avgpool":
                    # a sum-pool; the next layer's weights carry the 1 / area
                    h = F.avg_pool2d(h, st.size, divisor_override=1)
                elif st.kind == "flatten":
                    h = torch.flatten(h, 1)
                elif st.kind == "save":
                    saved = h
                elif st.kind == "add":
                    h = h + saved * one  # skip at 2^f shifted up to 2^(2f)
                    pre = (st.name, h)
                    mx[st.name] = max(mx.get(st.name, 0), int(h.abs().max()))
                else:
                    raise ValueError(st.kind)
                if not bool((h == torch.round(h)).all()) or float(h.abs().max()) >= 2.0**52:
                    sys.exit(f"fixed point: step {st.kind} {st.name} left exact integers")
            outs.append(h.numpy().astype(np.int64))
    return np.concatenate(outs), mx


def signed_bits(m: int) -> int:
    """Smallest b with |z| <= m  =>  |z| < 2^(b-1)  (b = bitlen(m) + 1), as veil's
    reference::calibrate::min_bits."""
    return int(m).bit_length() + 1


def choose_k(fx_max: dict[str, int], fl_max: dict[str, float], f: int, logits: str) -> dict:
    """k from the maxima of a fixed-point and a float run (the larger of the two, at
    2^(2f)): bits for every value fed to a ReLU or max-pool (conv/linear/add outputs
    except the logits, the layer named `logits`) and for every max-pool window's spread
    (max - min, measured), + 1 bit of margin. The logits' own bits are reported
    (`logits_bits`) but do not count, as in veil's reference::calibrate (min_k vs
    output_min_k). Returns the details; ["k"] is the answer."""
    scale = 2.0 ** (2 * f)
    both = {n: max(int(fx_max[n]), math.ceil(fl_max[n] * scale)) for n in fx_max}
    values = {n: v for n, v in both.items() if not n.endswith(".window_spread") and n != logits}
    spreads = {n: v for n, v in both.items() if n.endswith(".window_spread")}
    max_value = max(values.values())
    max_spread = max(spreads.values(), default=0)
    need = max(signed_bits(max_value), signed_bits(max_spread))
    return {
        "k": need + 1, "bits_needed": need,
        "max_value": max_value, "max_value_real": max_value / scale,
        "max_spread": max_spread, "max_spread_real": max_spread / scale,
        "logits_max_real": both[logits] / scale, "logits_bits": signed_bits(both[logits]),
        "per_layer_real": {n: round(v / scale, 4) for n, v in both.items()},
        "bits_per_layer": {n: signed_bits(v) for n, v in both.items()},
    }


def logits_name(steps: list[Step]) -> str:
    return [st.name for st in steps if st.kind in ("conv", "linear")][-1]


# ---------------------------------------------------------------------------- ONNX

def op_summary(path: Path) -> list[str]:
    m = onnx.load(str(path), load_external_data=False)
    res = []
    for n in m.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()
                 if not isinstance(v, onnx.TensorProto)}
        res.append(f"{n.op_type}({len(n.input)} in){attrs if attrs else ''}")
    return res


def export_legacy(model: nn.Module, shape: tuple[int, ...], path: Path,
                  meta: dict[str, str], **kw) -> None:
    """Legacy (TorchScript) exporter, opset 17, weights embedded; kw go to export()."""
    model.eval()
    dummy = torch.zeros(*shape)
    args = dict(dynamo=False, opset_version=17, input_names=["input"],
                output_names=["logits"], export_params=True, do_constant_folding=True)
    args.update(kw)
    torch.onnx.export(model, (dummy,), str(path), **args)
    m = onnx.load(str(path))
    set_metadata(m, meta)
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    print(f"{path.name}: {[n.op_type for n in m.graph.node]}")


def export_dynamo(model: nn.Module, shape: tuple[int, ...], path: Path,
                  meta: dict[str, str]) -> None:
    """Dynamo exporter, every initializer in the side file `<name>.data`."""
    model.eval()
    data = path.with_name(path.name + ".data")
    for p in (path, data):
        p.unlink(missing_ok=True)
    dummy = torch.zeros(*shape)
    torch.onnx.export(model, (dummy,), str(path), dynamo=True, external_data=True,
                      input_names=["input"], output_names=["logits"])
    m = onnx.load(str(path), load_external_data=True)
    strip_torch_annotations(m)
    set_metadata(m, meta)
    onnx.checker.check_model(m)
    for p in (path, data):
        p.unlink(missing_ok=True)  # onnx appends to an existing data file
    # Every float initializer goes to the side file; integer ones (Reshape's shape)
    # stay embedded, as onnxruntime's shape inference cannot read those from outside.
    for t in m.graph.initializer:
        if t.data_type == onnx.TensorProto.FLOAT:
            ext.set_external_data(t, data.name)
    ext.write_external_data_tensors(m, str(path.parent))
    onnx.save(m, str(path))
    if not data.exists() or data.stat().st_size == 0:
        sys.exit(f"{path.name}: no side file {data.name} was produced")
    onnx.checker.check_model(str(path))
    print(f"{path.name}: {[n.op_type for n in m.graph.node]}, side file "
          f"{data.stat().st_size} bytes")


def write_json(path: Path, obj: dict) -> None:
    path.write_text(dump_json(obj))


def dumps(obj) -> str:
    return json.dumps(obj, indent=1)
