use super::*;
use std::thread;

fn pair() -> (Channel<MemTransport>, Channel<MemTransport>) {
    let (a, b) = MemTransport::pair();
    (Channel::new(a), Channel::new(b))
}

#[test]
fn a_chain_of_messages_counts_its_depth_and_payload_exactly() {
    let (mut a, mut b) = pair();
    a.enter(Scope::phase(Phase::Online));
    b.enter(Scope::phase(Phase::Online));
    // a -> b -> a -> b: three dependent messages of 10, 20, 30 bytes.
    let t = thread::spawn(move || {
        b.recv().unwrap();
        b.send(&[0; 20]).unwrap();
        b.recv().unwrap();
        b
    });
    a.send(&[0; 10]).unwrap();
    a.recv().unwrap();
    a.send(&[0; 30]).unwrap();
    let b = t.join().unwrap();
    let (ta, tb) = (
        a.meter().tally(Scope::phase(Phase::Online)),
        b.meter().tally(Scope::phase(Phase::Online)),
    );
    assert_eq!((ta.sent, ta.received), (40, 20));
    assert_eq!((tb.sent, tb.received), (20, 40));
    assert_eq!(b.clock(), 3);
    assert_eq!(tb.rounds(), 3);
}

#[test]
fn simultaneous_sends_add_one_round_not_two() {
    let (mut a, mut b) = pair();
    let t = thread::spawn(move || {
        let v = b.open_ring(&[5, 6]).unwrap();
        (v, b.clock())
    });
    let v = a.open_ring(&[1, 2]).unwrap();
    let (w, cb) = t.join().unwrap();
    assert_eq!(v, vec![6, 8]);
    assert_eq!(v, w);
    assert_eq!((a.clock(), cb), (1, 1));
}

#[test]
fn open_shares_sends_only_the_bytes_it_needs() {
    let bits = |w: u64| Bits {
        words: vec![w],
        len: 4,
    };
    let (mut a, mut b) = pair();
    let t = thread::spawn(move || b.open_shares(&[&bits(0b1010)], &[7]).unwrap());
    let v = a.open_shares(&[&bits(0b0110)], &[5]).unwrap();
    assert_eq!(v, (vec![bits(0b1100)], vec![12]));
    assert_eq!(t.join().unwrap(), v);
    assert_eq!(a.meter().tally(Scope::CONTROL).sent, 1 + 8);
}

#[test]
fn a_short_frame_or_wrong_length_is_an_error_not_a_panic() {
    let (ta, mut tb) = MemTransport::pair();
    let mut a = Channel::new(ta);
    tb.send(&[1, 2, 3]).unwrap();
    assert!(matches!(a.recv(), Err(ChannelError::Malformed(_))));
    let mut frame = vec![9; 5];
    frame.extend_from_slice(&0u64.to_le_bytes());
    tb.send(&frame).unwrap();
    assert!(matches!(a.open_ring(&[1]), Err(OpenError::Decode(_))));
    let mut frame = vec![0xff];
    frame.extend_from_slice(&0u64.to_le_bytes());
    tb.send(&frame).unwrap();
    let four = Bits::zeros(4);
    assert!(
        matches!(a.open_shares(&[&four], &[]), Err(OpenError::Decode(_))),
        "bits past the end must be refused"
    );
}

#[test]
fn a_vanished_peer_is_reported_as_closed() {
    let (ta, tb) = MemTransport::pair();
    drop(tb);
    let mut a = Channel::new(ta);
    assert!(matches!(a.recv(), Err(ChannelError::Closed)));
}

#[test]
fn a_frame_over_the_incoming_limit_is_refused_until_the_limit_is_lifted() {
    let (mut ta, mut tb) = MemTransport::pair();
    ta.limit_incoming(Some(4));
    tb.send(&[1; 4]).unwrap();
    tb.send(&[2; 5]).unwrap();
    tb.send(&[3; 5]).unwrap();
    assert_eq!(ta.recv().unwrap(), vec![1; 4]);
    assert!(matches!(ta.recv(), Err(ChannelError::Malformed(TOO_LONG))));
    ta.limit_incoming(None);
    assert_eq!(ta.recv().unwrap(), vec![3; 5]);
}
