//! Problems found in a catalog, each tied to a file, line and column.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem: where it is, which SLO and field it concerns, and what was expected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
    /// Another file the problem concerns (the first definition of a
    /// duplicate id), so a report limited to changed files keeps it.
    #[serde(skip)]
    pub related: Option<PathBuf>,
}

impl Diagnostic {
    pub fn error(file: &Path, pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: pos.line,
            column: pos.column,
            severity: Severity::Error,
            slo: None,
            field: None,
            message: message.into(),
            related: None,
        }
    }
    pub fn with_related(mut self, file: &Path) -> Self {
        self.related = Some(file.to_path_buf());
        self
    }
    pub fn with_slo(mut self, slo: Option<&str>) -> Self {
        self.slo = slo.map(str::to_string);
        self
    }
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = (!field.is_empty()).then_some(field);
        self
    }
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: error: slo `svc/name`: `field`: message`, the form
    /// editors and CI annotators recognise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {}: ",
            self.file.display(),
            self.line,
            self.column,
            severity
        )?;
        if let Some(slo) = &self.slo {
            write!(f, "SLO `{slo}`: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "`{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Collects diagnostics in the order they are found; sorted by file and line on output.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
    /// Kept as they are pushed: decoders ask after every SLO, and counting
    /// anew each time made a file of many broken SLOs quadratic.
    errors: usize,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.errors += usize::from(d.is_error());
        self.items.push(d);
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.errors += other.errors;
        self.items.extend(other.items);
    }
    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }
    pub fn error_count(&self) -> usize {
        self.errors
    }
    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// All diagnostics ordered by file, line and column.
    pub fn sorted(mut self) -> Vec<Diagnostic> {
        self.items
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        self.items
    }
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }
}
