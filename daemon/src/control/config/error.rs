//! Config errors that point at the file, line and key, so an operator can fix
//! them without reading our source.

use std::ops::Range;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The reason is in the message, so it is not also a `source` (a field
    // named `source` would be): `{:#}` would print it twice.
    #[error("cannot read config file {}: {reason}", file.display())]
    Read {
        file: PathBuf,
        reason: std::io::Error,
    },
    #[error("{}:{line}:{column}: {key}: {message}", file.display())]
    Invalid {
        file: PathBuf,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
}

/// Turns byte spans and key paths into `file:line:column: key: message`.
pub(super) struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl<'a> Locator<'a> {
    pub fn new(file: &'a Path, text: &'a str) -> Self {
        Locator { file, text }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rfind('\n')
            .map_or(before.len(), |nl| before.len() - nl - 1)
            + 1;
        (line, column)
    }

    pub fn at_span(&self, span: Range<usize>, key: &str, message: String) -> ConfigError {
        let (line, column) = self.line_col(span.start);
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.to_string(),
            message,
        }
    }

    /// Locate a key path such as `server.listen` or `routes[2]` by searching the
    /// text for its last segment; good enough for messages, falls back to line 1.
    pub fn at_key(&self, key: &str, message: String) -> ConfigError {
        let span = self.find_key(key).unwrap_or(0..0);
        self.at_span(span, key, message)
    }

    fn find_key(&self, key: &str) -> Option<Range<usize>> {
        // `routes[2]...` -> the third `[[routes]]` header.
        if let Some(rest) = key.strip_prefix("routes[") {
            let idx: usize = rest.split(']').next()?.parse().ok()?;
            let (start, _) = self.text.match_indices("[[routes]]").nth(idx)?;
            return Some(start..start);
        }
        let mut parts = key.split('.');
        let section = parts.next()?;
        let leaf = key.rsplit('.').next()?;
        let leaf = leaf.split('[').next()?;
        let header = format!("[{section}");
        let section_start = self.text.find(&header).unwrap_or(0);
        let search = &self.text[section_start..];
        for (pos, _) in search.match_indices(leaf) {
            let at = section_start + pos;
            let line_start = self.text[..at].rfind('\n').map_or(0, |n| n + 1);
            if self.text[line_start..at].trim().is_empty()
                || self.text[line_start..at].trim_start().starts_with('[')
            {
                return Some(at..at);
            }
        }
        Some(section_start..section_start)
    }

    /// A toml/serde error, with the key path when serde_path_to_error knows it.
    pub fn toml(&self, err: toml::de::Error, key: Option<String>) -> ConfigError {
        let key = key
            .filter(|k| !k.is_empty() && k != ".")
            .unwrap_or_else(|| "(syntax)".into());
        let message = err.message().trim().to_string();
        match err.span() {
            Some(span) => self.at_span(span, &key, message),
            None => self.at_key(&key, message),
        }
    }
}
