use super::*;
use crate::prg::{Prg, Seed};
use rand_core::RngCore;

fn block(rng: &mut Prg) -> Block {
    Block(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()))
}

#[test]
fn every_path_computes_the_fips_197_vector() {
    // FIPS-197, appendix C.1.
    let key = Block::from_bytes(core::array::from_fn(|i| i as u8));
    let pt = Block::from_bytes(core::array::from_fn(|i| (i as u8) * 0x11));
    let ct = [
        0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5,
        0x5a,
    ];
    for isa in Isa::available() {
        assert_eq!(
            Aes::on(isa, key).encrypt(pt),
            Block::from_bytes(ct),
            "{isa:?}"
        );
    }
}

#[test]
fn every_path_agrees_with_the_aes_crate_at_every_length() {
    let mut rng = Prg::new(Seed([4; 16]));
    for _ in 0..8 {
        let key = block(&mut rng);
        let reference = Aes128Enc::new(&key.to_bytes().into());
        for len in [0, 1, 7, WIDTH - 1, WIDTH, WIDTH + 1, 3 * WIDTH + 5] {
            let blocks: Vec<Block> = (0..len).map(|_| block(&mut rng)).collect();
            let expected: Vec<Block> = blocks
                .iter()
                .map(|b| {
                    let mut e = aes::Block::from(b.to_bytes());
                    reference.encrypt_block(&mut e);
                    Block::from_bytes(e.into())
                })
                .collect();
            for isa in Isa::available() {
                let mut got = blocks.clone();
                Aes::on(isa, key).encrypt_blocks(&mut got);
                assert_eq!(got, expected, "{isa:?}, {len} blocks");
            }
        }
    }
}

#[test]
fn the_detected_path_is_the_widest_and_debug_hides_the_key() {
    assert_eq!(Isa::available()[0], Isa::detect());
    assert_eq!(Isa::available().last(), Some(&Isa::Portable));
    let shown = format!("{:?}", Aes::new(Block(u128::MAX)));
    assert!(
        shown.starts_with("Aes { isa: ") && !shown.contains("255"),
        "{shown}"
    );
}
