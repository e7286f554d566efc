use super::*;
use crate::material::Preprocessing;
use crate::plan::card::{Channels, ImagePrep, Layout};
use crate::plan::{LayerKind, PlanLayer};
use crate::ring::FixedPoint;

fn plan() -> Plan {
    Plan {
        model: "m".into(),
        input_shape: vec![2],
        input_range: (0.0, 1.0),
        fixed: FixedPoint { f: 8, k: 24 },
        backend: Backend::Gmw,
        layers: vec![PlanLayer {
            name: "fc".into(),
            kind: LayerKind::dense(1, 2),
        }],
    }
}

#[test]
fn every_message_round_trips_and_truncation_is_an_error() {
    let session = SessionId([3; 16]);
    let tally = Tally {
        sent: 1,
        received: 2,
        first_clock: 3,
        last_clock: 4,
    };
    let to_server = [
        ToServer::Hello {
            model: None,
            backend: Backend::Gmw,
            label_only: false,
            card: false,
        },
        ToServer::Hello {
            model: Some("mnist".into()),
            backend: Backend::Gc,
            label_only: true,
            card: false,
        },
        ToServer::Hello {
            model: Some("mnist".into()),
            backend: Backend::Gc,
            label_only: true,
            card: true,
        },
        ToServer::Hello {
            model: None,
            backend: Backend::Gmw,
            label_only: false,
            card: true,
        },
        ToServer::List,
        ToServer::Query,
        ToServer::Done,
        ToServer::Stash {
            batch: BatchId([7; 16]),
            first: 3,
            count: 10,
        },
        ToServer::Spend {
            batch: BatchId([8; 16]),
            piece: u32::MAX,
        },
    ];
    for m in to_server {
        let b = m.encode();
        assert_eq!(ToServer::decode(&b).unwrap(), m);
        assert!(ToServer::decode(&b[..b.len() - 1]).is_err());
    }
    let to_client = [
        ToClient::Welcome {
            plan: plan(),
            session,
            dealer: DealerInfo {
                addr: "127.0.0.1:1".into(),
                fingerprint: "ab".into(),
            },
        },
        ToClient::WelcomeTwoParty {
            plan: plan(),
            linear: LinearPrep::He,
            ot: OtKind::Silent,
        },
        ToClient::WelcomeTwoParty {
            plan: plan(),
            linear: LinearPrep::Ot,
            ot: OtKind::Silent,
        },
        ToClient::WelcomeTwoParty {
            plan: plan(),
            linear: LinearPrep::He,
            ot: OtKind::Iknp,
        },
        ToClient::WelcomeTwoParty {
            plan: plan(),
            linear: LinearPrep::Ot,
            ot: OtKind::Iknp,
        },
        ToClient::Ready,
        ToClient::WelcomeKept { plan: plan() },
        ToClient::Card(None),
        ToClient::Card(Some(card())),
        ToClient::Catalog { models: vec![] },
        ToClient::Catalog { models: catalog() },
        ToClient::Refused {
            bad_request: true,
            reason: "no".into(),
        },
        ToClient::Stats {
            peer: vec![(Scope::layer(Phase::Online, 2), tally)],
            dealer: vec![(Scope::phase(Phase::Offline), tally)],
        },
    ];
    for m in to_client {
        let b = m.encode();
        assert_eq!(ToClient::decode(&b).unwrap(), m);
        assert!(ToClient::decode(&b[..b.len() - 1]).is_err());
    }
    let to_dealer = [
        ToDealer::Open { plan: plan() },
        ToDealer::Join {
            session,
            plan_hash: [9; 32],
        },
        ToDealer::Fetch,
    ];
    for m in to_dealer {
        let b = m.encode();
        assert_eq!(ToDealer::decode(&b).unwrap(), m);
        assert!(ToDealer::decode(&b[..b.len() - 1]).is_err());
    }
    for m in [
        FromDealer::Opened { session },
        FromDealer::Joined,
        FromDealer::Refused { reason: "x".into() },
    ] {
        let b = m.encode();
        assert_eq!(FromDealer::decode(&b).unwrap(), m);
        assert!(FromDealer::decode(&b[..b.len() - 1]).is_err());
    }
    assert_eq!(BatchId([0xa5; 16]).to_string(), "a5".repeat(16));
    // Material's length is checked against the plan by `MaterialMsg::decode`.
    let m = FromDealer::Material(vec![1, 2, 3]);
    assert_eq!(FromDealer::decode(&m.encode()).unwrap(), m);
}

/// A welcome with the linear layers by (IKNP) OT keeps the encoding it had before there was
/// a choice, so that a client of that time still understands it; an unknown choice is
/// refused.
#[test]
fn a_dealer_free_welcome_names_its_linear_preprocessing() {
    let ot = ToClient::WelcomeTwoParty {
        plan: plan(),
        linear: LinearPrep::Ot,
        ot: OtKind::Iknp,
    };
    let mut old = vec![3];
    let mut w = Writer::default();
    plan().encode(&mut w);
    old.extend(w.into_bytes());
    assert_eq!(ot.encode(), old);
    let he = ToClient::WelcomeTwoParty {
        plan: plan(),
        linear: LinearPrep::He,
        ot: OtKind::Iknp,
    }
    .encode();
    assert_eq!(he[0], 6);
    let mut unknown = he.clone();
    *unknown.last_mut().expect("a byte") = 2;
    assert!(ToClient::decode(&unknown).is_err());
}

/// The welcome names the kind of OT, a byte after the linear choice's (0 silent, 1 IKNP):
/// both kinds round-trip with either linear choice, welcomes of before the choice of OT
/// (tags 3 and 6) read as IKNP, what they made, and an unknown kind is refused.
#[test]
fn a_dealer_free_welcome_names_its_kind_of_ot() {
    for linear in LinearPrep::ALL {
        for ot in OtKind::ALL {
            let welcome = ToClient::WelcomeTwoParty {
                plan: plan(),
                linear,
                ot,
            };
            let bytes = welcome.encode();
            assert_eq!(ToClient::decode(&bytes).unwrap(), welcome, "{linear} {ot}");
            if ot == OtKind::Silent {
                assert_eq!(bytes[0], 7, "{linear}");
                assert_eq!(bytes[bytes.len() - 2..], [linear_code(linear), 0]);
            }
        }
    }
    let mut w = Writer::default();
    w.u8(7);
    plan().encode(&mut w);
    w.u8(0).u8(1);
    let iknp = w.into_bytes();
    assert_eq!(
        ToClient::decode(&iknp).unwrap(),
        ToClient::WelcomeTwoParty {
            plan: plan(),
            linear: LinearPrep::He,
            ot: OtKind::Iknp,
        }
    );
    for kind in [2, 0xff] {
        let mut unknown = iknp.clone();
        *unknown.last_mut().expect("a byte") = kind;
        let err = ToClient::decode(&unknown).unwrap_err();
        assert!(err.to_string().contains("oblivious transfer"), "{err}");
    }
    let mut short = iknp.clone();
    short.pop();
    assert!(
        ToClient::decode(&short).is_err(),
        "the kind is not optional"
    );
}

#[test]
fn unknown_tags_and_trailing_bytes_are_refused() {
    assert!(ToServer::decode(&[9]).is_err());
    assert!(ToServer::decode(&[1, 0]).is_err());
    assert!(ToDealer::decode(&[]).is_err());
    assert!(FromDealer::decode(&[7]).is_err());
}

#[test]
fn a_hello_asking_for_logits_keeps_its_old_encoding() {
    let hello = |label_only, card| ToServer::Hello {
        model: None,
        backend: Backend::Gc,
        label_only,
        card,
    };
    assert_eq!(hello(false, false).encode(), vec![0, 0, 1]);
    assert_eq!(hello(true, false).encode(), vec![5, 0, 1]);
    assert_eq!(ToServer::decode(&[0, 0, 1]).unwrap(), hello(false, false));
    assert_eq!(ToServer::decode(&[5, 0, 1]).unwrap(), hello(true, false));
    // Asking for the card: tag 7 and a flags byte (bit 0 label-only, bit 1 card).
    assert_eq!(hello(false, true).encode(), vec![7, 2, 0, 1]);
    assert_eq!(hello(true, true).encode(), vec![7, 3, 0, 1]);
    assert_eq!(ToServer::decode(&[7, 1, 0, 1]).unwrap(), hello(true, false));
    assert!(ToServer::decode(&[7, 4, 0, 1]).is_err(), "an unknown flag");
    assert_eq!(ToServer::List.encode(), vec![6]);
}

fn card() -> Card {
    Card {
        image: Some(ImagePrep {
            height: 28,
            width: 28,
            channels: Channels::Rgb,
            scale: 255.0,
            mean: vec![0.5, 0.25, 0.0],
            std: vec![1.0, 2.0, 0.5],
            layout: Layout::Hwc,
        }),
        classes: Some(vec!["zero".into(), "one".into()]),
    }
}

fn catalog() -> Vec<ModelInfo> {
    let info = |name: &str, card| ModelInfo {
        name: name.into(),
        input_shape: vec![1, 3, 28, 28],
        outputs: 2,
        label_only: false,
        backends: vec![Backend::Gmw, Backend::Gc],
        source: Preprocessing::Dealer,
        card,
    };
    vec![
        info("a", Some(card())),
        ModelInfo {
            label_only: true,
            source: Preprocessing::TwoParty(LinearPrep::Ot, OtKind::Silent),
            backends: vec![Backend::Gc],
            ..info("b", None)
        },
    ]
}

/// Every truncation, and every single-bit flip, of each message is decoded without a
/// panic: a typed error, or (for a flip that lands on a free value) some message.
fn refuses_garbage(bytes: &[u8], decode: impl Fn(&[u8]) -> bool) {
    for cut in 0..bytes.len() {
        assert!(
            !decode(&bytes[..cut]),
            "a message cut at {cut} was accepted"
        );
    }
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut flipped = bytes.to_vec();
            flipped[i] ^= 1 << bit;
            decode(&flipped);
        }
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(!decode(&longer), "a trailing byte was accepted");
}

#[test]
fn card_and_catalog_decoders_refuse_garbage_without_panicking() {
    let decodes = |b: &[u8]| ToClient::decode(b).is_ok();
    refuses_garbage(&ToClient::Card(Some(card())).encode(), decodes);
    refuses_garbage(&ToClient::Catalog { models: catalog() }.encode(), decodes);
    refuses_garbage(
        &ToServer::Hello {
            model: Some("m".into()),
            backend: Backend::Gc,
            label_only: true,
            card: true,
        }
        .encode(),
        |b| ToServer::decode(b).is_ok(),
    );
}

#[test]
fn announced_sizes_are_checked_before_allocating() {
    // A catalog of u32::MAX models, a card of u32::MAX classes: refused, not allocated.
    let mut huge = vec![9];
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        ToClient::decode(&huge),
        Err(DecodeError::Invalid {
            what: "model count",
            ..
        })
    ));
    let mut classes = vec![8, 1, 0, 1];
    classes.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        ToClient::decode(&classes),
        Err(DecodeError::Invalid {
            what: "class count",
            ..
        })
    ));
    // A card that decodes but is not valid (a negative std) is refused as a card.
    let mut bad = card();
    if let Some(image) = &mut bad.image {
        image.std[1] = -1.0;
    }
    let e = ToClient::decode(&ToClient::Card(Some(bad)).encode()).unwrap_err();
    assert!(e.to_string().contains("image.std[1]"), "{e}");
}
