//! Who may connect: an allow list of peer key fingerprints, each optionally limited to some
//! models ([`Access`]), shared by the server and the dealer and swapped whole when the
//! operator reloads it ([`AllowList`]).
//!
//! The file holds one entry per line, `FINGERPRINT [MODEL ...]`: a key fingerprint as
//! `veil-client id` prints it (64 hex digits), then the names of the models that key may
//! query (none: every model). `#` starts a comment; blank lines are ignored. A key listed
//! twice gets the union of its lines (a line with no model gives it every model).
//!
//! The session code asks the list once per connection: a key not listed learns only that
//! it is "not allowed", nothing of what the host offers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

/// The message every refused key gets, whatever it asked for.
pub const NOT_ALLOWED: &str = "this key is not allowed here";

/// The keys allowed to connect, and the models each may query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// Fingerprint (lowercase hex) → the models it may query (`None`: every model).
    keys: BTreeMap<String, Option<BTreeSet<String>>>,
}

/// A line of an allow list that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct AccessError {
    /// The line, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub why: String,
}

impl Access {
    /// Parses an allow list's text (see the module doc for its syntax).
    pub fn parse(text: &str) -> Result<Access, AccessError> {
        let mut access = Access::default();
        for (i, raw) in text.lines().enumerate() {
            let content = raw.split('#').next().unwrap_or_default();
            let mut words = content.split_whitespace();
            let Some(key) = words.next() else { continue };
            let key = parse_key(key).map_err(|why| AccessError { line: i + 1, why })?;
            let models: BTreeSet<String> = words.map(str::to_string).collect();
            let entry = access
                .keys
                .entry(key)
                .or_insert_with(|| Some(BTreeSet::new()));
            match (entry.as_mut(), models.is_empty()) {
                (_, true) => *entry = None,
                (Some(set), false) => set.extend(models),
                (None, false) => {}
            }
        }
        Ok(access)
    }

    /// How many keys are listed.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// No key is listed: nobody may connect.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether the key `fingerprint` is listed.
    pub fn admits(&self, fingerprint: &str) -> bool {
        self.keys.contains_key(&fingerprint.to_ascii_lowercase())
    }

    /// Whether the key `fingerprint` may query the model `model`.
    pub fn may_query(&self, fingerprint: &str, model: &str) -> bool {
        match self.keys.get(&fingerprint.to_ascii_lowercase()) {
            None => false,
            Some(None) => true,
            Some(Some(models)) => models.contains(model),
        }
    }

    /// The first line's worth of model names, if any entry names models (meaningless where
    /// nothing is hosted, as at the dealer).
    pub fn first_model_named(&self) -> Option<&str> {
        self.keys
            .values()
            .flatten()
            .flatten()
            .next()
            .map(String::as_str)
    }
}

/// A fingerprint as peers pin it: 64 hex digits (SHA-256), any case.
fn parse_key(word: &str) -> Result<String, String> {
    if !word.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "{word:?} is not a key fingerprint (hex digits, as `veil-client id` prints it)"
        ));
    }
    if word.len() != 64 {
        return Err(format!(
            "a key fingerprint has 64 hex digits, {word:?} has {}",
            word.len()
        ));
    }
    Ok(word.to_ascii_lowercase())
}

/// An [`Access`] shared by every connection and replaced whole on reload: each connection
/// takes the current one once ([`AllowList::current`]) and no lock is held while it runs.
#[derive(Debug)]
pub struct AllowList {
    current: Mutex<Arc<Access>>,
}

impl AllowList {
    /// A list holding `access`.
    pub fn new(access: Access) -> AllowList {
        AllowList {
            current: Mutex::new(Arc::new(access)),
        }
    }

    /// The list as it is now.
    pub fn current(&self) -> Arc<Access> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the list; connections already running keep the one they took.
    pub fn replace(&self, access: Access) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(access);
    }
}

#[cfg(test)]
mod tests;
