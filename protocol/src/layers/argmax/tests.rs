use super::*;
use crate::channel::{MemTransport, Phase, Scope, Tally};
use crate::layers::both_sides;
use crate::prg::{Prg, Seed};
use crate::share::split;
use rand_core::RngCore;
use std::thread;

/// Runs the layer on `x` split into random shares: the client's and server's outputs,
/// and their tallies.
fn run(x: &[u64]) -> ((Vec<u64>, Tally), (Vec<u64>, Tally)) {
    let protocol = ArgmaxGmw::new(x.len());
    let mut rng = Prg::new(Seed::random());
    let (s_mat, c_mat) = both_sides(&protocol, None, &mut rng);
    let (xs, xc) = split(x, &mut rng);
    let (a, b) = MemTransport::pair();
    let scope = Scope::layer(Phase::Online, 3);
    let m = x.len();
    let client = thread::spawn(move || {
        let mut ch = Channel::new(b);
        ch.enter(scope);
        let input = Inputs {
            x: Some(&xc),
            residual: None,
        };
        let y = ArgmaxGmw::new(m)
            .client_online(&mut ch, c_mat, input)
            .unwrap();
        ch.enter(Scope::CONTROL);
        (y, ch.meter().tally(scope))
    });
    let mut ch = Channel::new(a);
    ch.enter(scope);
    let input = Inputs {
        x: Some(&xs),
        residual: None,
    };
    let ys = protocol.server_online(&mut ch, None, s_mat, input).unwrap();
    ch.enter(Scope::CONTROL);
    (client.join().unwrap(), (ys, ch.meter().tally(scope)))
}

#[test]
fn the_client_opens_the_reference_label_and_the_server_holds_nothing() {
    let mut rng = Prg::new(Seed::random());
    let cases: Vec<Vec<i64>> = vec![
        vec![3, -1, 7, 7, 2, 0, -8, 1, 6, 5],
        vec![-5, -2, -9, -1, -1],
        vec![0, 0],
        vec![-9, -8],
        vec![1 << 45, -(1 << 45), (1 << 45) - 1],
        (0..10)
            .map(|_| (rng.next_u64() >> 20) as i64 - (1 << 43))
            .collect(),
        (0..37)
            .map(|_| (rng.next_u64() >> 30) as i64 - (1 << 33))
            .collect(),
    ];
    for values in cases {
        let x: Vec<u64> = values.iter().map(|&v| v as u64).collect();
        let ((yc, tc), (ys, ts)) = run(&x);
        assert_eq!(yc, vec![veil_model_argmax(&x) as u64], "{values:?}");
        assert_eq!(ys, vec![0], "the server's share reveals nothing");
        // Bytes and rounds as the cost formula replays them.
        let m = x.len();
        let (circuit, label) = bytes_sent(m);
        assert_eq!(
            (ts.sent, ts.received),
            ((circuit + label) as u64, circuit as u64)
        );
        assert_eq!(
            (tc.sent, tc.received),
            (circuit as u64, (circuit + label) as u64)
        );
        let mut clocks = Clocks::default();
        let total = ArgmaxGmw::new(m).online_cost(&mut clocks);
        assert_eq!(total, ts.sent + tc.sent);
        assert_eq!(tc.rounds(), clocks.depth());
    }
}

/// The plaintext reference's label: the first largest, read as signed.
fn veil_model_argmax(x: &[u64]) -> usize {
    (0..x.len()).fold(0, |best, i| {
        if (x[i] as i64) > (x[best] as i64) {
            i
        } else {
            best
        }
    })
}
