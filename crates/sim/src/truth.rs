//! Ground truth and what an investigator would have: `truth.json`, `tags.yaml` (a
//! GraphSense TagPack) and `incident.json`.

use crate::economy::{
    Sim, EXCHANGES, NE, NP, O_EX0, O_MERCHANT0, O_MIXER, O_POOL0, O_THIEF, O_WASABI, O_WHIRLPOOL,
};
use crate::SimError;
use chainwatch_chain::{to_hex, Hash32};
use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Stolen-deposit categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cat {
    /// Deposited by a peel chain.
    Peel = 0,
    /// Deposited after passing through the mixer.
    AfterMixer = 1,
    /// Deposited after CoinJoins.
    AfterCoinjoin = 2,
}

/// Deposits of stolen funds at one exchange in one category.
#[derive(Default, Clone, Debug)]
pub struct Dep {
    /// Sum of the outputs paying the exchange in `txids`.
    pub sats: u64,
    /// The depositing transactions.
    pub txids: Vec<Hash32>,
}

/// Everything the simulator knows that the chain does not say.
pub struct Truth {
    /// Hash of the last main-chain block.
    pub tip: Hash32,
    /// The victim exchange.
    pub victim: Option<usize>,
    /// Transactions that drained the victim's hot wallet.
    pub theft_txids: Vec<Hash32>,
    /// Their outputs (all to the thief).
    pub theft_outputs: Vec<(Hash32, u32)>,
    /// Sum of those outputs.
    pub theft_total: u64,
    /// Per exchange, stolen deposits by [`Cat`].
    pub stolen: Vec<[Dep; 3]>,
    /// Every CoinJoin (Whirlpool mixes and Wasabi rounds).
    pub coinjoins: Vec<Hash32>,
    /// CoinJoins with thief inputs.
    pub thief_coinjoins: Vec<Hash32>,
    /// The thief's deposits into the mixer.
    pub mixer_deposits: Vec<Hash32>,
    /// Everyone's deposits into the mixer.
    pub all_mixer_deposits: Vec<Hash32>,
    /// Peel chains, each in order.
    pub peel_chains: Vec<Vec<Hash32>>,
    /// Hashes of stale blocks.
    pub stale: Vec<Hash32>,
}

impl Truth {
    /// Empty truth.
    pub fn new() -> Truth {
        Truth {
            tip: [0; 32],
            victim: None,
            theft_txids: Vec::new(),
            theft_outputs: Vec::new(),
            theft_total: 0,
            stolen: vec![Default::default(); NE],
            coinjoins: Vec::new(),
            thief_coinjoins: Vec::new(),
            mixer_deposits: Vec::new(),
            all_mixer_deposits: Vec::new(),
            peel_chains: Vec::new(),
            stale: Vec::new(),
        }
    }

    /// Records `sats` of stolen funds deposited at exchange `e` by `txid`.
    pub fn stolen_add(&mut self, e: usize, cat: Cat, txid: Hash32, sats: u64) {
        let d = &mut self.stolen[e][cat as usize];
        if d.txids.last() != Some(&txid) {
            d.txids.push(txid);
        }
        d.sats += sats;
    }
}

impl Default for Truth {
    fn default() -> Self {
        Truth::new()
    }
}

fn hexes(v: &[Hash32]) -> Value {
    Value::Array(v.iter().map(|h| Value::String(to_hex(h))).collect())
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SimError + '_ {
    move |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The entity name of an address-book owner.
pub fn owner_name(o: usize, o_user0: usize) -> String {
    if o < O_EX0 {
        format!("pool-{}", o - O_POOL0)
    } else if o < O_MIXER {
        EXCHANGES[o - O_EX0].name.to_string()
    } else if o == O_MIXER {
        "mixer".into()
    } else if o == O_THIEF {
        "thief".into()
    } else if o == O_WHIRLPOOL {
        "whirlpool-coordinator".into()
    } else if o == O_WASABI {
        "wasabi-coordinator".into()
    } else if o < o_user0 {
        format!("merchant-{}", o - O_MERCHANT0)
    } else {
        format!("user-{}", o - o_user0)
    }
}

/// A slice of one owner's address list to encode.
struct Piece {
    owner: usize,
    start: usize,
    end: usize,
    first: bool,
}

impl Sim {
    /// The JSON text of `pieces` of the `entities` object.
    fn encode_pieces(&self, pieces: &[Piece]) -> String {
        let n: usize = pieces.iter().map(|p| p.end - p.start).sum();
        let mut out = String::with_capacity(n * 48 + 64);
        for p in pieces {
            let list = &self.book.lists[p.owner];
            if p.start == 0 {
                out.push_str(if p.first { "\n    \"" } else { ",\n    \"" });
                out.push_str(&owner_name(p.owner, self.o_user0));
                out.push_str("\": [");
            }
            for (i, a) in list.iter().enumerate().take(p.end).skip(p.start) {
                if i > 0 {
                    out.push(',');
                }
                out.push('"');
                out.push_str(&self.keys.address(*a).encode(self.chain));
                out.push('"');
            }
            if p.end == list.len() {
                out.push(']');
            }
        }
        out
    }

    fn victim_name(&self) -> String {
        self.truth
            .victim
            .map(|e| EXCHANGES[e].name.to_string())
            .unwrap_or_default()
    }

    fn theft_outputs(&self) -> Value {
        Value::Array(
            self.truth
                .theft_outputs
                .iter()
                .map(|(t, v)| Value::String(format!("{}:{v}", to_hex(t))))
                .collect(),
        )
    }

    /// Writes `truth.json`, `tags.yaml` and `incident.json` into `dir`.
    pub fn write_truth(&self, dir: &Path, height: u32) -> Result<(), SimError> {
        let t = &self.truth;
        let mut stolen = serde_json::Map::new();
        for (e, deps) in t.stolen.iter().enumerate() {
            if deps.iter().all(|d| d.txids.is_empty()) {
                continue;
            }
            let cat = |d: &Dep| json!({ "sats": d.sats, "txids": hexes(&d.txids) });
            stolen.insert(
                EXCHANGES[e].name.to_string(),
                json!({
                    "peel": cat(&deps[0]),
                    "after_mixer": cat(&deps[1]),
                    "after_coinjoin": cat(&deps[2]),
                }),
            );
        }
        let head: Vec<(&str, Value)> = vec![
            ("chain", json!(self.chain.name())),
            ("seed", json!(self.seed)),
            ("tip_hash", json!(to_hex(&t.tip))),
            ("height", json!(height)),
            ("tx_count", json!(self.tx_count)),
            (
                "theft",
                json!({
                    "victim": self.victim_name(),
                    "txids": hexes(&t.theft_txids),
                    "outputs": self.theft_outputs(),
                    "total_sats": t.theft_total,
                }),
            ),
            ("stolen_deposits", Value::Object(stolen)),
            ("coinjoin_txids", hexes(&t.coinjoins)),
            ("thief_coinjoin_txids", hexes(&t.thief_coinjoins)),
            ("mixer_deposit_txids", hexes(&t.mixer_deposits)),
            ("all_mixer_deposit_txids", hexes(&t.all_mixer_deposits)),
            (
                "peel_chains",
                Value::Array(t.peel_chains.iter().map(|c| hexes(c)).collect()),
            ),
            ("stale_blocks", hexes(&t.stale)),
        ];
        let path = dir.join("truth.json");
        let f = File::create(&path).map_err(io(&path))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let e = io(&path);
        w.write_all(b"{\n").map_err(&e)?;
        for (k, v) in &head {
            writeln!(w, "  {}: {},", json!(k), v).map_err(&e)?;
        }
        w.write_all(b"  \"entities\": {").map_err(&e)?;
        // Exchanges, mixer, thief and coordinators first, then pools, merchants, users.
        // Address strings are derived and encoded on two threads, batch by batch, and
        // written in order.
        let order = (O_EX0..O_MERCHANT0)
            .chain(O_POOL0..O_POOL0 + NP)
            .chain(O_MERCHANT0..self.book.lists.len());
        const PIECE: usize = 20_000;
        let mut items: Vec<Piece> = Vec::new();
        for o in order {
            let len = self.book.lists[o].len();
            let mut start = 0;
            while start < len {
                let end = (start + PIECE).min(len);
                items.push(Piece {
                    owner: o,
                    start,
                    end,
                    first: items.is_empty(),
                });
                start = end;
            }
        }
        let mut i = 0;
        while i < items.len() {
            let mut j = i;
            let mut n = 0;
            while j < items.len() && n < 10 * PIECE {
                n += items[j].end - items[j].start;
                j += 1;
            }
            let batch = &items[i..j];
            let mut k = 0;
            let mut m = 0;
            while k < batch.len() && m < n / 2 {
                m += batch[k].end - batch[k].start;
                k += 1;
            }
            let (a, b) = batch.split_at(k);
            let (sa, sb) = std::thread::scope(|s| {
                let hb = s.spawn(|| self.encode_pieces(b));
                (self.encode_pieces(a), hb.join().expect("encoder thread"))
            });
            w.write_all(sa.as_bytes()).map_err(&e)?;
            w.write_all(sb.as_bytes()).map_err(&e)?;
            i = j;
        }
        w.write_all(b"\n  }\n}\n").map_err(&e)?;
        w.flush().map_err(&e)?;

        // incident.json: the theft as the victim reports it.
        let incident = json!({
            "victim": self.victim_name(),
            "txids": hexes(&t.theft_txids),
            "outputs": self.theft_outputs(),
        });
        let path = dir.join("incident.json");
        let text = serde_json::to_string_pretty(&incident).expect("json") + "\n";
        std::fs::write(&path, text).map_err(io(&path))?;

        // tags.yaml: what an investigator knows about services.
        let path = dir.join("tags.yaml");
        std::fs::write(&path, self.tagpack()).map_err(io(&path))?;
        Ok(())
    }

    /// The TagPack: hot-wallet addresses of each exchange and the mixer's known address.
    pub fn tagpack(&self) -> String {
        let currency = if self.chain.is_litecoin() {
            "LTC"
        } else {
            "BTC"
        };
        let mut y = String::new();
        y.push_str(&format!(
            "title: chainwatch-sim scenario (seed {})\n\
             creator: chainwatch-sim\n\
             description: Attribution tags an investigator would have for the simulated {} chain \
             (seed {}) - exchange hot wallets and the mixer's known address.\n\
             is_public: false\n\
             currency: {currency}\n\
             network: {network}\n\
             confidence: service_data\n\
             lastmod: 2024-01-01\n\
             source: https://chainwatch.invalid/sim/seed/{}\n\
             tags:\n",
            self.seed,
            self.chain.name(),
            self.seed,
            self.seed,
            network = self.chain.name(),
        ));
        for (e, def) in EXCHANGES.iter().enumerate() {
            for a in &self.ex[e].hot {
                y.push_str(&format!(
                    "- address: {}\n  label: {}\n  category: exchange\n  actor: {}\n",
                    self.keys.address(*a).encode(self.chain),
                    def.label,
                    def.name
                ));
            }
        }
        if let Some(a) = self.mixer.pool_addr {
            y.push_str(&format!(
                "- address: {}\n  label: Mixer\n  category: mixing_service\n  actor: mixer\n  \
                 confidence: forensic_investigation\n",
                self.keys.address(a).encode(self.chain)
            ));
        }
        y
    }
}
