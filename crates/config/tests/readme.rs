//! The README's table of config keys states each default once more for readers: this test holds
//! it to the defaults the code applies (a `Default` of each section), so the two cannot drift.

use std::path::Path;

use serde_json::Value;

/// The smallest pipeline: every other key takes its default.
const MINIMAL: &str = r#"
[pipeline]
name = "minimal"

[data.events]
path = "events.parquet"
customer_id = "customer_id"
timestamp = "date"

[label]
kind = "inactivity"
horizon_days = 90
"#;

/// Rows of the README's config table: (keys, default as written).
fn readme_rows() -> Vec<(Vec<String>, String)> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.md"))
        .expect("docs/config.md is readable");
    readme
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(" | ").map(|c| c.trim_matches(['|', ' '])).collect();
            let [keys, default, _] = cells[..] else { return None };
            if !keys.starts_with('`') || keys.starts_with("`churnguard") || keys.starts_with("`make") {
                return None;
            }
            let names: Vec<String> = keys
                .split([',', '/'])
                .map(|k| k.trim().trim_matches('`').to_string())
                .filter(|k| !k.is_empty())
                .collect();
            // Keys after the first are in the first one's section.
            let section = names[0].rsplit_once('.').map(|(s, _)| s.to_string())?;
            let names = names
                .iter()
                .map(|k| {
                    if k.contains('.') {
                        k.clone()
                    } else {
                        format!("{section}.{k}")
                    }
                })
                .collect();
            Some((names, default.to_string()))
        })
        .collect()
}

/// A default as the README writes it, as JSON, when it is a plain value (a number, a boolean,
/// `none`, a backticked name, a list); `None` for prose such as "top 10%".
fn plain(text: &str) -> Option<Value> {
    let text = text.split(" (").next()?.trim();
    match text {
        "none" => return Some(Value::Null),
        "true" | "false" => return Some(Value::Bool(text == "true")),
        _ => {}
    }
    if let Some(name) = text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        return serde_json::from_str(name)
            .ok()
            .or_else(|| Some(Value::String(name.to_string())));
    }
    serde_json::from_str(text).ok()
}

/// The value at a dotted config key in the resolved pipeline (`pipeline.x` lives at the top).
fn resolved<'a>(pipeline: &'a Value, key: &str) -> Option<&'a Value> {
    let key = key.strip_prefix("pipeline.").unwrap_or(key);
    key.split('.').try_fold(pipeline, |v, part| v.get(part))
}

fn same(want: &Value, got: Option<&Value>) -> bool {
    match (want, got) {
        (Value::Null, None | Some(Value::Null)) => true,
        (Value::Null, Some(Value::Array(a))) => a.is_empty(),
        (Value::Number(a), Some(Value::Number(b))) => a.as_f64() == b.as_f64(),
        (a, Some(b)) => a == b,
        _ => false,
    }
}

#[test]
fn readme_config_defaults_are_the_code_defaults() {
    // `[distributed]` has a required key: its defaults are read from a config that has it.
    let text = format!("{MINIMAL}\n[distributed]\nmachines = [\"10.0.0.1:12400\", \"10.0.0.2:12400\"]\n");
    let p = churnguard_config::parse(&text, Path::new("/nowhere/minimal.toml")).expect("the minimal config parses");
    let pipeline = serde_json::to_value(&p).expect("a pipeline serializes");
    let mut compared = 0;
    let mut wrong = Vec::new();
    for (keys, default) in readme_rows() {
        let parts: Vec<&str> = if keys.len() > 1 {
            default.split(", ").collect()
        } else {
            vec![default.as_str()]
        };
        if parts.len() != keys.len() {
            continue;
        }
        for (key, text) in keys.iter().zip(parts) {
            // The minimal config sets the label: its keys have no default to compare.
            if key.starts_with("label.") {
                continue;
            }
            let Some(want) = plain(text) else { continue };
            let got = resolved(&pipeline, key);
            if !same(&want, got) {
                wrong.push(format!("{key}: README says {text}, the code defaults to {got:?}"));
            }
            compared += 1;
        }
    }
    assert!(
        wrong.is_empty(),
        "README config table differs from the code:\n{}",
        wrong.join("\n")
    );
    // The table must really be read: most of its defaults are plain values.
    assert!(compared >= 25, "only {compared} README defaults compared");
}
