//! Finding the line of a field path in the source text, for validation findings.
//!
//! Validation works on the parsed [`Config`](super::Config), which no longer knows where
//! anything was written. To point at a line we read the source again with a seeking visitor
//! that walks the document along the path and, on reaching the target, fails on purpose with a
//! marker error: the YAML parser stamps every error with the position of the node being read,
//! so the marker comes back carrying the target's line and column. A mapping key's position is
//! that of the key itself (`name:`), a list item's that of the item.
//!
//! This is best effort: a path that is not written in the source (a defaulted field) is looked
//! up again without its last step, up to the root; unparsable source gives `None`. YAML is
//! read first (it also reads JSON), then JSON for the rare JSON text that YAML rejects.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::diagnostic::{FieldPath, Location, Segment};

/// The message of the on-purpose error; never shown to a user.
const FOUND: &str = "xproxy-config-locate: found";

/// The place of `path` in `source`, or of its nearest written ancestor; `None` for the root or
/// when the source does not parse.
pub fn locate(source: &str, path: &FieldPath) -> Option<Location> {
    let mut segments = path.segments();
    while !segments.is_empty() {
        match locate_exact(source, segments) {
            Found::At(location) => return Some(location),
            Found::Absent => {}
            Found::Unreadable => return None,
        }
        segments = segments.split_last().map_or(&[], |(_, parent)| parent);
    }
    None
}

enum Found {
    At(Location),
    Absent,
    Unreadable,
}

fn locate_exact(source: &str, segments: &[Segment]) -> Found {
    let yaml = serde_norway::Deserializer::from_str(source);
    match (Seek { rest: segments }).deserialize(yaml) {
        Ok(()) => return Found::Absent,
        Err(err) if err.to_string().contains(FOUND) => {
            return err.location().map_or(Found::Absent, |l| {
                Found::At(Location { line: l.line(), column: l.column() })
            });
        }
        Err(_) => {}
    }
    let mut json = serde_json::Deserializer::from_str(source);
    match (Seek { rest: segments }).deserialize(&mut json) {
        Ok(()) => Found::Absent,
        Err(err) if err.to_string().contains(FOUND) && err.line() > 0 => {
            Found::At(Location { line: err.line(), column: err.column().max(1) })
        }
        Err(_) => Found::Unreadable,
    }
}

/// Walks one node; `rest` is the path still to follow from it.
struct Seek<'p> {
    rest: &'p [Segment],
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Seek<'_> {
    /// At the target: fail with the marker. Past a leaf with path left: not written here.
    fn leaf<E: de::Error>(&self) -> Result<(), E> {
        if self.rest.is_empty() {
            Err(E::custom(FOUND))
        } else {
            Ok(())
        }
    }
}

macro_rules! leaf_visits {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name<E: de::Error>(self, _: $ty) -> Result<(), E> {
            self.leaf()
        })*
    };
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    leaf_visits!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64,
        visit_str: &str, visit_bytes: &[u8]);

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.rest.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        let target = match first {
            Segment::Key(key) => Some(key.as_str()),
            Segment::Index(_) => None,
        };
        // Every entry is read, even after the target: the YAML reader rejects a mapping left
        // half-read, which would hide the marker.
        while let Some(hit) = map.next_key_seed(KeySeek { target, last: rest.is_empty() })? {
            if hit {
                map.next_value_seed(Seek { rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.rest.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        let target = match first {
            Segment::Index(index) => Some(*index),
            Segment::Key(_) => None,
        };
        let mut index = 0;
        loop {
            let more = if Some(index) == target {
                seq.next_element_seed(Seek { rest })?.is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        use de::VariantAccess;
        let Some((first, rest)) = self.rest.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        let target = match first {
            Segment::Key(key) => Some(key.as_str()),
            Segment::Index(_) => None,
        };
        let (hit, variant) = data.variant_seed(KeySeek { target, last: rest.is_empty() })?;
        if hit {
            variant.newtype_variant_seed(Seek { rest })
        } else {
            variant.newtype_variant::<IgnoredAny>().map(|_| ())
        }
    }
}

/// Reads a mapping key: `Ok(true)` when it is the target key, the marker error when it is the
/// target key and the last step of the path (so the key's own position is reported).
struct KeySeek<'p> {
    target: Option<&'p str>,
    last: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeek<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeek<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        let hit = self.target == Some(key);
        if hit && self.last {
            Err(E::custom(FOUND))
        } else {
            Ok(hit)
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "\
listeners:
  - name: main
    address: 127.0.0.1:1
clusters:
  - name: a
    endpoints:
      - address: 127.0.0.1:2
  - name: b
    endpoints:
      - address: 127.0.0.1:3
        weight: 0
";

    fn path(keys: &[&str]) -> FieldPath {
        keys.iter().fold(FieldPath::root(), |p, k| match k.parse::<usize>() {
            Ok(i) => p.index(i),
            Err(_) => p.key(k),
        })
    }

    fn line(source: &str, keys: &[&str]) -> Option<usize> {
        locate(source, &path(keys)).map(|l| l.line)
    }

    #[test]
    fn finds_keys_and_items_in_yaml() {
        assert_eq!(line(YAML, &["clusters", "1", "endpoints", "0", "weight"]), Some(11));
        assert_eq!(line(YAML, &["clusters", "1", "name"]), Some(8));
        assert_eq!(line(YAML, &["listeners", "0", "address"]), Some(3));
        assert_eq!(locate(YAML, &path(&["clusters", "1", "name"])).map(|l| l.column), Some(5));
    }

    #[test]
    fn absent_fields_fall_back_to_their_parent() {
        // `weight` is not written for cluster a's endpoint: its endpoint item is reported.
        assert_eq!(line(YAML, &["clusters", "0", "endpoints", "0", "weight"]), Some(7));
        assert_eq!(line(YAML, &["admin", "address"]), None);
    }

    #[test]
    fn finds_keys_in_json() {
        let json = "{\n  \"listeners\": [\n    {\"name\": \"m\",\n     \"address\": \"x\"}\n  ]\n}";
        assert_eq!(line(json, &["listeners", "0", "address"]), Some(4));
    }

    #[test]
    fn unparsable_source_gives_no_location() {
        assert_eq!(line("[unclosed", &["listeners"]), None);
    }
}
