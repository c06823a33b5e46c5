//! A JSON Schema subset compiled to a grammar of compact JSON (no
//! whitespace), so that a decoder masked by it can only write a document the
//! schema accepts: `const`, `enum`, `anyOf`/`oneOf`, objects (properties in
//! `required` order, then the optional ones in key order), arrays with
//! `items`/`maxItems`, strings (`maxLength`), integers (a `minimum`..`maximum`
//! range becomes the list of its numbers), booleans and null.
use serde_json::Value;

use super::grammar::{ByteSet, Expr};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SchemaError {
    #[error("JSON schema at {path}: {reason}")]
    Unsupported { path: String, reason: String },
}

fn unsupported(path: &str, reason: impl Into<String>) -> SchemaError {
    SchemaError::Unsupported { path: if path.is_empty() { "/".into() } else { path.into() }, reason: reason.into() }
}

/// Longest free string, in bytes, when the schema gives no `maxLength`.
const DEFAULT_MAX_LENGTH: u64 = 64;
/// Widest integer range spelled out as a list of numbers.
const MAX_RANGE: i64 = 10_000;

/// The grammar of the JSON documents `schema` accepts.
pub fn compile(schema: &Value) -> Result<Expr, SchemaError> {
    node(schema, "")
}

fn json_lit(v: &Value) -> Expr {
    Expr::Lit(v.to_string().into_bytes())
}

fn node(s: &Value, path: &str) -> Result<Expr, SchemaError> {
    let Some(obj) = s.as_object() else {
        return Err(unsupported(path, "a schema must be an object"));
    };
    if let Some(c) = obj.get("const") {
        return Ok(json_lit(c));
    }
    if let Some(e) = obj.get("enum") {
        let values = e.as_array().ok_or_else(|| unsupported(path, "`enum` must be an array"))?;
        return Ok(Expr::Alt(values.iter().map(json_lit).collect()));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(v) = obj.get(key) {
            let list = v.as_array().ok_or_else(|| unsupported(path, format!("`{key}` must be an array")))?;
            let alts = list.iter().enumerate().map(|(i, s)| node(s, &format!("{path}/{key}/{i}")));
            return alts.collect::<Result<Vec<_>, _>>().map(Expr::Alt);
        }
    }
    match obj.get("type").and_then(Value::as_str) {
        Some("object") => object(obj, path),
        Some("array") => array(obj, path),
        Some("string") => Ok(string(obj.get("maxLength").and_then(Value::as_u64).unwrap_or(DEFAULT_MAX_LENGTH))),
        Some("integer") => integer(obj, path),
        Some("boolean") => Ok(Expr::Alt(vec![Expr::lit("true"), Expr::lit("false")])),
        Some("null") => Ok(Expr::lit("null")),
        Some(t) => Err(unsupported(path, format!("type `{t}` is not supported"))),
        None => Err(unsupported(path, "needs `type`, `const`, `enum`, `anyOf` or `oneOf`")),
    }
}

fn object(obj: &serde_json::Map<String, Value>, path: &str) -> Result<Expr, SchemaError> {
    let empty = serde_json::Map::new();
    let props = match obj.get("properties") {
        None => &empty,
        Some(p) => p.as_object().ok_or_else(|| unsupported(path, "`properties` must be an object"))?,
    };
    let mut required: Vec<&str> = Vec::new();
    for r in obj.get("required").and_then(Value::as_array).into_iter().flatten() {
        let r = r.as_str().ok_or_else(|| unsupported(path, "`required` must list strings"))?;
        if !props.contains_key(r) {
            return Err(unsupported(path, format!("required property `{r}` has no schema")));
        }
        required.push(r);
    }
    let member = |k: &str| -> Result<Expr, SchemaError> {
        let v = node(&props[k], &format!("{path}/properties/{k}"))?;
        Ok(Expr::Seq(vec![json_lit(&Value::String(k.to_string())), Expr::lit(":"), v]))
    };
    let comma = |e: Expr| Expr::Seq(vec![Expr::lit(","), e]);
    let mut parts = vec![Expr::lit("{")];
    for (i, k) in required.iter().enumerate() {
        parts.push(if i == 0 { member(k)? } else { comma(member(k)?) });
    }
    let optional: Vec<&str> = props.keys().map(String::as_str).filter(|k| !required.contains(k)).collect();
    if required.is_empty() {
        // The first optional member present has no comma before it.
        let mut alts = vec![Expr::lit("")];
        for (i, k) in optional.iter().enumerate() {
            let mut seq = vec![member(k)?];
            for later in &optional[i + 1..] {
                seq.push(Expr::opt(comma(member(later)?)));
            }
            alts.push(Expr::Seq(seq));
        }
        parts.push(Expr::Alt(alts));
    } else {
        for k in optional {
            parts.push(Expr::opt(comma(member(k)?)));
        }
    }
    parts.push(Expr::lit("}"));
    Ok(Expr::Seq(parts))
}

fn array(obj: &serde_json::Map<String, Value>, path: &str) -> Result<Expr, SchemaError> {
    let items = obj.get("items").ok_or_else(|| unsupported(path, "an array needs `items`"))?;
    let item = node(items, &format!("{path}/items"))?;
    let min = obj.get("minItems").and_then(Value::as_u64).unwrap_or(0);
    let max = obj.get("maxItems").and_then(Value::as_u64).unwrap_or(16);
    if min > max || max == 0 {
        return Err(unsupported(path, "needs 0 < maxItems and minItems <= maxItems"));
    }
    let min_rest = u32::try_from(min.saturating_sub(1)).unwrap_or(u32::MAX);
    let max_rest = u32::try_from(max - 1).unwrap_or(u32::MAX);
    let rest = Expr::Repeat(Box::new(Expr::Seq(vec![Expr::lit(","), item.clone()])), min_rest, Some(max_rest));
    let body = Expr::Seq(vec![item, rest]);
    let body = if min == 0 { Expr::opt(body) } else { body };
    Ok(Expr::Seq(vec![Expr::lit("["), body, Expr::lit("]")]))
}

/// A JSON string of at most `max` bytes of content: printable ASCII but `"`
/// and `\`, the escapes `\"` and `\\`, and UTF-8 bytes (their validity is
/// checked when the text is parsed).
fn string(max: u64) -> Expr {
    let mut plain = ByteSet::range(0x20, 0x7e).union(ByteSet::range(0x80, 0xf4));
    plain = {
        let mut s = ByteSet::default();
        for b in 0..=255u8 {
            if plain.contains(b) && b != b'"' && b != b'\\' {
                s.insert(b);
            }
        }
        s
    };
    let ch = Expr::Alt(vec![Expr::Class(plain), Expr::lit("\\\""), Expr::lit("\\\\")]);
    let max = u32::try_from(max).unwrap_or(u32::MAX).min(4096);
    Expr::Seq(vec![Expr::lit("\""), Expr::Repeat(Box::new(ch), 0, Some(max)), Expr::lit("\"")])
}

fn integer(obj: &serde_json::Map<String, Value>, path: &str) -> Result<Expr, SchemaError> {
    let lo = obj.get("minimum").and_then(Value::as_i64);
    let hi = obj.get("maximum").and_then(Value::as_i64);
    match (lo, hi) {
        (Some(lo), Some(hi)) if lo <= hi && hi - lo <= MAX_RANGE => {
            Ok(Expr::Alt((lo..=hi).map(|n| Expr::Lit(n.to_string().into_bytes())).collect()))
        }
        (Some(_), Some(_)) => Err(unsupported(path, format!("integer range wider than {MAX_RANGE} or empty"))),
        _ => {
            let digit = Expr::Class(ByteSet::range(b'0', b'9'));
            let nonzero =
                Expr::Seq(vec![Expr::Class(ByteSet::range(b'1', b'9')), Expr::Repeat(Box::new(digit), 0, Some(8))]);
            Ok(Expr::Seq(vec![Expr::opt(Expr::lit("-")), Expr::Alt(vec![Expr::lit("0"), nonzero])]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::grammar::Grammar;
    use super::*;
    use serde_json::json;

    fn g(s: Value) -> Grammar {
        Grammar::new(&compile(&s).unwrap())
    }

    #[test]
    fn objects_follow_required_order_then_optional_members() {
        let gr = g(json!({"type": "object", "required": ["name", "arguments"], "properties": {
            "arguments": {"type": "object", "properties": {
                "area": {"enum": ["Kitchen", "Living \"Room\""]},
                "brightness": {"type": "integer", "minimum": 0, "maximum": 100}}},
            "name": {"const": "HassLightSet"}}}));
        for ok in [
            r#"{"name":"HassLightSet","arguments":{}}"#,
            r#"{"name":"HassLightSet","arguments":{"area":"Kitchen"}}"#,
            r#"{"name":"HassLightSet","arguments":{"brightness":100}}"#,
            r#"{"name":"HassLightSet","arguments":{"area":"Living \"Room\"","brightness":0}}"#,
        ] {
            assert!(gr.accepts(ok.as_bytes()), "{ok}");
            serde_json::from_str::<Value>(ok).unwrap();
        }
        for bad in [
            r#"{"arguments":{},"name":"HassLightSet"}"#,
            r#"{"name":"HassLightSet","arguments":{"brightness":101}}"#,
            r#"{"name":"HassLightSet","arguments":{"brightness":50,"area":"Kitchen"}}"#,
            r#"{"name":"HassLightSet","arguments":{"area":"Garage"}}"#,
            r#"{"name":"HassLightSet","arguments":{,"brightness":5}}"#,
        ] {
            assert!(!gr.accepts(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn strings_arrays_and_alternatives() {
        let gr = g(json!({"anyOf": [
            {"type": "string", "maxLength": 5},
            {"type": "array", "items": {"type": "integer"}, "maxItems": 2},
            {"type": "boolean"}, {"type": "null"}]}));
        for ok in [r#""""#, r#""a\"b""#, "\"h\u{e9}\"", "[]", "[1,-20]", "true", "null"] {
            assert!(gr.accepts(ok.as_bytes()), "{ok}");
        }
        for bad in [r#""abcdef""#, r#""a\nb""#, "[1,2,3]", "[01]", "[1,]", "True"] {
            assert!(!gr.accepts(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn unsupported_schemas_name_the_place() {
        let e = compile(&json!({"type": "object", "properties": {"a": {"type": "number"}}})).unwrap_err();
        assert_eq!(e.to_string(), "JSON schema at /properties/a: type `number` is not supported");
        let e = compile(&json!({"type": "object", "required": ["x"], "properties": {}})).unwrap_err();
        assert!(e.to_string().contains("required property `x`"), "{e}");
        assert!(compile(&json!({"type": "integer", "minimum": 0, "maximum": 1_000_000})).is_err());
    }
}
