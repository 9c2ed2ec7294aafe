//! The service against its OpenAPI document: every documented operation answers with a
//! documented status, and every JSON answer fits the schema documented for that status.

use serde_json::Value;

use crate::Scratch;
use crate::report::train_cdnow;
use crate::serve::{JSON, http, json, serve};

/// Resolves a local `$ref`.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let mut at = doc;
            for part in r.trim_start_matches("#/").split('/') {
                at = &at[part];
            }
            resolve(doc, at)
        }
        None => v,
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

/// The first way `v` breaks `schema` (the subset of JSON Schema the document uses), if any.
fn violation(doc: &Value, schema: &Value, v: &Value, at: &str) -> Option<String> {
    let schema = resolve(doc, schema);
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let fits = options.iter().filter(|o| violation(doc, o, v, at).is_none()).count();
        return (fits != 1).then(|| format!("{at}: fits {fits} of the oneOf schemas: {v}"));
    }
    if let Some(t) = schema.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| type_ok(t, v)),
            _ => true,
        };
        if !ok {
            return Some(format!("{at}: {v} is not of type {t}"));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(v)
    {
        return Some(format!("{at}: {v} is not one of {options:?}"));
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for key in required.iter().filter_map(Value::as_str) {
            if v.get(key).is_none() {
                return Some(format!("{at}: `{key}` is required"));
            }
        }
    }
    if let (Some(props), Some(obj)) = (schema.get("properties").and_then(Value::as_object), v.as_object()) {
        for (k, sub) in props {
            if let Some(x) = obj.get(k)
                && let Some(why) = violation(doc, sub, x, &format!("{at}.{k}"))
            {
                return Some(why);
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            if let Some(why) = violation(doc, items, x, &format!("{at}[{i}]")) {
                return Some(why);
            }
        }
    }
    None
}

/// A request: method, path, headers, body.
type Call<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, String);

#[test]
fn every_documented_operation_answers_as_documented() {
    let doc: Value = serde_json::from_str(churnguard_serve::OPENAPI).unwrap();
    let s = Scratch::new();
    let package = train_cdnow(&s.0.path().join("models"));
    let server = serve(&package, &[], Some("t0ken-t0ken"));
    let auth = ("Authorization", "Bearer t0ken-t0ken");
    let ndjson = ("Content-Type", "application/x-ndjson");
    let features = r#"{"id":"f","features":{"recency_days":30,"frequency":2}}"#;
    let history = r#"{"id":"h","events":[{"date":"1998-06-01","dollar_value":20.5,"number_of_cds":1}]}"#;
    let gone = r#"{"id":"g","events":[{"date":"1997-01-01","dollar_value":20.5,"number_of_cds":1}]}"#;
    let score = format!(r#"{{"as_of":"1998-07-01","customers":[{features},{history},{gone}]}}"#);
    let lines = format!("{features}\n{history}");
    // (method, path, headers, body): valid calls and refused ones.
    let calls: Vec<Call> = vec![
        ("GET", "/healthz", vec![], String::new()),
        ("GET", "/readyz", vec![], String::new()),
        ("GET", "/openapi.json", vec![], String::new()),
        ("GET", "/v1/model", vec![auth], String::new()),
        ("GET", "/v1/model", vec![], String::new()),
        ("GET", "/metrics", vec![auth], String::new()),
        ("POST", "/v1/score", vec![JSON, auth], score.clone()),
        (
            "POST",
            "/v1/score",
            vec![JSON, auth],
            r#"{"customers":[{"features":{"nope":1}}]}"#.into(),
        ),
        (
            "POST",
            "/v1/score",
            vec![("Content-Type", "text/plain"), auth],
            score.clone(),
        ),
        ("POST", "/v1/score", vec![JSON], score),
        ("POST", "/v1/score/batch?as_of=1998-07-01", vec![ndjson, auth], lines),
        ("POST", "/v1/score/batch", vec![ndjson, auth], "not json".into()),
        ("POST", "/v1/admin/reload", vec![auth], String::new()),
    ];
    // The checker itself rejects what breaks the document.
    let answer = &doc["components"]["schemas"]["Answer"];
    assert!(violation(&doc, answer, &serde_json::json!({"status": "scored"}), "x").is_some());
    assert!(
        violation(
            &doc,
            answer,
            &serde_json::json!({"status": "gone", "message": "m"}),
            "x"
        )
        .is_some()
    );
    assert!(
        violation(
            &doc,
            answer,
            &serde_json::json!({"status": "not_known", "message": "m"}),
            "x"
        )
        .is_none()
    );
    let mut statuses = std::collections::BTreeSet::new();
    for (method, path, headers, body) in calls {
        let (status, head, answer) = http(server.addr, method, path, &headers, &body);
        let route = path.split('?').next().unwrap();
        let op = &doc["paths"][route][method.to_lowercase()];
        assert!(op.is_object(), "{method} {route} is not documented");
        let documented = resolve(&doc, &op["responses"][status.to_string()]);
        assert!(
            documented.is_object(),
            "{method} {path} answered {status}, which is not documented: {answer}"
        );
        statuses.insert((route.to_string(), status));
        let content = &documented["content"];
        let json_head = head.to_lowercase().contains("content-type: application/json");
        if json_head {
            let schema = &content["application/json"]["schema"];
            assert!(schema.is_object(), "{method} {path} {status}: JSON is not documented");
            if let Some(why) = violation(&doc, schema, &json(&answer), "body") {
                panic!("{method} {path} {status}: {why}\n{answer}");
            }
        } else if route == "/v1/score/batch" && status == 200 {
            let schema = resolve(&doc, &doc["components"]["schemas"]["Answer"]);
            for (i, line) in answer.lines().enumerate() {
                if let Some(why) = violation(&doc, schema, &json(line), &format!("line {}", i + 1)) {
                    panic!("{method} {path}: {why}");
                }
            }
        }
    }
    // The valid calls succeeded and the refusals were refused.
    for want in [
        ("/v1/score", 200),
        ("/v1/score", 400),
        ("/v1/score", 415),
        ("/v1/score", 401),
        ("/v1/score/batch", 200),
        ("/v1/score/batch", 400),
        ("/v1/admin/reload", 200),
        ("/v1/model", 401),
    ] {
        assert!(
            statuses.contains(&(want.0.to_string(), want.1)),
            "{want:?} not seen: {statuses:?}"
        );
    }
}
