//! Reading a JSON body's verdict fields without building a tree: bytes in, the wanted
//! top-level fields (as raw JSON) out, scanning no further than needed.

use serde_json::Value;

/// The top-level fields of a JSON object body that a profile reads, found in one scan that
/// stops as soon as all of them were seen (a large body costs a prefix scan, not a tree).
pub struct Json<'a> {
    /// The wanted top-level fields found, as raw JSON.
    found: Vec<(std::borrow::Cow<'a, str>, &'a serde_json::value::RawValue)>,
    /// Did the scan reach the end of a valid document (or stop early by choice)?
    pub(super) complete: bool,
    /// Did it stop early because it had what it needed?
    pub(super) stopped: bool,
}

/// The scan's deliberate early stop travels as a serde error; this flag, not the error's
/// text, tells it from a real one.
const STOP: &str = "all wanted fields found";

struct TopFields<'a, 'w> {
    /// Set when the visitor stops because it has what it needs.
    stopped: &'w mut bool,
    wanted: &'w [&'w str],
    /// A success field whose value `true` settles the verdict.
    success: Option<&'w str>,
    found: &'w mut Vec<(std::borrow::Cow<'a, str>, &'a serde_json::value::RawValue)>,
}

impl<'de> serde::de::DeserializeSeed<'de> for TopFields<'de, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for TopFields<'de, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::Error;
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if self.wanted.contains(&k.as_ref()) && !self.found.iter().any(|(f, _)| *f == k) {
                let v: &'de serde_json::value::RawValue = map.next_value()?;
                let settled = self.success == Some(k.as_ref()) && v.get() == "true";
                self.found.push((k, v));
                if self.found.len() == self.wanted.len() || settled {
                    *self.stopped = true;
                    return Err(A::Error::custom(STOP));
                }
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'a> Json<'a> {
    /// Scans a JSON object for the `wanted` top-level fields; `None` if it is not an object.
    /// A cut body (a gap, a cap) still yields the fields before the cut.
    pub fn parse(bytes: &'a [u8], wanted: &[&str], success: Option<&str>) -> Option<Json<'a>> {
        use serde::de::DeserializeSeed;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return None;
        }
        let mut found = Vec::new();
        let mut stopped = false;
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let complete = match (TopFields { stopped: &mut stopped, wanted, success, found: &mut found })
            .deserialize(&mut de)
        {
            Ok(()) => de.end().is_ok(),
            Err(_) => stopped,
        };
        Some(Json { found, complete, stopped })
    }

    /// The value at a JSON pointer (`/data/token`) whose first segment was wanted.
    pub fn pointer(&self, pointer: &str) -> Option<Value> {
        use serde_json::value::RawValue;
        let mut tokens = pointer.strip_prefix('/')?.split('/');
        let first = unescape_pointer(tokens.next()?);
        let mut cur: &RawValue = self.found.iter().find(|(k, _)| *k == first).map(|(_, v)| *v)?;
        for token in tokens {
            let token = unescape_pointer(token);
            let text = cur.get().trim_start();
            cur = if text.starts_with('{') {
                let map: std::collections::BTreeMap<std::borrow::Cow<'_, str>, &RawValue> =
                    serde_json::from_str(cur.get()).ok()?;
                map.get(token.as_ref()).copied()?
            } else if text.starts_with('[') {
                let items: Vec<&RawValue> = serde_json::from_str(cur.get()).ok()?;
                items.get(token.parse::<usize>().ok()?).copied()?
            } else {
                return None;
            };
        }
        serde_json::from_str(cur.get()).ok()
    }
}

/// A JSON-pointer segment with `~1` and `~0` undone.
pub(super) fn unescape_pointer(t: &str) -> std::borrow::Cow<'_, str> {
    if t.contains('~') { t.replace("~1", "/").replace("~0", "~").into() } else { t.into() }
}
