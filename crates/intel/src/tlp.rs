//! TLP 2.0 markings: the exact OASIS marking-definition ids, TLP 1.0 ids accepted on input,
//! and the most restrictive level of an object.
//!
//! An object is as restricted as the most restrictive TLP marking it carries, in
//! `object_marking_refs` or in any `granular_markings` entry (a reader must be cleared for
//! every marking). An object with no TLP marking at all is treated as [`Tlp::Green`]
//! (community only), the conservative reading for an exchange of theft reports:
//! see [`DEFAULT_UNMARKED`].

use crate::stix::Properties;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The OASIS extension definition that defines TLP 2.0 marking definitions.
pub const TLP2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// The identity that publishes the OASIS TLP 2.0 marking definitions.
pub const TLP2_CREATOR: &str = "identity--e50ab59c-5c4f-4d40-bf6a-d58418d89bcd";

/// Level given to objects that carry no TLP marking.
pub const DEFAULT_UNMARKED: Tlp = Tlp::Green;

/// A TLP 2.0 level, ordered from least to most restrictive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Tlp {
    /// TLP:CLEAR — no limit on disclosure.
    Clear,
    /// TLP:GREEN — the community.
    Green,
    /// TLP:AMBER — the recipient organisations and their clients.
    Amber,
    /// TLP:AMBER+STRICT — the recipient organisations only.
    #[serde(rename = "AMBER+STRICT", alias = "AMBER_STRICT")]
    AmberStrict,
    /// TLP:RED — the named recipients only.
    Red,
}

impl Tlp {
    /// All levels, least restrictive first.
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// The TLP 2.0 marking-definition id.
    pub fn marking_id(self) -> &'static str {
        match self {
            Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
            Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        }
    }

    /// The TLP 1.0 (STIX 2.1 built-in) marking-definition id, where there is one.
    pub fn tlp1_marking_id(self) -> Option<&'static str> {
        match self {
            Tlp::Clear => Some("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"),
            Tlp::Green => Some("marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"),
            Tlp::Amber => Some("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"),
            Tlp::AmberStrict => None,
            Tlp::Red => Some("marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"),
        }
    }

    /// The level of a marking-definition id (TLP 2.0 or 1.0), or `None` for other markings.
    pub fn from_marking_id(id: &str) -> Option<Tlp> {
        Tlp::ALL
            .into_iter()
            .find(|t| t.marking_id() == id || t.tlp1_marking_id() == Some(id))
    }

    /// The name in TLP 2.0 lower case (`clear`, `amber+strict`), as the marking's `tlp_2_0`.
    pub fn tlp2_name(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }

    /// Display name (`TLP:AMBER+STRICT`).
    pub fn label(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }

    /// Parses `CLEAR`, `tlp:amber+strict`, `amber_strict`, `white` (TLP 1.0 for CLEAR)….
    pub fn parse(s: &str) -> Option<Tlp> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_prefix("tlp:").unwrap_or(&s);
        match s {
            "clear" | "white" => Some(Tlp::Clear),
            "green" => Some(Tlp::Green),
            "amber" => Some(Tlp::Amber),
            "amber+strict" | "amber_strict" | "amber-strict" | "amberstrict" => {
                Some(Tlp::AmberStrict)
            }
            "red" => Some(Tlp::Red),
            _ => None,
        }
    }

    /// Small integer code, stored in databases (0 = CLEAR … 4 = RED).
    pub fn code(self) -> i64 {
        self as i64
    }

    /// The level of a code written by [`Tlp::code`].
    pub fn from_code(code: i64) -> Option<Tlp> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Tlp::ALL.get(i).copied())
    }

    /// The OASIS TLP 2.0 marking-definition object, as published.
    pub fn marking_definition(self) -> Value {
        json!({
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": self.marking_id(),
            "created": "2022-10-01T00:00:00.000Z",
            "created_by_ref": TLP2_CREATOR,
            "name": self.label(),
            "extensions": {
                TLP2_EXTENSION: {
                    "extension_type": "property-extension",
                    "tlp_2_0": self.tlp2_name()
                }
            }
        })
    }
}

impl std::fmt::Display for Tlp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// The TLP levels an object's markings name (object-level and granular), in order.
pub fn markings_of(object: &Value) -> Vec<Tlp> {
    match object.as_object() {
        Some(o) => markings_of_properties(o),
        None => Vec::new(),
    }
}

/// [`markings_of`] on an object's properties (a parsed object or one as posted).
pub fn markings_of_properties<P: Properties + ?Sized>(object: &P) -> Vec<Tlp> {
    let mut out = Vec::new();
    match object.prop_str_list("object_marking_refs") {
        Some(Some(refs)) => out.extend(refs.into_iter().filter_map(Tlp::from_marking_id)),
        // Not a list of strings only: the strings in it, if it is a list.
        Some(None) => {
            if let Some(refs) = object.prop("object_marking_refs").and_then(Value::as_array) {
                out.extend(
                    refs.iter()
                        .filter_map(Value::as_str)
                        .filter_map(Tlp::from_marking_id),
                );
            }
        }
        None => {}
    }
    if let Some(gms) = object.prop("granular_markings").and_then(Value::as_array) {
        out.extend(
            gms.iter()
                .filter_map(|g| g.get("marking_ref").and_then(Value::as_str))
                .filter_map(Tlp::from_marking_id),
        );
    }
    out.sort();
    out.dedup();
    out
}

/// The level an object is restricted to: its most restrictive TLP marking, or
/// [`DEFAULT_UNMARKED`] when it has none — except unmarked `marking-definition` and
/// `extension-definition` objects, which are CLEAR: they define vocabulary that every
/// reader needs to interpret what it may see.
pub fn effective_level(object: &Value) -> Tlp {
    match object.as_object() {
        Some(o) => effective_level_of(o),
        None => DEFAULT_UNMARKED,
    }
}

/// [`effective_level`] of an object's properties (a parsed object or one as posted).
pub fn effective_level_of<P: Properties + ?Sized>(object: &P) -> Tlp {
    let default = match object.prop_str("type").flatten() {
        Some("marking-definition" | "extension-definition") => Tlp::Clear,
        _ => DEFAULT_UNMARKED,
    };
    markings_of_properties(object)
        .into_iter()
        .max()
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_levels() {
        for t in Tlp::ALL {
            assert_eq!(Tlp::from_marking_id(t.marking_id()), Some(t));
            assert_eq!(Tlp::from_code(t.code()), Some(t));
            assert_eq!(Tlp::parse(t.label()), Some(t));
            if let Some(id) = t.tlp1_marking_id() {
                assert_eq!(Tlp::from_marking_id(id), Some(t));
            }
        }
        assert_eq!(Tlp::parse("white"), Some(Tlp::Clear));
        assert_eq!(Tlp::from_marking_id("marking-definition--other"), None);
        assert!(Tlp::Red > Tlp::AmberStrict && Tlp::AmberStrict > Tlp::Amber);
    }

    #[test]
    fn most_restrictive_wins() {
        let o = json!({
            "object_marking_refs": [Tlp::Green.marking_id()],
            "granular_markings": [{"marking_ref": Tlp::Red.tlp1_marking_id(), "selectors": ["name"]}]
        });
        assert_eq!(effective_level(&o), Tlp::Red);
        assert_eq!(effective_level(&json!({})), DEFAULT_UNMARKED);
        assert_eq!(effective_level(&Tlp::Red.marking_definition()), Tlp::Clear);
        let clear =
            json!({"object_marking_refs": [Tlp::Clear.marking_id(), "marking-definition--x"]});
        assert_eq!(effective_level(&clear), Tlp::Clear);
    }
}
