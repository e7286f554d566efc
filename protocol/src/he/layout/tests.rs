use super::*;
use crate::he::definition::negacyclic_mul_acc;
use crate::plan::SumPool;
use crate::prg::{Prg, Seed};
use rand_core::RngCore;

/// `acc += input ⊗ kernel` in Z_{2^64}[X]/(X^N + 1), by the definition over the kernel's
/// nonzero coefficients.
fn product(input: &[u64], kernel: &[i64], acc: &mut [u64]) {
    let terms: Vec<(usize, i64)> = (kernel.iter().copied().enumerate())
        .filter(|&(_, w)| w != 0)
        .collect();
    negacyclic_mul_acc(acc, input, &terms);
}

/// The layer's op by its layout, in the clear: every output read where the layout says.
fn by_layout(layer: &Linear, w: &[Ring], z: &[Ring]) -> Vec<Ring> {
    let layout = Layout::of(layer, 64);
    let (inputs, kernels) = (layout.encode_input(z), layout.kernels(w));
    assert_eq!(inputs.len(), layout.inputs());
    let mut y = vec![None; layer.op.output_len()];
    for out in 0..layout.outputs() {
        let mut acc = vec![0u64; N];
        for (i, k) in layout.products(out) {
            product(&inputs[i], &kernels[k], &mut acc);
        }
        for (k, index) in layout.at(out) {
            assert!(y[index].is_none(), "output {index} read twice");
            y[index] = Some(acc[k]);
        }
    }
    y.into_iter()
        .enumerate()
        .map(|(i, v)| v.unwrap_or_else(|| panic!("output {i} never read")))
        .collect()
}

fn random(n: usize, rng: &mut Prg, small: bool) -> Vec<Ring> {
    (0..n)
        .map(|_| match small {
            true => (rng.next_u64() % 2001).wrapping_sub(1000),
            false => rng.next_u64(),
        })
        .collect()
}

fn check(layer: Linear, rng: &mut Prg) {
    let w = random(layer.op.weight_len(), rng, true);
    let z = random(layer.op.input_len(), rng, false);
    assert_eq!(
        by_layout(&layer, &w, &z),
        layer.op.apply(&w, &z),
        "{layer:?}"
    );
}

#[test]
fn dense_outputs_land_where_the_layout_says() {
    let mut rng = Prg::new(Seed([4; 16]));
    for (rows, cols) in [(1, 1), (7, 5), (10, 100), (3, 9000), (40, 300)] {
        check(Linear::dense(rows, cols), &mut rng);
    }
}

#[test]
fn convolutions_with_padding_stride_and_blocks_land_where_the_layout_says() {
    let mut rng = Prg::new(Seed([5; 16]));
    let conv = |c, h, w, out, size, stride, pads| Linear {
        pool: None,
        op: LinearOp::Conv {
            input: Image { c, h, w },
            out_channels: out,
            window: Window { size, stride, pads },
        },
        residual: None,
    };
    for layer in [
        conv(1, 28, 28, 16, [5, 5], [1, 1], [0; 4]),
        conv(16, 12, 12, 16, [5, 5], [1, 1], [0; 4]),
        conv(1, 28, 28, 5, [5, 5], [2, 2], [1, 1, 2, 2]),
        conv(3, 9, 7, 4, [3, 2], [2, 1], [1, 0, 1, 1]),
        conv(5, 6, 6, 7, [1, 1], [2, 2], [0; 4]),
        // Larger than one polynomial: spatial blocks overlapping by the kernel.
        conv(2, 100, 90, 3, [3, 3], [1, 1], [1, 1, 1, 1]),
        conv(1, 130, 70, 2, [4, 3], [3, 2], [0; 4]),
    ] {
        check(layer, &mut rng);
    }
}

#[test]
fn a_pooled_layers_op_runs_on_the_pooled_input() {
    let mut rng = Prg::new(Seed([6; 16]));
    let input = Image { c: 2, h: 6, w: 6 };
    let layer = Linear {
        pool: Some(SumPool {
            input,
            window: Window::new([2, 2], [2, 2]),
        }),
        op: LinearOp::Dense { rows: 5, cols: 18 },
        residual: None,
    };
    let w = random(layer.op.weight_len(), &mut rng, true);
    let x = random(input.len(), &mut rng, false);
    let pooled = crate::linalg::sum_pool(input, Window::new([2, 2], [2, 2]), &x);
    assert_eq!(by_layout(&layer, &w, &pooled), layer.apply(&w, &x));
}

#[test]
fn kernels_share_a_product_when_the_input_leaves_room() {
    let layer = Layout::of(
        &Linear {
            pool: None,
            op: LinearOp::Conv {
                input: Image { c: 1, h: 28, w: 28 },
                out_channels: 16,
                window: Window::new([5, 5], [1, 1]),
            },
            residual: None,
        },
        34,
    );
    // 784 values: ten kernels per product, two replies for sixteen kernels.
    assert_eq!((layer.inputs(), layer.outputs()), (1, 2));
}
