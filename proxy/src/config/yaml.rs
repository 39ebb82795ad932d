//! Reading YAML text into a JSON data tree, so that YAML and JSON configurations mean the same.
//!
//! Why not deserialize [`Config`](super::Config) straight from the YAML reader: the
//! `serde_yaml` 0.9 line (and its maintained forks, `serde_norway` included) reads an enum only
//! from a YAML tag (`action: !cluster backend`) and refuses the single-key mapping form
//! (`action: {cluster: backend}`) that JSON uses and that our documentation shows. Going through
//! a [`serde_json::Value`] accepts both: a mapping is a JSON object, a tag becomes a single-key
//! object named after it. YAML anchors, aliases and `<<` merge keys are resolved on the way.
//! The price is that errors met after this step carry no position; the loader recovers the line
//! from the field path (see [`locate`](super::locate)).

use serde_json::{Map, Number, Value as Json};
use serde_norway::Value as Yaml;

use super::diagnostic::{Diagnostic, FieldPath, Location};

/// Parses YAML text into a JSON tree. Syntax errors carry their line and column.
pub fn to_json_tree(text: &str) -> Result<Json, Diagnostic> {
    let mut yaml: Yaml = serde_norway::from_str(text).map_err(|err| {
        let location = err.location().map(|l| Location { line: l.line(), column: l.column() });
        let mut message = err.to_string();
        if let Some(l) = err.location() {
            // libyaml's own text repeats the position; the diagnostic prints it once, in front.
            let at = format!(" at line {} column {}", l.line(), l.column());
            message = message.replacen(&at, "", 1);
        }
        Diagnostic { path: String::new(), location, message }
    })?;
    yaml.apply_merge().map_err(|err| Diagnostic {
        path: String::new(),
        location: None,
        message: format!("bad `<<` merge key: {err}"),
    })?;
    convert(yaml, &FieldPath::root())
}

fn convert(yaml: Yaml, at: &FieldPath) -> Result<Json, Diagnostic> {
    Ok(match yaml {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(b),
        Yaml::Number(n) => number(&n),
        Yaml::String(s) => Json::String(s),
        Yaml::Sequence(items) => Json::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| convert(item, &at.index(i)))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(mapping) => {
            let mut object = Map::with_capacity(mapping.len());
            for (key, value) in mapping {
                let key = match key {
                    Yaml::String(s) => s,
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Null => "null".to_owned(),
                    _ => {
                        return Err(Diagnostic::new(at, "a mapping key must be a plain scalar"));
                    }
                };
                let value = convert(value, &at.key(&key))?;
                object.insert(key, value);
            }
            Json::Object(object)
        }
        Yaml::Tagged(tagged) => {
            let name = tagged.tag.to_string().trim_start_matches('!').to_owned();
            let value = convert(tagged.value, &at.key(&name))?;
            let mut object = Map::with_capacity(1);
            object.insert(name, value);
            Json::Object(object)
        }
    })
}

/// A YAML number as a JSON number; a non-finite float (`.inf`, `.nan`) has no JSON number and
/// is kept as its text, so that the type error that follows shows what was written.
fn number(n: &serde_norway::Number) -> Json {
    if let Some(u) = n.as_u64() {
        Json::Number(u.into())
    } else if let Some(i) = n.as_i64() {
        Json::Number(i.into())
    } else {
        n.as_f64()
            .and_then(Number::from_f64)
            .map_or_else(|| Json::String(n.to_string()), Json::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_single_key_maps_read_alike() {
        let tagged = to_json_tree("action: !cluster backend\n").unwrap();
        let mapped = to_json_tree("action: {cluster: backend}\n").unwrap();
        assert_eq!(tagged, mapped);
        assert_eq!(mapped, serde_json::json!({"action": {"cluster": "backend"}}));
    }

    #[test]
    fn anchors_and_merge_keys_are_resolved() {
        let text = "base: &b {weight: 2, address: x}\nep:\n  <<: *b\n  address: y\n";
        let tree = to_json_tree(text).unwrap();
        assert_eq!(tree["ep"], serde_json::json!({"weight": 2, "address": "y"}));
    }

    #[test]
    fn syntax_errors_carry_the_position_once() {
        let err = to_json_tree("listeners: [\n").unwrap_err();
        assert_eq!(err.location, Some(Location { line: 2, column: 1 }));
        assert!(!err.message.contains("line 2"), "{}", err.message);
    }

    #[test]
    fn numbers_keep_their_kind() {
        let tree = to_json_tree("a: 3\nb: -1\nc: 1.5\nd: .inf\n7: x\n").unwrap();
        assert_eq!(tree, serde_json::json!({"a": 3, "b": -1, "c": 1.5, "d": ".inf", "7": "x"}));
    }
}
