//! A JSON Schema checker for the subset `openapi.yaml` uses: `$ref`,
//! `allOf`, `type`, `format: uuid`, `enum`, `minimum`, `maximum`,
//! `required`, `properties`, `additionalProperties`, `items`, `minItems`.
//! Any other validation keyword is refused, so the document cannot use one
//! this checker would silently skip.

use serde_json::Value;

const ANNOTATIONS: &[&str] = &["description", "default", "example", "title"];

/// Checks `value` against `schema`; `doc` resolves `$ref`s. `at` names
/// the value in messages.
pub fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let obj = schema
        .as_object()
        .ok_or_else(|| format!("{at}: schema is not an object"))?;
    for (key, kw) in obj {
        match key.as_str() {
            "$ref" => check(doc, resolve(doc, kw)?, value, at)?,
            "allOf" => {
                for s in kw.as_array().ok_or("allOf is not an array")? {
                    check(doc, s, value, at)?;
                }
            }
            "type" => check_type(kw, value, at)?,
            "format" => check_format(kw, value, at)?,
            "enum" => {
                let options = kw.as_array().ok_or("enum is not an array")?;
                if !options.contains(value) {
                    return Err(format!("{at}: {value} is not one of {kw}"));
                }
            }
            "minimum" | "maximum" => check_bound(key, kw, value, at)?,
            "required" => {
                for name in kw.as_array().ok_or("required is not an array")? {
                    let name = name.as_str().ok_or("required name is not a string")?;
                    if value.as_object().is_some_and(|o| !o.contains_key(name)) {
                        return Err(format!("{at}: missing required property '{name}'"));
                    }
                }
            }
            "properties" => {
                let props = kw.as_object().ok_or("properties is not an object")?;
                for (name, v) in value.as_object().into_iter().flatten() {
                    if let Some(s) = props.get(name) {
                        check(doc, s, v, &format!("{at}.{name}"))?;
                    }
                }
            }
            "additionalProperties" => check_additional(doc, obj, kw, value, at)?,
            "items" => {
                for (i, v) in value.as_array().into_iter().flatten().enumerate() {
                    check(doc, kw, v, &format!("{at}[{i}]"))?;
                }
            }
            "minItems" => {
                let min = kw.as_u64().ok_or("minItems is not a count")?;
                if value.as_array().is_some_and(|a| (a.len() as u64) < min) {
                    return Err(format!("{at}: fewer than {min} items"));
                }
            }
            k if ANNOTATIONS.contains(&k) => {}
            k => return Err(format!("{at}: unsupported schema keyword '{k}'")),
        }
    }
    Ok(())
}

/// Resolves a local `#/a/b/c` reference.
pub fn resolve<'a>(doc: &'a Value, reference: &Value) -> Result<&'a Value, String> {
    let r = reference.as_str().ok_or("$ref is not a string")?;
    let pointer = r
        .strip_prefix('#')
        .ok_or_else(|| format!("non-local $ref {r}"))?;
    doc.pointer(pointer)
        .ok_or_else(|| format!("dangling $ref {r}"))
}

fn check_type(kw: &Value, value: &Value, at: &str) -> Result<(), String> {
    let ok = match kw.as_str().ok_or("type is not a string")? {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        t => return Err(format!("{at}: unsupported type '{t}'")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{at}: {value} is not of type {kw}"))
    }
}

fn check_format(kw: &Value, value: &Value, at: &str) -> Result<(), String> {
    match (kw.as_str(), value.as_str()) {
        (Some("uuid"), Some(s)) if uuid::Uuid::parse_str(s).is_err() => {
            Err(format!("{at}: '{s}' is not a UUID"))
        }
        (Some("uuid"), _) => Ok(()),
        (f, _) => Err(format!("{at}: unsupported format {f:?}")),
    }
}

fn check_bound(key: &str, kw: &Value, value: &Value, at: &str) -> Result<(), String> {
    // Bounds and values as i128: u64 and i64 both fit.
    let wide = |v: &Value| {
        v.as_u64()
            .map(i128::from)
            .or_else(|| v.as_i64().map(i128::from))
    };
    let bound = wide(kw).ok_or_else(|| format!("{key} is not an integer"))?;
    // Other types are `type`'s business.
    let Some(n) = wide(value) else {
        return Ok(());
    };
    let ok = if key == "minimum" {
        n >= bound
    } else {
        n <= bound
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{at}: {n} violates {key} {bound}"))
    }
}

fn check_additional(
    doc: &Value,
    schema: &serde_json::Map<String, Value>,
    kw: &Value,
    value: &Value,
    at: &str,
) -> Result<(), String> {
    let props = schema.get("properties").and_then(Value::as_object);
    for (name, v) in value.as_object().into_iter().flatten() {
        if props.is_some_and(|p| p.contains_key(name)) {
            continue;
        }
        match kw {
            Value::Bool(false) => return Err(format!("{at}: unexpected property '{name}'")),
            Value::Bool(true) => {}
            s => check(doc, s, v, &format!("{at}.{name}"))?,
        }
    }
    Ok(())
}

#[test]
fn checker_catches_what_it_claims() {
    let doc = serde_json::json!({"s": {"type": "integer", "minimum": 0, "maximum": 3}});
    let schema = serde_json::json!({
        "type": "object", "additionalProperties": false, "required": ["a"],
        "properties": {"a": {"$ref": "#/s"}, "t": {"type": "string", "format": "uuid"},
                       "l": {"type": "array", "minItems": 1, "items": {"enum": ["x"]}}}
    });
    let ok = serde_json::json!({"a": 3, "t": crate::TAG, "l": ["x"]});
    assert_eq!(check(&doc, &schema, &ok, "v"), Ok(()));
    for bad in [
        serde_json::json!({"a": 4}),
        serde_json::json!({"a": -1}),
        serde_json::json!({"a": "3"}),
        serde_json::json!({}),
        serde_json::json!({"a": 1, "b": 1}),
        serde_json::json!({"a": 1, "t": "nope"}),
        serde_json::json!({"a": 1, "l": []}),
        serde_json::json!({"a": 1, "l": ["y"]}),
        serde_json::json!([]),
    ] {
        assert!(check(&doc, &schema, &bad, "v").is_err(), "{bad}");
    }
    let odd = serde_json::json!({"oneOf": []});
    assert!(check(&doc, &odd, &ok, "v").is_err());
}
