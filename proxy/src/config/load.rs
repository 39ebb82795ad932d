//! Reading a configuration file: YAML or JSON text → [`Config`], with errors that name the
//! field path and the line.
//!
//! Parsing goes through `serde_path_to_error`, so an error names the field it is about
//! (`clusters[1].endpoints[0].address`), and the YAML or JSON reader gives the line and
//! column. Parsing never panics on any input; every problem is a [`ConfigError`].

use std::fmt;
use std::io;
use std::path::Path;

use super::diagnostic::{Diagnostic, FieldPath, Location, Segment};
use super::locate::locate;
use super::schema::Config;
use super::validate::{validate, Report};
use super::yaml::to_json_tree;

/// The syntax of a configuration text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// YAML 1.2 (which also reads JSON).
    Yaml,
    /// JSON.
    Json,
}

impl Format {
    /// The format a file name implies: `.json` is JSON; `.yaml`, `.yml` and anything else are
    /// read as YAML, which accepts JSON too.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file as given.
        file: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The text is not a configuration: bad syntax, an unknown or missing field, a value of
    /// the wrong type or form. Displays as `FILE:LINE:COLUMN: PATH: MESSAGE`.
    #[error("{}", Located(file.as_deref(), diagnostic))]
    Parse {
        /// The file, when the text came from one.
        file: Option<String>,
        /// The field, place and message.
        diagnostic: Diagnostic,
    },
    /// The configuration parsed but breaks rules checked by validation. Displays every error,
    /// one per line.
    #[error("{}", Lines(file.as_deref(), errors))]
    Invalid {
        /// The file, when the text came from one.
        file: Option<String>,
        /// Every error found (never empty).
        errors: Vec<Diagnostic>,
    },
}

impl ConfigError {
    /// Every problem, each with its field path and place (one for a parse error).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            ConfigError::Read { source, .. } => vec![Diagnostic {
                path: String::new(),
                location: None,
                message: format!("cannot read: {source}"),
            }],
            ConfigError::Parse { diagnostic, .. } => vec![diagnostic.clone()],
            ConfigError::Invalid { errors, .. } => errors.clone(),
        }
    }

    fn with_file(self, name: &str) -> Self {
        match self {
            ConfigError::Parse { diagnostic, .. } => {
                ConfigError::Parse { file: Some(name.to_owned()), diagnostic }
            }
            ConfigError::Invalid { errors, .. } => {
                ConfigError::Invalid { file: Some(name.to_owned()), errors }
            }
            other => other,
        }
    }
}

struct Located<'a>(Option<&'a str>, &'a Diagnostic);

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(file) => self.1.in_file(file).fmt(f),
            None => self.1.fmt(f),
        }
    }
}

struct Lines<'a>(Option<&'a str>, &'a [Diagnostic]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.1.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            Located(self.0, d).fmt(f)?;
        }
        Ok(())
    }
}

/// Reads and parses a configuration file, choosing the format by its extension
/// ([`Format::from_path`]). Does not validate: see [`load_validated`].
pub fn load_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
    let path = path.as_ref();
    let text = read(path)?;
    parse(&text, Format::from_path(path)).map_err(|e| e.with_file(&path.display().to_string()))
}

/// Reads, parses and validates a configuration file: the configuration and its warnings, or
/// every error. This is what `xproxy run` needs before it binds anything.
pub fn load_validated(
    path: impl AsRef<Path>,
    known_protocols: &[&str],
) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let text = read(path)?;
    let config = parse(&text, Format::from_path(path)).map_err(|e| e.with_file(&name))?;
    let Report { errors, warnings } = validate(&config, Some(&text), known_protocols);
    if errors.is_empty() {
        Ok((config, warnings))
    } else {
        Err(ConfigError::Invalid { file: Some(name), errors })
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { file: path.display().to_string(), source })
}

/// Parses configuration text. The error names the field path and the line and column.
pub fn parse(text: &str, format: Format) -> Result<Config, ConfigError> {
    let diagnostic = match format {
        Format::Yaml => match parse_yaml(text) {
            Ok(config) => return Ok(config),
            Err(d) => d,
        },
        Format::Json => match parse_json(text) {
            Ok(config) => return Ok(config),
            Err(d) => d,
        },
    };
    Err(ConfigError::Parse { file: None, diagnostic })
}

fn parse_yaml(text: &str) -> Result<Config, Diagnostic> {
    let tree = to_json_tree(text)?;
    if tree.is_null() {
        let message = "the configuration is empty (it needs at least `listeners`)";
        return Err(Diagnostic { path: String::new(), location: None, message: message.into() });
    }
    serde_path_to_error::deserialize(tree).map_err(|err| {
        let message = err.inner().to_string();
        let path = diagnostic_path(err.path(), &message);
        // The tree has no positions: find the field in the text again.
        let location = locate(text, &path);
        Diagnostic { path: path.to_string(), location, message }
    })
}

fn parse_json(text: &str) -> Result<Config, Diagnostic> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let config: Config = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|err| json_diagnostic(Some(err.path()), err.inner()))?;
    deserializer.end().map_err(|err| json_diagnostic(None, &err))?;
    Ok(config)
}

fn json_diagnostic(
    path: Option<&serde_path_to_error::Path>,
    err: &serde_json::Error,
) -> Diagnostic {
    let mut message = err.to_string();
    let location = (err.line() > 0).then(|| {
        let at = format!(" at line {} column {}", err.line(), err.column());
        if message.ends_with(&at) {
            message.truncate(message.len() - at.len());
        }
        // serde_json reports column 0 for a position before a line's first character.
        Location { line: err.line(), column: err.column().max(1) }
    });
    let path = path.map(|p| diagnostic_path(p, &message).to_string()).unwrap_or_default();
    Diagnostic { path, location, message }
}

/// The path a parse error is about. An unknown-field error names the unknown key's own path
/// (`listeners[0].adress`), which is what the user has to fix, whichever way the reader
/// reports it.
fn diagnostic_path(path: &serde_path_to_error::Path, message: &str) -> FieldPath {
    let mut out = FieldPath::root();
    for segment in path.iter() {
        out = match segment {
            serde_path_to_error::Segment::Seq { index } => out.index(*index),
            serde_path_to_error::Segment::Map { key } => out.key(key),
            serde_path_to_error::Segment::Enum { variant } => out.key(variant),
            serde_path_to_error::Segment::Unknown => break,
        };
    }
    if let Some(field) = unknown_field(message) {
        let named = matches!(out.segments().last(), Some(Segment::Key(k)) if k == field);
        if !named {
            out = out.key(field);
        }
    }
    out
}

/// The field name of serde's "unknown field `x`, expected …" message.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(field, _)| field)
}

#[cfg(test)]
mod tests;
