//! A stable, quick smoke of what the DNS fuzz target (`fuzz/`, nightly, `scripts/fuzz`)
//! checks at length: the same entry point and checks (`support/dns_entry_points.rs`), run
//! on every seed and on each seed with every byte in turn replaced by a few values.

#[path = "support/dns_entry_points.rs"]
mod dns_entry_points;

fn seeds() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds/dns");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("seed directory")
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty());
    seeds
}

#[test]
fn every_dns_seed_is_answered() {
    for seed in seeds() {
        dns_entry_points::dns_message(&seed);
    }
}

#[test]
fn every_single_byte_change_of_a_seed_is_answered_or_dropped_without_panic() {
    for seed in seeds() {
        for i in 0..seed.len() {
            for b in [0x00, 0x01, 0x2a, 0x7f, 0xc0, 0xff] {
                let mut changed = seed.clone();
                changed[i] = b;
                dns_entry_points::dns_message(&changed);
            }
        }
        // Cut short at every length, too.
        for len in 0..seed.len() {
            dns_entry_points::dns_message(&seed[..len]);
        }
    }
}
