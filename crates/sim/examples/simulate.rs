//! Runs the simulator: `cargo run --release -p chainwatch-sim --example simulate -- DIR [TXS] [BLOCKS] [SEED]`.
#![allow(clippy::print_stdout)]

use chainwatch_sim::{run, SimConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).map(String::as_str).unwrap_or("sim-out");
    let num = |i: usize, d: u64| args.get(i).map(|s| s.parse().expect("number")).unwrap_or(d);
    let cfg = SimConfig {
        txs: num(2, 200_000),
        blocks: num(3, 1_000) as u32,
        seed: num(4, 1),
        ..SimConfig::default()
    };
    let s = run(&cfg, std::path::Path::new(dir), &mut |_, _| {}).expect("simulation");
    println!("{}", serde_json::to_string(&s).expect("json"));
    println!("{:.0} txs/s", s.txs as f64 / s.seconds);
}
