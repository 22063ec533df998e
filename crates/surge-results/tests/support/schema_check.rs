//! A JSON Schema validator of exactly the keywords surge's schemas use (type, const, enum, minimum,
//! maximum, required, properties, additionalProperties, items, local `$ref`); any other keyword is
//! reported, so a schema cannot silently use something the tests do not check. Shared by the schema
//! tests of summary.json and capacity.json (`#[path]`-included).

use serde_json::Value;

const ANNOTATIONS: [&str; 5] = ["$schema", "$id", "title", "description", "$defs"];

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

fn validate(root: &Value, schema: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        return errs.push(format!("{path}: schema is not an object"));
    };
    for (k, rule) in s {
        match k.as_str() {
            k if ANNOTATIONS.contains(&k) => {}
            "$ref" => {
                let name = rule
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .unwrap_or_default();
                validate(root, &root["$defs"][name], v, path, errs);
            }
            "type" => {
                let ok = match rule {
                    Value::String(t) => type_ok(t, v),
                    Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| type_ok(t, v)),
                    _ => false,
                };
                if !ok {
                    errs.push(format!("{path}: {v} is not of type {rule}"));
                }
            }
            "const" if rule != v => errs.push(format!("{path}: want {rule}, got {v}")),
            "enum" if !rule.as_array().is_some_and(|a| a.contains(v)) => {
                errs.push(format!("{path}: {v} not in {rule}"))
            }
            "minimum" if v.as_f64().zip(rule.as_f64()).is_some_and(|(x, m)| x < m) => {
                errs.push(format!("{path}: {v} < {rule}"))
            }
            "maximum" if v.as_f64().zip(rule.as_f64()).is_some_and(|(x, m)| x > m) => {
                errs.push(format!("{path}: {v} > {rule}"))
            }
            "const" | "enum" | "minimum" | "maximum" => {}
            "required" => {
                for key in rule
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if v.is_object() && v.get(key).is_none() {
                        errs.push(format!("{path}: missing {key}"));
                    }
                }
            }
            // Both keywords are checked together, once.
            "properties" => validate_props(root, s, v, path, errs),
            "additionalProperties" if !s.contains_key("properties") => {
                validate_props(root, s, v, path, errs)
            }
            "additionalProperties" => {}
            "items" => {
                for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                    validate(root, rule, item, &format!("{path}[{i}]"), errs);
                }
            }
            other => errs.push(format!("{path}: unsupported keyword {other}")),
        }
    }
}

fn validate_props(
    root: &Value,
    s: &serde_json::Map<String, Value>,
    v: &Value,
    path: &str,
    errs: &mut Vec<String>,
) {
    let Some(obj) = v.as_object() else { return };
    let props = s.get("properties").and_then(Value::as_object);
    for (k, val) in obj {
        let p = format!("{path}.{k}");
        match (props.and_then(|m| m.get(k)), s.get("additionalProperties")) {
            (Some(sub), _) => validate(root, sub, val, &p, errs),
            (None, Some(Value::Bool(false))) => errs.push(format!("{p}: not allowed")),
            (None, Some(Value::Bool(true)) | None) => {}
            (None, Some(sub)) => validate(root, sub, val, &p, errs),
        }
    }
}

pub fn check(schema: &Value, v: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    validate(schema, schema, v, "$", &mut errs);
    errs
}
