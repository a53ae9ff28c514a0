//! STIX objects as a client posted them, without building a `serde_json::Value` tree.
//!
//! A TAXII envelope is read in one pass, each object handed over as soon as it is read
//! ([`read_envelope`]); each object keeps its top-level properties as raw slices
//! ([`RawObject`]) that are parsed only when validation asks for them, and the text a
//! server stores is the posted text itself, made compact ([`RawObject::compact`]) —
//! nothing is re-serialized.
//!
//! The meaning is exactly what a `Value` parse gives. Where the two could differ the object
//! is flagged ([`RawObject::needs_value`]) and the caller parses it as a `Value` instead:
//! a property name that repeats in one JSON object, at any depth (a `Value` keeps the last
//! one, other readers may keep the first), a number a `Value` cannot hold (`1e400`), or a
//! `\u` escape that is not valid UTF-16 in a string the validation never reads.

use crate::stix::Properties;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;

/// Why a request body is not a TAXII envelope.
#[derive(Debug)]
pub enum EnvelopeError {
    /// Not JSON.
    Malformed(serde_json::Error),
    /// JSON, but not an object with an `objects` list.
    NotEnvelope,
    /// The envelope names `objects` more than once (which list counts would depend on
    /// the reader; the objects are read as they come, so none is chosen).
    RepeatedObjects,
}

/// One element of an envelope's `objects`: the object, or [`NotAnObject`] for a list, a
/// string, a number…
pub type Posted<'a> = Result<RawObject<'a>, NotAnObject>;

/// The objects of a TAXII envelope (`{"objects": [...], ...}`), in order, read in one pass.
pub fn envelope_objects(body: &[u8]) -> Result<Vec<Posted<'_>>, EnvelopeError> {
    let mut out = Vec::new();
    read_envelope(body, |o| out.push(o))?;
    Ok(out)
}

/// Reads a TAXII envelope in one pass, handing each element of its `objects` to `each`
/// as soon as it is read (so its checks can start before the rest of the body is read);
/// answers how many there were. An error may come after some elements were handed over:
/// a caller that acts on them must undo that when this fails.
pub fn read_envelope<'a>(
    body: &'a [u8],
    mut each: impl FnMut(Posted<'a>),
) -> Result<usize, EnvelopeError> {
    // UTF-8 is checked once for the whole body rather than value by value.
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        // serde_json words the error (with its position) as it would have.
        Err(_) => {
            return Err(EnvelopeError::Malformed(
                serde_json::from_slice::<de::IgnoredAny>(body)
                    .err()
                    .unwrap_or_else(|| de::Error::custom("invalid UTF-8")),
            ))
        }
    };
    // Without a backslash anywhere, no string has an escape: strings are their own text.
    let escapes = body.contains(&b'\\');
    let mut d = serde_json::Deserializer::from_str(text);
    let envelope = EnvelopeVisitor {
        escapes,
        text,
        each: &mut each,
    }
    .deserialize(&mut d)
    .and_then(|e| d.end().map(|()| e));
    match envelope {
        Ok(Envelope::Objects(n)) => Ok(n),
        Ok(Envelope::NoList) => Err(EnvelopeError::NotEnvelope),
        Ok(Envelope::Repeated) => Err(EnvelopeError::RepeatedObjects),
        Err(e) => Err(EnvelopeError::Malformed(e)),
    }
}

/// The `visit_*` methods of a visitor for JSON scalars (bool, numbers, string, null): all
/// accept the scalar and return `$value`.
macro_rules! scalars_give {
    ($value:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// Each visitor here is also its own seed: it reads whatever value comes
/// (`deserialize_any`) and keeps its settings (`escapes`) for the values inside.
macro_rules! seed_is_visitor {
    ($t:ty) => {
        impl<'de> DeserializeSeed<'de> for $t {
            type Value = <$t as Visitor<'de>>::Value;

            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
        }
    };
}

/// What an envelope held: how many `objects` it listed, no list, or more than one
/// `objects`.
enum Envelope {
    Objects(usize),
    NoList,
    Repeated,
}

/// The envelope: `text` is the whole body, from which objects that need no change are
/// copied whole (see [`RawObject::compact`]).
struct EnvelopeVisitor<'de, 'f, F> {
    escapes: bool,
    text: &'de str,
    each: &'f mut F,
}

impl<'de, F: FnMut(Posted<'de>)> DeserializeSeed<'de> for EnvelopeVisitor<'de, '_, F> {
    type Value = Envelope;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, F: FnMut(Posted<'de>)> Visitor<'de> for EnvelopeVisitor<'de, '_, F> {
    type Value = Envelope;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TAXII envelope")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut objects = None;
        let mut repeated = false;
        while let Some(k) = map.next_key::<Key<'de>>()? {
            if k.0 == "objects" {
                repeated |= objects.is_some();
                objects = Some(map.next_value_seed(ObjectList {
                    escapes: self.escapes,
                    text: self.text,
                    each: &mut *self.each,
                })?);
            } else {
                // Parsed, not skipped: what a `Value` parse would reject is rejected here too.
                map.next_value::<Value>()?;
            }
        }
        Ok(match objects {
            _ if repeated => Envelope::Repeated,
            Some(Some(n)) => Envelope::Objects(n),
            _ => Envelope::NoList,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Value>()?.is_some() {}
        Ok(Envelope::NoList)
    }
    scalars_give!(Envelope::NoList);
}

/// The value of `objects`: hands its elements over and answers how many, `None` for
/// anything but a list.
struct ObjectList<'de, 'f, F> {
    escapes: bool,
    text: &'de str,
    each: &'f mut F,
}

impl<'de, F: FnMut(Posted<'de>)> DeserializeSeed<'de> for ObjectList<'de, '_, F> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, F: FnMut(Posted<'de>)> Visitor<'de> for ObjectList<'de, '_, F> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let element = ObjectVisitor {
            escapes: self.escapes,
            text: self.text,
        };
        let mut n = 0;
        while let Some(o) = seq.next_element_seed(element)? {
            (self.each)(o.ok_or(NotAnObject));
            n += 1;
        }
        Ok(Some(n))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<Key<'de>, Value>()?.is_some() {}
        Ok(None)
    }

    scalars_give!(None);
}

/// A property name, borrowed from the text when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a property name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

struct Prop<'a> {
    key: Cow<'a, str>,
    raw: &'a RawValue,
    parsed: OnceCell<Option<Value>>,
}

/// The properties validation and policy read, looked up by position instead of by name.
const KNOWN: [&str; 30] = [
    "type",
    "id",
    "spec_version",
    "created",
    "modified",
    "created_by_ref",
    "object_marking_refs",
    "granular_markings",
    "confidence",
    "labels",
    "extensions",
    "name",
    "relationship_type",
    "source_ref",
    "target_ref",
    "sighting_of_ref",
    "pattern",
    "pattern_type",
    "valid_from",
    "published",
    "object_refs",
    "context",
    "is_family",
    "value",
    "definition",
    "extension_types",
    "schema",
    "version",
    "x_chainwatch_recipients",
    "description",
];

fn known(k: &str) -> Option<usize> {
    // Length, first and last byte tell the names apart; one comparison confirms.
    let b = k.as_bytes();
    let i = match (b.len(), *b.first()?, *b.last()?) {
        (4, b't', b'e') => 0,
        (2, b'i', b'd') => 1,
        (12, b's', b'n') => 2,
        (7, b'c', b'd') => 3,
        (8, b'm', b'd') => 4,
        (14, b'c', b'f') => 5,
        (19, b'o', b's') => 6,
        (17, b'g', b's') => 7,
        (10, b'c', b'e') => 8,
        (6, b'l', b's') => 9,
        (10, b'e', b's') => 10,
        (4, b'n', b'e') => 11,
        (17, b'r', b'e') => 12,
        (10, b's', b'f') => 13,
        (10, b't', b'f') => 14,
        (15, b's', b'f') => 15,
        (7, b'p', b'n') => 16,
        (12, b'p', b'e') => 17,
        (10, b'v', b'm') => 18,
        (9, b'p', b'd') => 19,
        (11, b'o', b's') => 20,
        (7, b'c', b't') => 21,
        (9, b'i', b'y') => 22,
        (5, b'v', b'e') => 23,
        (10, b'd', b'n') => 24,
        (15, b'e', b's') => 25,
        (6, b's', b'a') => 26,
        (7, b'v', b'n') => 27,
        (23, b'x', b's') => 28,
        (11, b'd', b'n') => 29,
        _ => return None,
    };
    (KNOWN[i] == k).then_some(i)
}

/// A STIX object as posted: its top-level properties as raw JSON, each parsed into a
/// `Value` the first time it is asked for (see [`Properties`]).
pub struct RawObject<'a> {
    props: Vec<Prop<'a>>,
    /// Position + 1 in `props` of each [`KNOWN`] property (0: absent).
    slots: [u32; KNOWN.len()],
    escapes: bool,
    needs_value: bool,
    /// The object's posted text when it is compact already: no whitespace between
    /// tokens, and names without escapes.
    compact_text: Option<&'a str>,
}

/// The element is not a JSON object.
#[derive(Debug)]
pub struct NotAnObject;

/// One element of `objects`: `Some` object, `None` for anything else. `text` is the
/// whole body the element is read from.
#[derive(Clone, Copy)]
struct ObjectVisitor<'de> {
    escapes: bool,
    text: &'de str,
}

impl<'de> DeserializeSeed<'de> for ObjectVisitor<'de> {
    type Value = Option<RawObject<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectVisitor<'de> {
    type Value = Option<RawObject<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a STIX object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut o = RawObject {
            props: Vec::with_capacity(16),
            slots: [0; KNOWN.len()],
            escapes: self.escapes,
            needs_value: false,
            compact_text: None,
        };
        // Whether the object's text is compact, found from where its names and values lie
        // in the body: `{"` before the first name, `":` between a name and its value,
        // `,"` between a value and the next name, `}` after the last value.
        let at = |s: &str| (s.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        let bytes = self.text.as_bytes();
        let (mut compact, mut start, mut end) = (true, 0, 0);
        // Names other than the known ones, to find repeats (the known ones have slots).
        let mut others = Names::default();
        while let Some(k) = map.next_key::<Key<'de>>()? {
            let raw = map.next_value::<&'de RawValue>()?;
            match &k.0 {
                Cow::Borrowed(name) if compact => {
                    let n = at(name);
                    compact = if o.props.is_empty() {
                        start = n.wrapping_sub(2);
                        bytes.get(start..n) == Some(b"{\"")
                    } else {
                        n == end + 2
                    };
                    let v = at(raw.get());
                    compact &= v == n + name.len() + 2 && !has_insignificant_space(raw.get());
                    end = v + raw.get().len();
                }
                _ => compact = false,
            }
            let position = u32::try_from(o.props.len() + 1).map_err(de::Error::custom)?;
            let repeated = match known(&k.0) {
                Some(s) => {
                    let seen = o.slots[s] != 0;
                    o.slots[s] = position;
                    seen
                }
                None => !others.insert(k.0.clone()),
            };
            o.needs_value |= repeated || !value_is_plain(raw.get(), self.escapes);
            o.props.push(Prop {
                key: k.0,
                raw,
                parsed: OnceCell::new(),
            });
        }
        if compact && !o.props.is_empty() && bytes.get(end) == Some(&b'}') {
            o.compact_text = self.text.get(start..=end);
        }
        Ok(Some(o))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Value>()?.is_some() {}
        Ok(None)
    }
    scalars_give!(None);
}

impl<'a> RawObject<'a> {
    /// Whether the object must be read as a `Value` instead (a repeated property name,
    /// a number out of range, an escape that is not valid UTF-16): see the module notes.
    /// [`RawObject::compact`] is then the text to parse.
    pub fn needs_value(&self) -> bool {
        self.needs_value
    }

    /// The object as compact JSON: its properties in the order posted, with no
    /// whitespace between tokens; strings, numbers and names keep their posted spelling.
    pub fn compact(&self) -> String {
        match self.compact_text {
            Some(text) => text.to_string(),
            None => self.compact_by_parts(),
        }
    }

    /// [`RawObject::compact`] built from the names and values.
    fn compact_by_parts(&self) -> String {
        let len: usize = self
            .props
            .iter()
            .map(|p| p.key.len() + p.raw.get().len() + 4)
            .sum();
        let mut out = String::with_capacity(len + 2);
        out.push('{');
        for (i, p) in self.props.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match &p.key {
                // Borrowed: the name has no escapes, so its text is the name itself.
                Cow::Borrowed(k) => {
                    out.push('"');
                    out.push_str(k);
                    out.push('"');
                }
                Cow::Owned(k) => out.push_str(&Value::String(k.clone()).to_string()),
            }
            out.push(':');
            push_compact(&mut out, p.raw.get());
        }
        out.push('}');
        out
    }

    fn find(&self, k: &str) -> Option<&Prop<'a>> {
        match known(k) {
            Some(s) => match self.slots[s] {
                0 => None,
                i => self.props.get(i as usize - 1),
            },
            None => self.props.iter().rev().find(|p| p.key == k),
        }
    }
}

impl Properties for RawObject<'_> {
    fn prop(&self, k: &str) -> Option<&Value> {
        let p = self.find(k)?;
        p.parsed
            .get_or_init(|| serde_json::from_str(p.raw.get()).ok())
            .as_ref()
    }

    fn has(&self, k: &str) -> bool {
        self.find(k).is_some()
    }

    fn prop_str(&self, k: &str) -> Option<Option<&str>> {
        let p = self.find(k)?;
        let t = p.raw.get();
        if t.len() >= 2 && t.starts_with('"') && (!self.escapes || !t.contains('\\')) {
            // A string without escapes is its own text between the quotes.
            return Some(Some(&t[1..t.len() - 1]));
        }
        self.prop(k).map(Value::as_str)
    }

    fn prop_str_list(&self, k: &str) -> Option<Option<Vec<&str>>> {
        let p = self.find(k)?;
        let t = p.raw.get();
        if t.starts_with('[') && (!self.escapes || !t.contains('\\')) {
            // Strings without escapes are their own text: borrowed, nothing parsed twice.
            if let Ok(list) = serde_json::from_str::<Vec<&str>>(t) {
                return Some(Some(list));
            }
        }
        self.prop(k).map(|v| {
            v.as_array()
                .and_then(|a| a.iter().map(Value::as_str).collect())
        })
    }
}

/// Whether a raw value (already known to be JSON) reads the same as a `Value`: no repeated
/// names in its objects, numbers in range, valid escapes.
fn value_is_plain(raw: &str, escapes: bool) -> bool {
    match raw.as_bytes().first() {
        Some(b'"') => !escapes || !raw.contains('\\') || serde_json::from_str::<Value>(raw).is_ok(),
        Some(b'{' | b'[') => {
            let mut d = serde_json::Deserializer::from_str(raw);
            Plain.deserialize(&mut d).is_ok()
        }
        Some(b't' | b'f' | b'n') => true,
        _ => serde_json::from_str::<Value>(raw).is_ok(),
    }
}

/// The property names of one JSON object seen so far: a list while it is short, a hash
/// set beyond, so that an object with very many names costs linear time, not quadratic.
#[derive(Default)]
struct Names<'a> {
    few: Vec<Cow<'a, str>>,
    many: std::collections::HashSet<Cow<'a, str>>,
}

impl<'a> Names<'a> {
    /// Names in the list before they move to the set.
    const FEW: usize = 16;

    /// Adds `name`; `false` if it was there already.
    fn insert(&mut self, name: Cow<'a, str>) -> bool {
        if self.few.len() < Self::FEW {
            if self.few.contains(&name) {
                return false;
            }
            self.few.push(name);
            return true;
        }
        if self.many.is_empty() {
            self.many.extend(self.few.iter().cloned());
        }
        self.many.insert(name)
    }
}

/// Walks a value, failing on a repeated property name; strings are decoded and numbers
/// parsed by the deserializer, so their errors fail it too.
#[derive(Clone, Copy)]
struct Plain;

seed_is_visitor!(Plain);

impl<'de> Visitor<'de> for Plain {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut names = Names::default();
        while let Some(k) = map.next_key::<Key<'de>>()? {
            if !names.insert(k.0) {
                return Err(de::Error::custom("repeated property name"));
            }
            map.next_value_seed(Plain)?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Plain)?.is_some() {}
        Ok(())
    }

    scalars_give!(());
}

/// Appends a JSON value's text without whitespace between tokens.
fn push_compact(out: &mut String, raw: &str) {
    let b = raw.as_bytes();
    // Only lists and objects can hold whitespace outside strings.
    if !has_insignificant_space(raw) {
        out.push_str(raw);
        return;
    }
    let mut in_str = false;
    let mut esc = false;
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
        } else if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
            out.push_str(&raw[start..i]);
            start = i + 1;
        }
    }
    out.push_str(&raw[start..]);
}

fn has_insignificant_space(raw: &str) -> bool {
    let b = raw.as_bytes();
    if !matches!(b.first(), Some(b'{' | b'[')) {
        return false;
    }
    let mut in_str = false;
    let mut esc = false;
    for &c in b {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
        } else if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stix::{validate_object, validate_properties};
    use crate::tlp::{effective_level, effective_level_of, Tlp};
    use serde_json::json;

    fn objects(body: &str) -> Vec<Posted<'_>> {
        envelope_objects(body.as_bytes()).unwrap()
    }

    fn object(body: &str) -> RawObject<'_> {
        objects(body).into_iter().next().unwrap().unwrap()
    }

    #[test]
    fn compact_objects_are_copied_whole_and_the_same_as_built() {
        let compact = [
            r#"{"a":1}"#,
            r#"{"type":"indicator","labels":["x","y"],"o":{"k":[1,2.50,null]},"e":"\u00e9 \" ,"}"#,
            r#"{"s":"a b , \" : c","n":-1e3}"#,
        ];
        let spaced = [
            r#"{ "a":1}"#,
            r#"{"a" :1}"#,
            r#"{"a": 1}"#,
            r#"{"a":1 }"#,
            r#"{"a":1, "b":2}"#,
            r#"{"a":1 ,"b":2}"#,
            r#"{"a":[1, 2]}"#,
            r#"{"a":{"b" :2}}"#,
            r#"{"\u0061":1}"#,
        ];
        for (texts, whole) in [(&compact[..], true), (&spaced[..], false)] {
            for t in texts {
                let body = format!("{{\"objects\": [ {t} ,{t}]}}");
                for o in objects(&body) {
                    let o = o.unwrap();
                    assert_eq!(o.compact_text.is_some(), whole, "{t}");
                    assert_eq!(o.compact(), o.compact_by_parts(), "{t}");
                    let parsed: Value = serde_json::from_str(t).unwrap();
                    let back: Value = serde_json::from_str(&o.compact()).unwrap();
                    assert_eq!(back, parsed, "{t}");
                    if whole {
                        assert_eq!(o.compact(), *t);
                    }
                }
            }
        }
    }

    #[test]
    fn objects_with_many_properties_keep_their_markings_and_repeats_are_found() {
        let red = Tlp::Red.marking_id();
        for n in [10, 254, 255, 300, 5000] {
            let mut v = indicator();
            v.as_object_mut().unwrap().remove("object_marking_refs");
            // Written by hand so that the order is known: many other names first, then a
            // TLP:RED marking, which must not read as unmarked.
            let mut text = v.to_string();
            text.pop();
            for i in 0..n {
                text.push_str(&format!(",\"x_p{i}\":{i}"));
            }
            let object_text = format!("{text},\"object_marking_refs\":[\"{red}\"]}}");
            let v: Value = serde_json::from_str(&object_text).unwrap();
            let body = format!("{{\"objects\":[{object_text}]}}");
            let o = object(&body);
            assert!(!o.needs_value(), "{n}");
            assert_eq!(effective_level_of(&o), Tlp::Red, "{n}");
            assert_eq!(effective_level_of(&o), effective_level(&v));
            assert_eq!(validate_properties(&o), validate_object(&v));
            // A name repeated after many others, at the top or nested, is found.
            let top = format!("{{\"objects\":[{text},\"x_p3\":0}}]}}");
            assert!(object(&top).needs_value(), "{n}");
            let inner: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
            let inner = inner.join(",");
            for (nested, repeated) in [
                (format!("{{{inner}}}"), false),
                (format!("{{{inner},\"k1\":0}}"), true),
            ] {
                let body = format!("{{\"objects\":[{{\"type\":\"x\",\"x_n\":{nested}}}]}}");
                assert_eq!(object(&body).needs_value(), repeated, "{n}");
            }
        }
    }

    #[test]
    fn known_names() {
        for (i, k) in KNOWN.iter().enumerate() {
            assert_eq!(known(k), Some(i));
        }
        for k in [
            "",
            "t",
            "typo",
            "types",
            "x_chainwatch_recipient",
            "descriptioN",
        ] {
            assert_eq!(known(k), None);
        }
    }

    #[test]
    fn envelopes() {
        let o = objects(r#"{"more": false, "objects": [{"a": 1}, [2], "x", {}]}"#);
        assert_eq!(o.len(), 4);
        assert_eq!(o[0].as_ref().unwrap().compact(), r#"{"a":1}"#);
        assert!(o[1].is_err() && o[2].is_err());
        assert_eq!(o[3].as_ref().unwrap().compact(), "{}");
        // `objects` named twice: refused, whatever the values.
        for twice in [
            r#"{"objects": [1], "objects": [2, 3]}"#,
            r#"{"objects": [1], "objects": null}"#,
            r#"{"objects": 1, "objects": []}"#,
        ] {
            assert!(
                matches!(
                    envelope_objects(twice.as_bytes()),
                    Err(EnvelopeError::RepeatedObjects)
                ),
                "{twice}"
            );
        }
        for not in [r#"{"objects": {"a": 1}}"#, r#"{"object": []}"#, "[1]", "3"] {
            assert!(
                matches!(
                    envelope_objects(not.as_bytes()),
                    Err(EnvelopeError::NotEnvelope)
                ),
                "{not}"
            );
        }
        for bad in [
            r#"{"objects": ["#,
            r#"{"objects": []} x"#,
            r#"{"objects": [], "x": 1e400}"#,
            r#"{"objects": [[1e400]]}"#,
            "{\"objects\": [\"\u{1}\"]}",
        ] {
            assert!(
                matches!(
                    envelope_objects(bad.as_bytes()),
                    Err(EnvelopeError::Malformed(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            envelope_objects(b"{\"objects\": [{\"a\": \"\xff\"}]}"),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    fn indicator() -> Value {
        json!({
            "type": "indicator", "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z",
            "pattern": "[ipv4-addr:value = '1.2.3.4']", "pattern_type": "stix",
            "valid_from": "2016-01-01T00:00:00Z", "labels": ["a", "b"],
            "object_marking_refs": ["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"],
            "x_nested": {"k": [1, 2.5, {"z": null}], "s": "a b\n"}
        })
    }

    #[test]
    fn same_answers_as_a_value() {
        let mut cases = vec![indicator()];
        for (k, v) in [
            ("pattern", Value::Null),
            ("spec_version", json!("2.0")),
            ("created", json!("yesterday")),
            ("modified", json!("2015-01-01T00:00:00Z")),
            ("object_marking_refs", json!(["identity--x"])),
            ("object_marking_refs", json!([7])),
            ("confidence", json!(101)),
            ("labels", json!([1])),
            ("labels", json!("x")),
            ("labels", json!([])),
            ("labels", json!(["a \"b\"", "c"])),
            ("object_marking_refs", json!([])),
            (
                "object_marking_refs",
                json!("marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"),
            ),
            (
                "object_marking_refs",
                json!([
                    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
                    3
                ]),
            ),
            (
                "object_marking_refs",
                json!([
                    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
                    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
                ]),
            ),
            ("type", json!(7)),
            ("type", json!("malware")),
            ("id", json!("malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")),
            ("name", json!("a \"quoted\" \\ name")),
            ("pattern", json!("[file:name = 'a\\b']")),
        ] {
            let mut v2 = indicator();
            if v.is_null() {
                v2.as_object_mut().unwrap().remove(k);
            } else {
                v2[k] = v;
            }
            cases.push(v2);
        }
        for v in cases {
            // Compact, and pretty-printed as Python clients send it.
            for text in [
                json!({ "objects": [v] }).to_string(),
                serde_json::to_string_pretty(&json!({ "objects": [v] })).unwrap(),
            ] {
                let o = object(&text);
                assert!(!o.needs_value());
                assert_eq!(validate_properties(&o), validate_object(&v), "{text}");
                assert_eq!(effective_level_of(&o), effective_level(&v));
                let compact = o.compact();
                assert!(!compact.contains('\n'), "{compact}");
                assert_eq!(serde_json::from_str::<Value>(&compact).unwrap(), v);
            }
        }
    }

    #[test]
    fn compact_keeps_strings_and_order() {
        let text = r#"{"objects": [ { "z" : "a  b\" ,  c" , "a\u0041" : [ 1 ,
            { "k" : "v v" } ] , "n" : 1.50 } ]}"#;
        let o = object(text);
        assert!(!o.needs_value());
        assert_eq!(
            o.compact(),
            r#"{"z":"a  b\" ,  c","aA":[1,{"k":"v v"}],"n":1.50}"#
        );
        let text = r#"{"objects":[{"a":"x y","b":[1,{"c":"d"}]}]}"#;
        assert_eq!(object(text).compact(), r#"{"a":"x y","b":[1,{"c":"d"}]}"#);
    }

    #[test]
    fn doubtful_objects_need_a_value() {
        for text in [
            r#"{"objects": [{"a": 1, "a": 2}]}"#,
            r#"{"objects": [{"type": 1, "type": 2}]}"#,
            r#"{"objects": [{"a": {"b": 1, "b": 2}}]}"#,
            r#"{"objects": [{"a": [{"b": 1, "c": 2, "b": 3}]}]}"#,
            r#"{"objects": [{"a": "\ud800"}]}"#,
            r#"{"objects": [{"a": {"b": "\udc00x"}}]}"#,
        ] {
            let o = object(text);
            assert!(o.needs_value(), "{text}");
            // The compact text reads as the posted text does.
            let posted: Value =
                serde_json::from_str(text).map_or(Value::Null, |v: Value| v["objects"][0].clone());
            let compact: Value = serde_json::from_str(&o.compact()).unwrap_or(Value::Null);
            assert_eq!(compact, posted, "{text}");
        }
        let o = object(r#"{"objects": [{"a": 1e400}]}"#);
        assert!(o.needs_value());
        assert!(serde_json::from_str::<Value>(&o.compact()).is_err());
        for text in [
            r#"{"objects": [{"a": "\u00e9\n", "b": {"a": 1}, "c": [{"a": 1}, {"a": 2}]}]}"#,
            r#"{"objects": [{"a": 18446744073709551616, "b": -0.0, "c": true, "d": null}]}"#,
        ] {
            assert!(!object(text).needs_value(), "{text}");
        }
    }
}
