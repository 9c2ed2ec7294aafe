//! Customers' fields kept compactly as a request is parsed: each key once per list, one 16-byte
//! slot per value given (text in one buffer), never a map of JSON values per event. A body of raw
//! histories takes about its own size in memory this way; field paths (`customers[3].events[7].x`)
//! are written only when an error is reported.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Up to this many distinct keys in one list are looked up one by one; more (a hostile body's
/// fresh key per event) go through a hash map, so a list costs linear time whatever it holds.
const LINEAR_KEYS: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Null,
    Int,
    UInt,
    Float,
    Bool,
    Text,
    Object,
    Array,
}

/// One value given: its key, its kind and its bits (a number, or where its text lies).
#[derive(Clone, Copy, Debug)]
struct Slot {
    bits: u64,
    key: u32,
    kind: Kind,
}

/// One value as given, read from a list.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    /// `null`, or no value under that key.
    Null,
    /// An integer that fits `i64`.
    Int(i64),
    /// A larger positive integer.
    UInt(u64),
    /// Any other number.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// Text.
    Text(&'a str),
    /// An object (its content is not kept: no column takes one).
    Object,
    /// A list (not kept either).
    Array,
}

impl Cell<'_> {
    /// Whether the value is null or absent.
    pub fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }

    /// Whether the value is an object or a list.
    pub fn is_nested(&self) -> bool {
        matches!(self, Cell::Object | Cell::Array)
    }

    /// The number, as `serde_json::Value::as_f64` reads it.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Cell::Int(v) => Some(v as f64),
            Cell::UInt(v) => Some(v as f64),
            Cell::Float(v) => Some(v),
            _ => None,
        }
    }

    /// Writes the value as a CSV file would hold it (text as is, numbers and booleans as JSON
    /// writes them); nothing for null or nested values.
    pub fn write_text(&self, out: &mut String) -> bool {
        match *self {
            Cell::Null | Cell::Object | Cell::Array => return false,
            Cell::Text(s) => out.push_str(s),
            Cell::Int(v) => {
                let _ = write!(out, "{v}");
            }
            Cell::UInt(v) => {
                let _ = write!(out, "{v}");
            }
            Cell::Float(v) => write_float(out, v),
            Cell::Bool(v) => out.push_str(if v { "true" } else { "false" }),
        }
        true
    }

    /// [`Cell::write_text`] as an owned string.
    pub fn text(&self) -> Option<String> {
        let mut s = String::new();
        self.write_text(&mut s).then_some(s)
    }
}

/// A finite float as serde_json writes it (so a value reads the same whichever form held it).
fn write_float(out: &mut String, v: f64) {
    match serde_json::Number::from_f64(v) {
        Some(n) => {
            let _ = write!(out, "{n}");
        }
        None => out.push_str("null"),
    }
}

/// As JSON, for messages: `"soon"`, `12`, `true`; nested values by their kind.
impl fmt::Display for Cell<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Null => f.write_str("null"),
            Cell::Text(s) => f.write_str(&serde_json::Value::from(*s).to_string()),
            Cell::Object => f.write_str("an object"),
            Cell::Array => f.write_str("a list"),
            other => f.write_str(&other.text().unwrap_or_default()),
        }
    }
}

/// The storage behind [`Rows`].
#[derive(Debug, Default)]
struct Store {
    /// Keys and text values.
    text: String,
    /// The distinct keys, as (start, end) in `text`, in the order they first came.
    keys: Vec<(u32, u32)>,
    /// The values given, object after object.
    slots: Vec<Slot>,
    /// Where each object's slots end.
    ends: Vec<u32>,
}

impl Store {
    /// A copy at its exact size: a list is read into scratch buffers that grow by doubling (up
    /// to twice the memory), then kept as this copy.
    fn exact(&self) -> Store {
        Store {
            text: self.text.as_str().to_owned(),
            keys: self.keys.as_slice().to_vec(),
            slots: self.slots.as_slice().to_vec(),
            ends: self.ends.as_slice().to_vec(),
        }
    }

    fn clear(&mut self) {
        self.text.clear();
        self.keys.clear();
        self.slots.clear();
        self.ends.clear();
    }
}

thread_local! {
    /// The scratch buffers lists are read into, reused list after list on a thread.
    static SCRATCH: std::cell::RefCell<Store> = std::cell::RefCell::default();
}

/// Reads one list with `read` into this thread's scratch buffers and keeps an exact copy.
fn read_exact<E>(read: impl FnOnce(&mut Building<'_>) -> Result<(), E>) -> Result<Rows, E> {
    // Taken out while in use: a list read inside another (never the case) gets fresh buffers.
    let mut scratch = SCRATCH.with(|s| s.take());
    scratch.clear();
    let read = read(&mut Building::new(&mut scratch));
    let rows = read.map(|()| Rows(Box::new(scratch.exact())));
    // Buffers grown by a hostile list are not kept for the thread's life.
    if scratch.text.capacity() + 16 * scratch.slots.capacity() <= 1 << 20 {
        SCRATCH.with(|s| s.replace(scratch));
    }
    rows
}

/// A list of objects given by name (a customer's events, say), stored compactly.
#[derive(Debug, Default)]
pub struct Rows(Box<Store>);

impl Rows {
    /// How many objects.
    pub fn len(&self) -> usize {
        self.0.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.ends.is_empty()
    }

    fn key_text(&self, k: u32) -> &str {
        let (start, end) = self.0.keys[k as usize];
        &self.0.text[start as usize..end as usize]
    }

    /// The index of key `name`, if any object has it.
    pub fn key(&self, name: &str) -> Option<u32> {
        (0..self.0.keys.len() as u32).find(|&k| self.key_text(k) == name)
    }

    fn object(&self, j: usize) -> &[Slot] {
        let start = if j == 0 { 0 } else { self.0.ends[j - 1] as usize };
        &self.0.slots[start..self.0.ends[j] as usize]
    }

    fn cell(&self, s: &Slot) -> Cell<'_> {
        match s.kind {
            Kind::Null => Cell::Null,
            Kind::Int => Cell::Int(s.bits as i64),
            Kind::UInt => Cell::UInt(s.bits),
            Kind::Float => Cell::Float(f64::from_bits(s.bits)),
            Kind::Bool => Cell::Bool(s.bits != 0),
            Kind::Text => Cell::Text(&self.0.text[(s.bits & 0xffff_ffff) as usize..(s.bits >> 32) as usize]),
            Kind::Object => Cell::Object,
            Kind::Array => Cell::Array,
        }
    }

    /// Object `j`'s value under key `key` (the last one when a key is repeated, as a JSON map
    /// keeps it), null when absent.
    pub fn get(&self, j: usize, key: Option<u32>) -> Cell<'_> {
        let Some(key) = key else { return Cell::Null };
        self.object(j)
            .iter()
            .rev()
            .find(|s| s.key == key)
            .map_or(Cell::Null, |s| self.cell(s))
    }

    /// Object `j`'s keys and values, in the order given.
    pub fn entries(&self, j: usize) -> impl Iterator<Item = (&str, Cell<'_>)> {
        self.object(j).iter().map(|s| (self.key_text(s.key), self.cell(s)))
    }

    /// The first object holding a key that `known` refuses, and that object's first such key in
    /// alphabetical order (as a JSON map lists its keys).
    pub fn first_unknown(&self, known: impl Fn(&str) -> bool) -> Option<(usize, &str)> {
        let unknown: Vec<bool> = (0..self.0.keys.len() as u32)
            .map(|k| !known(self.key_text(k)))
            .collect();
        if !unknown.contains(&true) {
            return None;
        }
        (0..self.len()).find_map(|j| {
            self.object(j)
                .iter()
                .filter(|s| unknown[s.key as usize])
                .map(|s| self.key_text(s.key))
                .min()
                .map(|key| (j, key))
        })
    }

    /// One object from a JSON map.
    fn one<'de, D: Deserializer<'de>>(d: D) -> Result<Rows, D::Error> {
        read_exact(|b| d.deserialize_map(ObjectVisitor { b }))
    }
}

/// A list from a JSON array of objects.
impl<'de> Deserialize<'de> for Rows {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = Rows;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Rows, A::Error> {
                read_exact(|b| {
                    while seq.next_element_seed(ObjectSeed { b: &mut *b })?.is_some() {}
                    Ok(())
                })
            }
        }
        d.deserialize_seq(ListVisitor)
    }
}

/// One object given by name (a feature vector, the customers table's row), stored as [`Rows`]
/// of one.
#[derive(Debug, Default)]
pub struct Fields(Rows);

impl Fields {
    /// The value under `name` (null when absent).
    pub fn get(&self, name: &str) -> Cell<'_> {
        self.0.get(0, self.0.key(name))
    }

    /// The keys and values, in the order given.
    pub fn entries(&self) -> impl Iterator<Item = (&str, Cell<'_>)> {
        (!self.0.is_empty()).then(|| self.0.entries(0)).into_iter().flatten()
    }

    /// The first key, in alphabetical order, that `known` refuses.
    pub fn first_unknown(&self, known: impl Fn(&str) -> bool) -> Option<&str> {
        self.0.first_unknown(known).map(|(_, key)| key)
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Rows::one(d).map(Fields)
    }
}

/// A list being filled as its JSON is read.
struct Building<'s> {
    store: &'s mut Store,
    /// Key lookup once a list has more than [`LINEAR_KEYS`] keys.
    lookup: Option<HashMap<Box<str>, u32>>,
    /// The key found last: the next one is most often the key after it.
    last: usize,
}

fn offset<E: de::Error>(n: usize) -> Result<u32, E> {
    u32::try_from(n).map_err(|_| E::custom("a list holds more than 4 GiB of keys and text, or 4 billion values"))
}

impl<'s> Building<'s> {
    fn new(store: &'s mut Store) -> Self {
        Building {
            store,
            lookup: None,
            last: 0,
        }
    }

    fn key_text(&self, k: usize) -> &str {
        let (start, end) = self.store.keys[k];
        &self.store.text[start as usize..end as usize]
    }

    fn key<E: de::Error>(&mut self, name: &str) -> Result<u32, E> {
        let n = self.store.keys.len();
        let next = if self.last + 1 < n { self.last + 1 } else { 0 };
        let found = if n > 0 && self.key_text(next) == name {
            Some(next)
        } else if let Some(lookup) = &self.lookup {
            lookup.get(name).map(|&k| k as usize)
        } else {
            (0..n).find(|&k| self.key_text(k) == name)
        };
        let k = match found {
            Some(k) => k,
            None => {
                let start = offset(self.store.text.len())?;
                self.store.text.push_str(name);
                let end = offset(self.store.text.len())?;
                self.store.keys.push((start, end));
                if let Some(lookup) = &mut self.lookup {
                    lookup.insert(name.into(), n as u32);
                } else if n + 1 > LINEAR_KEYS {
                    self.lookup = Some(
                        (0..=n)
                            .map(|k| (Box::<str>::from(self.key_text(k)), k as u32))
                            .collect(),
                    );
                }
                offset::<E>(n)?;
                n
            }
        };
        self.last = k;
        Ok(k as u32)
    }

    fn push(&mut self, key: u32, kind: Kind, bits: u64) {
        self.store.slots.push(Slot { bits, key, kind });
    }

    fn push_text<E: de::Error>(&mut self, key: u32, s: &str) -> Result<(), E> {
        let start = offset::<E>(self.store.text.len())?;
        self.store.text.push_str(s);
        let end = offset::<E>(self.store.text.len())?;
        self.push(key, Kind::Text, u64::from(start) | (u64::from(end) << 32));
        Ok(())
    }

    fn end_object<E: de::Error>(&mut self) -> Result<(), E> {
        let end = offset(self.store.slots.len())?;
        self.store.ends.push(end);
        Ok(())
    }
}

struct ObjectSeed<'b, 's> {
    b: &'b mut Building<'s>,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(ObjectVisitor { b: self.b })
    }
}

struct ObjectVisitor<'b, 's> {
    b: &'b mut Building<'s>,
}

impl<'de> Visitor<'de> for ObjectVisitor<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed { b: self.b })? {
            map.next_value_seed(CellSeed { b: self.b, key })?;
        }
        self.b.end_object()
    }
}

struct KeySeed<'b, 's> {
    b: &'b mut Building<'s>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = u32;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u32, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u32, E> {
        self.b.key(v)
    }
}

struct CellSeed<'b, 's> {
    b: &'b mut Building<'s>,
    key: u32,
}

impl<'de> DeserializeSeed<'de> for CellSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.b.push(self.key, Kind::Bool, u64::from(v));
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.b.push(self.key, Kind::Int, v as u64);
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        // As serde_json's `is_i64`: a positive integer that fits is an i64.
        let kind = if i64::try_from(v).is_ok() {
            Kind::Int
        } else {
            Kind::UInt
        };
        self.b.push(self.key, kind, v);
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.b.push(self.key, Kind::Float, v.to_bits());
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.b.push_text(self.key, v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.b.push(self.key, Kind::Null, 0);
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.b.push(self.key, Kind::Object, 0);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.b.push(self.key, Kind::Array, 0);
        Ok(())
    }
}

/// A customer's id as given, echoed in the answer: text, a number, true/false, or other JSON
/// (a list, an object) kept as its text.
#[derive(Clone, Debug, PartialEq)]
pub enum Id {
    /// Text.
    Text(Box<str>),
    /// An integer that fits `i64`.
    Int(i64),
    /// A larger positive integer.
    UInt(u64),
    /// Any other number.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// A list or an object, as compact JSON text.
    Json(Box<str>),
}

impl Id {
    /// The id as one text cell (text as is, anything else as JSON).
    pub fn text(&self) -> String {
        let mut s = String::new();
        match self {
            Id::Text(t) | Id::Json(t) => s.push_str(t),
            Id::Int(v) => s = v.to_string(),
            Id::UInt(v) => s = v.to_string(),
            Id::Float(v) => write_float(&mut s, *v),
            Id::Bool(v) => s = v.to_string(),
        }
        s
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Text(t) => s.serialize_str(t),
            Id::Int(v) => s.serialize_i64(*v),
            Id::UInt(v) => s.serialize_u64(*v),
            Id::Float(v) => s.serialize_f64(*v),
            Id::Bool(v) => s.serialize_bool(*v),
            Id::Json(t) => serde_json::from_str::<serde_json::Value>(t)
                .map_err(serde::ser::Error::custom)?
                .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl<'de> Visitor<'de> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Id, E> {
                Ok(Id::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(i64::try_from(v).map_or(Id::UInt(v), Id::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Id, E> {
                Ok(Id::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id::Text(v.into()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Id, A::Error> {
                let mut out = String::new();
                Json(&mut out).visit_map(map)?;
                Ok(Id::Json(out.into()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Id, A::Error> {
                let mut out = String::new();
                Json(&mut out).visit_seq(seq)?;
                Ok(Id::Json(out.into()))
            }
        }
        d.deserialize_any(IdVisitor)
    }
}

/// Writes the JSON value being read as compact JSON text, without building a tree of values.
struct Json<'o>(&'o mut String);

impl<'de> DeserializeSeed<'de> for Json<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Json<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        let _ = write!(self.0, "{v}");
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let _ = write!(self.0, "{v}");
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        write_float(self.0, v);
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let _ = write!(self.0, "{}", serde_json::Value::from(v));
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.push_str("null");
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push('[');
        let mut first = true;
        loop {
            let at = self.0.len();
            if !first {
                self.0.push(',');
            }
            if seq.next_element_seed(Json(self.0))?.is_none() {
                self.0.truncate(at);
                break;
            }
            first = false;
        }
        self.0.push(']');
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.push('{');
        let mut first = true;
        loop {
            let at = self.0.len();
            if !first {
                self.0.push(',');
            }
            if map.next_key_seed(Json(self.0))?.is_none() {
                self.0.truncate(at);
                break;
            }
            self.0.push(':');
            map.next_value_seed(Json(self.0))?;
            first = false;
        }
        self.0.push('}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rows(json: &str) -> Rows {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_list_keeps_each_key_once_and_every_value_as_given() {
        let r = rows(
            r#"[{"date":"1998-01-01","amount":1.5,"n":2},{"n":-3,"date":"x\"y","amount":null},
                {"big":18446744073709551615,"ok":true,"obj":{"a":[1]},"list":[1,2]},{}]"#,
        );
        assert_eq!(r.len(), 4);
        assert_eq!(std::mem::size_of::<Slot>(), 16);
        let (date, amount, n) = (r.key("date"), r.key("amount"), r.key("n"));
        assert_eq!(r.get(0, date), Cell::Text("1998-01-01"));
        assert_eq!(r.get(0, amount), Cell::Float(1.5));
        assert_eq!(r.get(0, n), Cell::Int(2));
        assert_eq!(r.get(1, n), Cell::Int(-3));
        assert_eq!(r.get(1, date), Cell::Text("x\"y"));
        assert_eq!(r.get(1, amount), Cell::Null);
        assert_eq!(r.get(2, r.key("big")), Cell::UInt(u64::MAX));
        assert_eq!(r.get(2, r.key("ok")), Cell::Bool(true));
        assert_eq!(r.get(2, r.key("obj")), Cell::Object);
        assert_eq!(r.get(2, r.key("list")), Cell::Array);
        assert_eq!(r.get(3, date), Cell::Null);
        assert_eq!(r.get(0, r.key("nothing")), Cell::Null);
        // "date" is stored once, not once per event.
        assert_eq!(r.0.text.matches("date").count(), 1);
        assert_eq!(
            r.first_unknown(|k| ["date", "amount", "n"].contains(&k)),
            Some((2, "big"))
        );
        assert_eq!(r.first_unknown(|_| true), None);
    }

    #[test]
    fn many_distinct_keys_are_found_again_through_the_lookup() {
        let objects: Vec<String> = (0..100).map(|k| format!(r#"{{"k{k}":{k},"k{}":1}}"#, k / 2)).collect();
        let r = rows(&format!("[{}]", objects.join(",")));
        assert_eq!(r.0.keys.len(), 100);
        assert_eq!(r.get(99, r.key("k99")), Cell::Int(99));
        assert_eq!(r.get(99, r.key("k49")), Cell::Int(1));
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_as_a_json_map_does() {
        let f: Fields = serde_json::from_str(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert_eq!(f.get("a"), Cell::Int(3));
        assert_eq!(f.entries().count(), 3);
        assert_eq!(f.first_unknown(|k| k == "a"), Some("b"));
    }

    #[test]
    fn errors_name_the_path_of_the_value() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct C {
            events: Rows,
        }
        for (json, path, says) in [
            (r#"{"events":[{"a":1},5]}"#, "events[1]", "expected a map"),
            (r#"{"events":{"a":1}}"#, "events", "expected a sequence"),
            (r#"{"events":[{"a":1},{"b":tru}]}"#, "events[1].b", "expected ident"),
        ] {
            let e =
                serde_path_to_error::deserialize::<_, C>(&mut serde_json::Deserializer::from_str(json)).unwrap_err();
            assert_eq!(e.path().to_string(), path, "{json}");
            assert!(e.inner().to_string().contains(says), "{json}: {}", e.inner());
        }
    }

    #[test]
    fn cells_read_as_json_and_csv_would() {
        assert_eq!(Cell::Float(2.0).text().as_deref(), Some("2.0"));
        assert_eq!(Cell::Int(-7).text().as_deref(), Some("-7"));
        assert_eq!(Cell::Bool(false).text().as_deref(), Some("false"));
        assert_eq!(Cell::Null.text(), None);
        assert_eq!(Cell::Text("so\"on").to_string(), r#""so\"on""#);
        assert_eq!(Cell::Object.to_string(), "an object");
        assert_eq!(Cell::UInt(u64::MAX).as_f64(), Some(u64::MAX as f64));
    }

    #[test]
    fn an_id_is_echoed_as_given_without_a_tree_of_values() {
        for json in [
            r#""a-1""#,
            "12",
            "-3",
            "1.5",
            "true",
            r#"[1,"x",{"b":null}]"#,
            r#"{"z":1,"a":[2.5]}"#,
        ] {
            let id: Id = serde_json::from_str(json).unwrap();
            let back = serde_json::to_value(&id).unwrap();
            assert_eq!(back, serde_json::from_str::<serde_json::Value>(json).unwrap(), "{json}");
        }
        let id: Id = serde_json::from_str(r#" [ 1 , { "k" : "v" } ] "#).unwrap();
        assert_eq!(id, Id::Json(r#"[1,{"k":"v"}]"#.into()));
        assert_eq!(Id::Text("c7".into()).text(), "c7");
        assert_eq!(Id::Float(3.0).text(), "3.0");
        let none: Option<Id> = serde_json::from_str("null").unwrap();
        assert_eq!(none, None);
    }
}
