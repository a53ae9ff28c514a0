//! Theft reports: the friendly JSON an exchange or agency submits, and its mapping to a
//! STIX 2.1 bundle.
//!
//! A report becomes:
//! * an `incident` (the theft) carrying the **chainwatch theft extension** (below),
//! * `identity` objects for the victim and the reporting organisation,
//! * a `threat-actor` or `intrusion-set` for the attributed actor, resolved by name or
//!   synonym in the MISP galaxy (a galaxy actor gets a deterministic id and TLP:CLEAR, so
//!   every report about Lazarus Group points at the same object; an unknown name gets a
//!   fresh id and the report's marking), linked by an `attributed-to` relationship that
//!   carries the attribution confidence,
//! * one `cryptocurrency-wallet` SCO per attacker address (`value` = the address, as
//!   OpenCTI writes them; deterministic UUIDv5 ids), `related-to` the incident,
//! * one `attack-pattern` per TTP (MITRE ATT&CK ids such as `T1566` become external
//!   references), `uses`d by the actor (or `related-to` the incident without one),
//! * `targets` from the incident to the victim identity,
//! * the TLP 2.0 marking definition and the extension definition.
//!
//! ## The chainwatch theft extension
//! [`THEFT_EXTENSION_ID`] is a `property-extension` on the incident:
//! ```json
//! "extensions": {"extension-definition--…": {
//!   "extension_type": "property-extension",
//!   "chain": "bitcoin",                      // chain name
//!   "occurred": "2025-02-21T14:13:00.000Z",  // time of the theft
//!   "stolen_outputs": [{"txid": "<hex>", "vout": 0, "amount_sats": 150000000}],
//!   "theft_txids": ["<hex>"],                // distinct txids of the stolen outputs
//!   "stolen_total_sats": 150000000,          // sum of known amounts
//!   "attacker_addresses": ["bc1q…"]
//! }}
//! ```
//! Amounts are integers in the chain's smallest unit (satoshis); `amount_sats` is left
//! out when the reporter did not give one.
//!
//! Every object but the shared ones (marking and extension definitions, galaxy actors)
//! carries the report's TLP marking and, for AMBER, AMBER+STRICT and RED, the custom
//! property `x_chainwatch_recipients` (the recipient organisations' identity ids), which
//! is how the access policy travels with the object between nodes.

use crate::tlp::Tlp;
use crate::{stix, Actor, TagStore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The chainwatch theft extension definition id.
pub const THEFT_EXTENSION_ID: &str = "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e";

/// The identity that defines the chainwatch extensions.
pub const CHAINWATCH_IDENTITY: &str = "identity--3f0ab8f5-0a32-5d4b-9c43-8c7e0c5e2a10";

/// Custom property naming the recipient organisations of an AMBER/AMBER+STRICT/RED object.
pub const RECIPIENTS_PROPERTY: &str = "x_chainwatch_recipients";

/// The victim of a theft: an organisation name, or details.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Victim {
    /// Just a name.
    Name(String),
    /// Name and details.
    Detailed {
        /// Name.
        name: String,
        /// `exchange`, `bridge`, `wallet`, … (free text).
        #[serde(default)]
        kind: Option<String>,
        /// Country (ISO 3166 alpha-2).
        #[serde(default)]
        country: Option<String>,
    },
}

impl Victim {
    /// The victim's name.
    pub fn name(&self) -> &str {
        match self {
            Victim::Name(n) | Victim::Detailed { name: n, .. } => n,
        }
    }
}

/// One stolen output: `"txid:vout"` or an object with an amount.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StolenOutput {
    /// `txid:vout`.
    Outpoint(String),
    /// With an amount.
    Detailed {
        /// `txid:vout`.
        outpoint: String,
        /// Amount in satoshis.
        #[serde(default)]
        amount_sats: Option<u64>,
        /// Amount in coins (decimal string or number), when `amount_sats` is not given.
        #[serde(default)]
        amount: Option<Value>,
    },
}

/// Attribution of a theft.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// Actor name or synonym (`Lazarus Group`, `APT38`, `Hidden Cobra`).
    pub actor: String,
    /// Confidence 0–100.
    #[serde(default)]
    pub confidence: Option<u8>,
}

/// The friendly JSON of a theft report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TheftReport {
    /// Title (default: `Theft from VICTIM`).
    #[serde(default)]
    pub title: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The victim.
    pub victim: Victim,
    /// Chain (`bitcoin`, `litecoin`, `ethereum`, …).
    pub chain: String,
    /// When the theft happened (STIX timestamp).
    pub time: String,
    /// The stolen outputs.
    #[serde(default)]
    pub stolen_outputs: Vec<StolenOutput>,
    /// Addresses the attacker controls.
    #[serde(default)]
    pub attacker_addresses: Vec<String>,
    /// Techniques (MITRE ATT&CK ids such as `T1566.001`, or names).
    #[serde(default)]
    pub ttps: Vec<String>,
    /// Who did it.
    #[serde(default)]
    pub attribution: Option<Attribution>,
    /// TLP (`CLEAR`, `GREEN`, `AMBER`, `AMBER+STRICT`, `RED`; default `AMBER`).
    #[serde(default)]
    pub tlp: Option<String>,
    /// Recipient organisations (names) for AMBER, AMBER+STRICT and RED.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Target collection id (default: the node's community collection).
    #[serde(default)]
    pub collection: Option<String>,
}

impl TheftReport {
    /// The report's TLP level (default AMBER).
    pub fn level(&self) -> Result<Tlp, ReportError> {
        match &self.tlp {
            None => Ok(Tlp::Amber),
            Some(s) => Tlp::parse(s).ok_or_else(|| ReportError(format!("unknown TLP {s:?}"))),
        }
    }
}

/// Why a report cannot be mapped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReportError(pub String);

/// Resolves actor names and synonyms.
pub trait ActorResolver {
    /// The actor a name or synonym designates.
    fn resolve(&self, name: &str) -> Option<Actor>;
}

impl ActorResolver for TagStore {
    fn resolve(&self, name: &str) -> Option<Actor> {
        self.actor(name).cloned()
    }
}

/// No resolver: every actor is unknown.
pub struct NoActors;

impl ActorResolver for NoActors {
    fn resolve(&self, _: &str) -> Option<Actor> {
        None
    }
}

/// An organisation as it appears in reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgIdentity {
    /// Its STIX identity id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `exchange`, `agency`, `fiu`, `vendor`.
    pub kind: String,
}

/// What the mapping needs besides the report.
pub struct MapContext<'a> {
    /// The reporting organisation.
    pub reporter: &'a OrgIdentity,
    /// Recipient organisations (resolved by the server from the report's names).
    pub recipients: &'a [OrgIdentity],
    /// The victim, when it is an organisation of the node (its identity is reused).
    pub victim_org: Option<&'a OrgIdentity>,
    /// Timestamp for `created`/`modified`.
    pub now: String,
    /// Actor look-up.
    pub resolver: &'a dyn ActorResolver,
}

/// How the actor was resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedActor {
    /// The name given in the report.
    pub given: String,
    /// The canonical name.
    pub name: String,
    /// `threat-actor` or `intrusion-set`.
    pub stix_type: String,
    /// Its STIX id.
    pub id: String,
    /// Whether it was found in the MISP galaxy.
    pub from_galaxy: bool,
    /// Galaxy cluster UUID, when found.
    pub galaxy_uuid: Option<String>,
}

/// A report as a bundle.
#[derive(Clone, Debug, PartialEq)]
pub struct MappedReport {
    /// The incident's id (the report's id).
    pub incident_id: String,
    /// The bundle.
    pub bundle: Value,
    /// The actor, when attributed.
    pub actor: Option<ResolvedActor>,
    /// The report's level.
    pub level: Tlp,
    /// Title.
    pub title: String,
    /// Ids of the objects this report made (the ones its originating node signs); the
    /// others are shared definitions (markings, extension, organisations, galaxy actors).
    pub own: Vec<String>,
}

fn asset_of_chain(chain: &str) -> String {
    match chain.to_ascii_lowercase().as_str() {
        "ethereum" | "eth" => "ETH".into(),
        "tron" | "trx" => "TRX".into(),
        "litecoin" | "ltc" => "LTC".into(),
        "bitcoin" | "btc" => "BTC".into(),
        "bitcoin-cash" | "bch" => "BCH".into(),
        other => other.to_ascii_uppercase(),
    }
}

fn check_address(chain: &str, addr: &str) -> Result<String, ReportError> {
    let a = addr.trim();
    if let Ok(c) = chain.parse::<chainwatch_types::Chain>() {
        chainwatch_types::Address::decode(a, c).map_err(|e| {
            ReportError(format!("attacker address {a:?} is not a {c} address: {e}"))
        })?;
        return Ok(a.to_string());
    }
    crate::validate::check(&asset_of_chain(chain), None, a)
        .map(|c| c.address)
        .map_err(|e| ReportError(format!("attacker address {a:?} on {chain}: {e}")))
}

fn parse_outpoint(s: &str) -> Result<(String, u32), ReportError> {
    let (txid, vout) = s
        .trim()
        .rsplit_once(':')
        .ok_or_else(|| ReportError(format!("stolen output {s:?} is not txid:vout")))?;
    let txid = txid.trim_start_matches("0x").to_ascii_lowercase();
    if txid.len() != 64 || !txid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ReportError(format!(
            "stolen output {s:?}: the txid must be 64 hex digits"
        )));
    }
    let vout: u32 = vout
        .parse()
        .map_err(|_| ReportError(format!("stolen output {s:?}: vout is not a number")))?;
    Ok((txid, vout))
}

fn coins_to_sats(v: &Value) -> Result<u64, ReportError> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return Err(ReportError(format!("amount {v} is not a number"))),
    };
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 8
    {
        return Err(ReportError(format!(
            "amount {s:?} must be a non-negative decimal with at most 8 decimals"
        )));
    }
    let int: u64 = if int.is_empty() {
        0
    } else {
        int.parse()
            .map_err(|_| ReportError(format!("amount {s:?} is too large")))?
    };
    let frac_sats: u64 = format!("{frac:0<8}").parse().unwrap_or(0);
    int.checked_mul(100_000_000)
        .and_then(|x| x.checked_add(frac_sats))
        .ok_or_else(|| ReportError(format!("amount {s:?} is too large")))
}

fn attack_pattern_ref(ttp: &str) -> (String, Option<Value>) {
    let t = ttp.trim();
    let first = t.split_whitespace().next().unwrap_or("");
    let is_mitre = first.len() >= 5
        && first.starts_with('T')
        && first[1..5].bytes().all(|b| b.is_ascii_digit())
        && first[5..]
            .strip_prefix('.')
            .is_none_or(|sub| sub.bytes().all(|b| b.is_ascii_digit()));
    if is_mitre {
        let url = format!(
            "https://attack.mitre.org/techniques/{}/",
            first.replace('.', "/")
        );
        (
            t.to_string(),
            Some(json!({"source_name": "mitre-attack", "external_id": first, "url": url})),
        )
    } else {
        (t.to_string(), None)
    }
}

/// Maps a report to a bundle. The server signs the objects afterwards.
pub fn map_report(r: &TheftReport, ctx: &MapContext<'_>) -> Result<MappedReport, ReportError> {
    let level = r.level()?;
    let victim_name = r.victim.name().trim();
    if victim_name.is_empty() {
        return Err(ReportError("victim name is empty".into()));
    }
    if r.chain.trim().is_empty() {
        return Err(ReportError("chain is empty".into()));
    }
    let occurred_us = stix::parse_timestamp(r.time.trim()).ok_or_else(|| {
        ReportError(format!(
            "time {:?} is not a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.s]Z)",
            r.time
        ))
    })?;
    if r.stolen_outputs.is_empty() && r.attacker_addresses.is_empty() {
        return Err(ReportError(
            "a report needs stolen_outputs or attacker_addresses".into(),
        ));
    }
    if let Some(c) = r.attribution.as_ref().and_then(|a| a.confidence) {
        if c > 100 {
            return Err(ReportError("attribution confidence must be 0-100".into()));
        }
    }
    let mut outputs = Vec::new();
    let mut txids: Vec<String> = Vec::new();
    let mut total: u64 = 0;
    for o in &r.stolen_outputs {
        let (op, sats) = match o {
            StolenOutput::Outpoint(s) => (s, None),
            StolenOutput::Detailed {
                outpoint,
                amount_sats,
                amount,
            } => {
                let sats = match (amount_sats, amount) {
                    (Some(s), _) => Some(*s),
                    (None, Some(a)) => Some(coins_to_sats(a)?),
                    (None, None) => None,
                };
                (outpoint, sats)
            }
        };
        let (txid, vout) = parse_outpoint(op)?;
        if !txids.contains(&txid) {
            txids.push(txid.clone());
        }
        let mut m = Map::new();
        m.insert("txid".into(), json!(txid));
        m.insert("vout".into(), json!(vout));
        if let Some(s) = sats {
            total = total.saturating_add(s);
            m.insert("amount_sats".into(), json!(s));
        }
        outputs.push(Value::Object(m));
    }
    let mut addresses = Vec::new();
    for a in &r.attacker_addresses {
        let a = check_address(&r.chain, a)?;
        if !addresses.contains(&a) {
            addresses.push(a);
        }
    }

    let now = &ctx.now;
    let marking = level.marking_id();
    let recipients: Vec<String> = if level >= Tlp::Amber {
        ctx.recipients.iter().map(|o| o.id.clone()).collect()
    } else {
        Vec::new()
    };
    // Common properties of the report's own SDOs and SROs.
    let common = |ty: &str| -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("type".into(), json!(ty));
        m.insert("spec_version".into(), json!("2.1"));
        m.insert("id".into(), json!(stix::new_id(ty)));
        m.insert("created".into(), json!(now));
        m.insert("modified".into(), json!(now));
        m.insert("created_by_ref".into(), json!(ctx.reporter.id));
        m.insert("object_marking_refs".into(), json!([marking]));
        if !recipients.is_empty() {
            m.insert(RECIPIENTS_PROPERTY.into(), json!(recipients));
        }
        m
    };
    let mut objects: Vec<Value> = Vec::new();

    // Reporter identity (shared: CLEAR, deterministic content per organisation).
    objects.push(org_identity_object(ctx.reporter));
    for rc in ctx.recipients {
        if level >= Tlp::Amber && rc.id != ctx.reporter.id {
            objects.push(org_identity_object(rc));
        }
    }

    // Victim identity.
    let victim_id = match ctx.victim_org {
        Some(v) if v.id == ctx.reporter.id => v.id.clone(),
        Some(v) => {
            objects.push(org_identity_object(v));
            v.id.clone()
        }
        None => {
            let mut v = common("identity");
            v.insert("name".into(), json!(victim_name));
            v.insert("identity_class".into(), json!("organization"));
            v.insert("sectors".into(), json!(["financial-services"]));
            if let Victim::Detailed { kind, country, .. } = &r.victim {
                let mut d = Vec::new();
                if let Some(k) = kind {
                    d.push(format!("kind: {k}"));
                }
                if let Some(c) = country {
                    d.push(format!("country: {c}"));
                }
                if !d.is_empty() {
                    v.insert("description".into(), json!(d.join("; ")));
                }
            }
            let id = v["id"].as_str().unwrap_or_default().to_string();
            objects.push(Value::Object(v));
            id
        }
    };

    // Incident with the theft extension.
    let title = r
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| format!("Theft from {victim_name}"));
    let mut inc = common("incident");
    let incident_id = inc["id"].as_str().unwrap_or_default().to_string();
    inc.insert("name".into(), json!(title));
    if let Some(d) = &r.description {
        inc.insert("description".into(), json!(d));
    }
    let mut ext = Map::new();
    ext.insert("extension_type".into(), json!("property-extension"));
    ext.insert("chain".into(), json!(r.chain.trim()));
    ext.insert(
        "occurred".into(),
        json!(stix::format_timestamp_us(occurred_us)),
    );
    ext.insert("stolen_outputs".into(), Value::Array(outputs));
    ext.insert("theft_txids".into(), json!(txids));
    ext.insert("stolen_total_sats".into(), json!(total));
    ext.insert("attacker_addresses".into(), json!(addresses));
    inc.insert(
        "extensions".into(),
        json!({ THEFT_EXTENSION_ID: Value::Object(ext) }),
    );
    objects.push(Value::Object(inc));

    let rel = |ty: &str, src: &str, dst: &str, desc: Option<&str>| -> Value {
        let mut m = common("relationship");
        m.insert("relationship_type".into(), json!(ty));
        m.insert("source_ref".into(), json!(src));
        m.insert("target_ref".into(), json!(dst));
        if let Some(d) = desc {
            m.insert("description".into(), json!(d));
        }
        Value::Object(m)
    };
    objects.push(rel("targets", &incident_id, &victim_id, None));

    // Actor.
    let mut resolved = None;
    if let Some(att) = &r.attribution {
        let given = att.actor.trim();
        if given.is_empty() {
            return Err(ReportError("attribution actor is empty".into()));
        }
        let (actor_obj, res) = match ctx.resolver.resolve(given) {
            Some(a) => galaxy_actor(&a, given),
            None => {
                let mut m = common("threat-actor");
                m.insert("name".into(), json!(given));
                m.insert("threat_actor_types".into(), json!(["unknown"]));
                let id = m["id"].as_str().unwrap_or_default().to_string();
                (
                    Value::Object(m),
                    ResolvedActor {
                        given: given.to_string(),
                        name: given.to_string(),
                        stix_type: "threat-actor".into(),
                        id,
                        from_galaxy: false,
                        galaxy_uuid: None,
                    },
                )
            }
        };
        objects.push(actor_obj);
        let mut a = rel("attributed-to", &incident_id, &res.id, None);
        if let Some(c) = att.confidence {
            a["confidence"] = json!(c);
        }
        objects.push(a);
        resolved = Some(res);
    }

    // Wallets.
    for addr in &addresses {
        let mut w = Map::new();
        w.insert("type".into(), json!("cryptocurrency-wallet"));
        w.insert("spec_version".into(), json!("2.1"));
        w.insert(
            "id".into(),
            json!(stix::sco_id(
                "cryptocurrency-wallet",
                &json!({"value": addr})
            )),
        );
        w.insert("value".into(), json!(addr));
        w.insert("object_marking_refs".into(), json!([marking]));
        if !recipients.is_empty() {
            w.insert(RECIPIENTS_PROPERTY.into(), json!(recipients));
        }
        let wid = w["id"].as_str().unwrap_or_default().to_string();
        objects.push(Value::Object(w));
        objects.push(rel(
            "related-to",
            &incident_id,
            &wid,
            Some("attacker-controlled address"),
        ));
    }

    // TTPs.
    for t in &r.ttps {
        if t.trim().is_empty() {
            continue;
        }
        let (name, ext_ref) = attack_pattern_ref(t);
        let mut ap = common("attack-pattern");
        ap.insert("name".into(), json!(name));
        if let Some(e) = ext_ref {
            ap.insert("external_references".into(), json!([e]));
        }
        let apid = ap["id"].as_str().unwrap_or_default().to_string();
        objects.push(Value::Object(ap));
        match &resolved {
            Some(a) => objects.push(rel("uses", &a.id, &apid, None)),
            None => objects.push(rel("related-to", &incident_id, &apid, None)),
        }
    }

    let own: Vec<String> = objects
        .iter()
        .filter(|o| {
            o["created_by_ref"] == ctx.reporter.id.as_str() || o["type"] == "cryptocurrency-wallet"
        })
        .filter_map(|o| o["id"].as_str().map(str::to_string))
        .collect();
    objects.push(level.marking_definition());
    objects.push(theft_extension_definition());
    objects.push(chainwatch_identity());
    Ok(MappedReport {
        own,
        incident_id,
        bundle: stix::make_bundle(objects),
        actor: resolved,
        level,
        title,
    })
}

/// The identity object of an organisation (CLEAR: names of member organisations are
/// not secret on the node; deterministic so repeated reports do not make new versions).
pub fn org_identity_object(o: &OrgIdentity) -> Value {
    let class = "organization";
    json!({
        "type": "identity", "spec_version": "2.1", "id": o.id,
        "created": "2020-01-01T00:00:00.000Z", "modified": "2020-01-01T00:00:00.000Z",
        "name": o.name, "identity_class": class,
        "description": format!("{} ({})", o.name, o.kind),
        "object_marking_refs": [Tlp::Clear.marking_id()],
    })
}

fn galaxy_actor(a: &Actor, given: &str) -> (Value, ResolvedActor) {
    let intrusion = a.galaxy.as_deref() == Some("mitre-intrusion-set");
    let ty = if intrusion {
        "intrusion-set"
    } else {
        "threat-actor"
    };
    let id = stix::derived_id(ty, &a.id);
    let mut refs = vec![json!({
        "source_name": a.galaxy.clone().unwrap_or_else(|| "misp-galaxy".into()),
        "external_id": a.id,
        "description": "MISP galaxy cluster uuid"
    })];
    if let Some(ext) = &a.external_id {
        refs.push(json!({
            "source_name": "mitre-attack", "external_id": ext,
            "url": format!("https://attack.mitre.org/groups/{ext}/")
        }));
    }
    let mut m = Map::new();
    m.insert("type".into(), json!(ty));
    m.insert("spec_version".into(), json!("2.1"));
    m.insert("id".into(), json!(id));
    m.insert("created".into(), json!("2020-01-01T00:00:00.000Z"));
    m.insert("modified".into(), json!("2020-01-01T00:00:00.000Z"));
    m.insert("name".into(), json!(a.name));
    if let Some(d) = &a.description {
        m.insert("description".into(), json!(d));
    }
    if !a.synonyms.is_empty() {
        m.insert("aliases".into(), json!(a.synonyms));
    }
    if !intrusion {
        let state = a.state_sponsor.is_some() || a.country.is_some();
        m.insert(
            "threat_actor_types".into(),
            json!([if state {
                "nation-state"
            } else {
                "crime-syndicate"
            }]),
        );
    }
    m.insert("external_references".into(), Value::Array(refs));
    m.insert(
        "object_marking_refs".into(),
        json!([Tlp::Clear.marking_id()]),
    );
    (
        Value::Object(m),
        ResolvedActor {
            given: given.to_string(),
            name: a.name.clone(),
            stix_type: ty.to_string(),
            id,
            from_galaxy: true,
            galaxy_uuid: Some(a.id.clone()),
        },
    )
}

/// The chainwatch project identity (creator of the extension definitions).
pub fn chainwatch_identity() -> Value {
    json!({
        "type": "identity", "spec_version": "2.1", "id": CHAINWATCH_IDENTITY,
        "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
        "name": "chainwatch", "identity_class": "system",
        "description": "The chainwatch open exchange of theft reports; defines its STIX extensions.",
        "object_marking_refs": [Tlp::Clear.marking_id()],
    })
}

/// The extension definition of the chainwatch theft extension.
pub fn theft_extension_definition() -> Value {
    json!({
        "type": "extension-definition", "spec_version": "2.1", "id": THEFT_EXTENSION_ID,
        "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
        "created_by_ref": CHAINWATCH_IDENTITY,
        "name": "chainwatch theft",
        "description": "Stolen outputs of a cryptocurrency theft on an incident: chain, occurred, stolen_outputs [{txid, vout, amount_sats}], theft_txids, stolen_total_sats (smallest unit), attacker_addresses.",
        "schema": "https://github.com/chainwatch/chainwatch/blob/main/crates/intel/src/report.rs",
        "version": "1.0.0",
        "extension_types": ["property-extension"],
        "object_marking_refs": [Tlp::Clear.marking_id()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(reporter: &'a OrgIdentity, recipients: &'a [OrgIdentity]) -> MapContext<'a> {
        MapContext {
            reporter,
            recipients,
            victim_org: None,
            now: "2025-03-01T00:00:00.000Z".into(),
            resolver: &NoActors,
        }
    }

    fn report() -> TheftReport {
        serde_json::from_value(json!({
            "victim": {"name": "ExampleEx", "kind": "exchange"},
            "chain": "bitcoin",
            "time": "2025-02-21T14:13:00Z",
            "stolen_outputs": [
                {"outpoint": format!("{}:1", "ab".repeat(32)), "amount": "1.5"},
                format!("{}:0", "cd".repeat(32))
            ],
            "attacker_addresses": ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"],
            "ttps": ["T1566.001 spearphishing", "social engineering"],
            "attribution": {"actor": "Unknown Crew", "confidence": 70},
            "tlp": "RED", "recipients": ["FIU"]
        }))
        .unwrap()
    }

    #[test]
    fn maps_and_validates() {
        let rep = OrgIdentity {
            id: "identity--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f".into(),
            name: "Reporter".into(),
            kind: "exchange".into(),
        };
        let fiu = OrgIdentity {
            id: "identity--9e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f".into(),
            name: "FIU".into(),
            kind: "fiu".into(),
        };
        let m = map_report(&report(), &ctx(&rep, std::slice::from_ref(&fiu))).unwrap();
        let objs = stix::bundle_objects(&m.bundle).unwrap();
        for o in objs {
            stix::validate_object(o).unwrap();
        }
        let inc = objs.iter().find(|o| o["type"] == "incident").unwrap();
        let ext = &inc["extensions"][THEFT_EXTENSION_ID];
        assert_eq!(ext["stolen_outputs"][0]["amount_sats"], 150_000_000);
        assert_eq!(ext["stolen_total_sats"], 150_000_000);
        assert_eq!(ext["theft_txids"].as_array().unwrap().len(), 2);
        assert_eq!(inc[RECIPIENTS_PROPERTY][0], fiu.id);
        assert_eq!(inc["object_marking_refs"][0], Tlp::Red.marking_id());
        assert!(objs.iter().any(|o| o["type"] == "cryptocurrency-wallet"));
        assert_eq!(
            objs.iter()
                .filter(|o| o["type"] == "attack-pattern")
                .count(),
            2
        );
        assert_eq!(m.actor.unwrap().stix_type, "threat-actor");
    }

    #[test]
    fn rejects_bad_input() {
        let rep = OrgIdentity {
            id: "identity--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f".into(),
            name: "R".into(),
            kind: "exchange".into(),
        };
        let mut r = report();
        r.attacker_addresses = vec!["bc1qnotanaddress".into()];
        assert!(map_report(&r, &ctx(&rep, &[]))
            .unwrap_err()
            .0
            .contains("address"));
        let mut r = report();
        r.stolen_outputs = vec![StolenOutput::Outpoint("abc:1".into())];
        assert!(map_report(&r, &ctx(&rep, &[]))
            .unwrap_err()
            .0
            .contains("64 hex"));
        let mut r = report();
        r.time = "last week".into();
        assert!(map_report(&r, &ctx(&rep, &[])).is_err());
        let mut r = report();
        r.tlp = Some("purple".into());
        assert!(map_report(&r, &ctx(&rep, &[])).is_err());
        assert_eq!(coins_to_sats(&json!("0.00000001")).unwrap(), 1);
        assert!(coins_to_sats(&json!("1.000000001")).is_err());
        assert!(coins_to_sats(&json!("-1")).is_err());
    }
}
