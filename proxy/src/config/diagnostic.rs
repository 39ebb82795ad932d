//! What a configuration problem says: the field path, the place in the file, the message.
//!
//! Parse errors and validation findings share this shape so that `xproxy validate` prints
//! them alike, one per line, as `FILE:LINE:COLUMN: PATH: MESSAGE`.

use std::fmt;

/// One step of a [`FieldPath`]: a mapping key or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// A mapping key (a struct field name or a map key such as a header name).
    Key(String),
    /// A list index, from 0.
    Index(usize),
}

/// Where a value sits in the document, as `clusters[1].endpoints[0].address`.
///
/// The empty path is the document itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The document root.
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// This path extended by a mapping key.
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        FieldPath(segments)
    }

    /// This path extended by a list index.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        FieldPath(segments)
    }

    /// The steps, from the root.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// True for the document root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A place in the source text; both numbers count from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// The line, from 1.
    pub line: usize,
    /// The column (in characters), from 1.
    pub column: usize,
}

/// One problem found in a configuration: a parse error, a validation error or a warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The field the problem is about, as `clusters[1].endpoints[0].address`; empty when the
    /// problem is the document's own (a YAML syntax error, an empty file).
    pub path: String,
    /// Where in the source, when known. Parse errors always know; validation findings know when
    /// the source text was given and the field is written in it (a defaulted field is not, and
    /// then its nearest written parent is used).
    pub location: Option<Location>,
    /// What is wrong, in words.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic with no location yet.
    pub fn new(path: &FieldPath, message: impl Into<String>) -> Self {
        Diagnostic { path: path.to_string(), location: None, message: message.into() }
    }

    /// Displays as `FILE:LINE:COLUMN: PATH: MESSAGE` (parts that are unknown are left out).
    pub fn in_file<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        InFile { file: Some(file), diagnostic: self }
    }
}

/// Displays as `LINE:COLUMN: PATH: MESSAGE` (parts that are unknown are left out).
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        InFile { file: None, diagnostic: self }.fmt(f)
    }
}

struct InFile<'a> {
    file: Option<&'a str>,
    diagnostic: &'a Diagnostic,
}

impl fmt::Display for InFile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.diagnostic;
        match (self.file, d.location) {
            (Some(file), Some(at)) => write!(f, "{file}:{}:{}: ", at.line, at.column)?,
            (Some(file), None) => write!(f, "{file}: ")?,
            (None, Some(at)) => write!(f, "{}:{}: ", at.line, at.column)?,
            (None, None) => {}
        }
        if !d.path.is_empty() {
            write!(f, "{}: ", d.path)?;
        }
        f.write_str(&d.message)
    }
}

/// ` (did you mean `NAME`?)` for the known name nearest to `name`, or empty when none is near.
///
/// Near means an edit distance (Levenshtein) of at most a third of the name's length, or of
/// one edit for a short name, and smaller than both names, so that something of the name is
/// kept: `orders-v3` finds `orders-v2` and `rw` finds `raw`, but `d` does not find `c`, and a
/// name with nothing like it gets no hint rather than a misleading one. Ties go to the
/// alphabetically first, so the hint does not depend on map order.
pub fn did_you_mean<'k>(name: &str, known: impl IntoIterator<Item = &'k str>) -> String {
    let length = name.chars().count();
    let limit = (length / 3).max(1);
    known
        .into_iter()
        .map(|candidate| (strsim::levenshtein(name, candidate), candidate))
        .filter(|&(distance, candidate)| {
            distance > 0 && distance <= limit && distance < length.min(candidate.chars().count())
        })
        .min()
        .map_or_else(String::new, |(_, nearest)| format!(" (did you mean `{nearest}`?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_suggests_only_a_near_name() {
        let known = ["orders-v2", "payments", "raw"];
        assert_eq!(did_you_mean("orders-v3", known), " (did you mean `orders-v2`?)");
        assert_eq!(did_you_mean("paymnets", known), " (did you mean `payments`?)");
        assert_eq!(did_you_mean("row", known), " (did you mean `raw`?)");
        assert_eq!(did_you_mean("inventory", known), "");
        assert_eq!(did_you_mean("x", known), "");
        assert_eq!(did_you_mean("d", ["c"]), "");
        assert_eq!(did_you_mean("rw", known), " (did you mean `raw`?)");
        assert_eq!(did_you_mean("ab", ["ac", "aa"]), " (did you mean `aa`?)");
    }

    #[test]
    fn paths_display_like_field_accessors() {
        let path = FieldPath::root().key("clusters").index(1).key("endpoints").index(0);
        assert_eq!(path.key("address").to_string(), "clusters[1].endpoints[0].address");
        assert_eq!(FieldPath::root().to_string(), "");
        assert!(FieldPath::root().is_root());
    }

    #[test]
    fn diagnostics_display_file_line_column_path_message() {
        let mut d = Diagnostic::new(&FieldPath::root().key("admin"), "bad");
        assert_eq!(d.in_file("c.yaml").to_string(), "c.yaml: admin: bad");
        d.location = Some(Location { line: 12, column: 7 });
        assert_eq!(d.in_file("c.yaml").to_string(), "c.yaml:12:7: admin: bad");
        assert_eq!(d.to_string(), "12:7: admin: bad");
        d.path.clear();
        assert_eq!(d.to_string(), "12:7: bad");
    }
}
