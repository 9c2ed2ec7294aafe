//! Packages of every format ever written, checked in under `tests/fixtures/packages/<name>/`
//! (`package/`, the `pipeline.toml` that trained it, the `list.csv` it scored): each must still
//! open, verify, score to the stored list byte for byte, and have its report drawn again. A field
//! renamed in a type the manifest embeds fails here, not in a user's production job.

use std::path::Path;

use crate::{churnguard, outcome, root};

/// Copies the fixture into `dir` (scoring keeps a copy of the list beside the package) with its
/// pipeline's data path made absolute.
fn staged(fixture: &Path, dir: &Path) -> (String, String) {
    let package = dir.join("package");
    std::fs::create_dir(&package).unwrap();
    for f in std::fs::read_dir(fixture.join("package")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), package.join(f.file_name())).unwrap();
    }
    let text = std::fs::read_to_string(fixture.join("pipeline.toml")).unwrap();
    let data = root().join("data").display().to_string();
    let pipeline = dir.join("pipeline.toml");
    std::fs::write(&pipeline, text.replace("../../../../data", &data)).unwrap();
    (package.display().to_string(), pipeline.display().to_string())
}

#[test]
fn every_stored_package_format_opens_verifies_and_scores_its_stored_list() {
    let fixtures = root().join("tests/fixtures/packages");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let fixture = entry.unwrap().path();
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        seen.push(
            name.trim_start_matches("format")
                .parse::<u32>()
                .expect("fixtures are named format<N>"),
        );
        let s = crate::Scratch::new();
        let (package, pipeline) = staged(&fixture, s.0.path());
        let out = s.0.path().join("list.csv");
        let (code, _, err) = outcome(&churnguard(&[
            "score",
            "--model",
            &package,
            "--pipeline",
            &pipeline,
            "--as-of",
            "1998-07-01",
            "--out",
            &out.display().to_string(),
        ]));
        assert_eq!(code, 0, "{}: {err}", fixture.display());
        let (want, got) = (
            std::fs::read_to_string(fixture.join("list.csv")).unwrap(),
            std::fs::read_to_string(&out).unwrap(),
        );
        if let Some((k, (a, b))) = want.lines().zip(got.lines()).enumerate().find(|(_, (a, b))| a != b) {
            panic!(
                "{}: line {} of the list differs:\nstored {a}\nscored {b}",
                fixture.display(),
                k + 1
            );
        }
        assert_eq!(want.lines().count(), got.lines().count(), "{}", fixture.display());
        let (code, _, err) = outcome(&churnguard(&["report", &package]));
        assert_eq!(code, 0, "{}: {err}", fixture.display());
        assert!(Path::new(&package).join("report.html").is_file());
    }
    seen.sort();
    let every: Vec<u32> = (1..=seen.last().copied().unwrap_or(0)).collect();
    assert_eq!(
        seen,
        every,
        "a fixture of every format ever written, from 1, in {}",
        fixtures.display()
    );
}

/// Every key path of a JSON value with the kind of value found there (arrays merged over their
/// elements as `[]`), so two manifests compare by layout, not by figures.
fn layout(v: &serde_json::Value, path: String, out: &mut std::collections::BTreeSet<String>) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            out.insert(format!("{path}: object"));
            for (k, v) in m {
                layout(v, format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            out.insert(format!("{path}: array"));
            for v in a {
                layout(v, format!("{path}[]"), out);
            }
        }
        Value::Null => {
            out.insert(format!("{path}: null"));
        }
        Value::Bool(_) => {
            out.insert(format!("{path}: bool"));
        }
        Value::Number(_) => {
            out.insert(format!("{path}: number"));
        }
        Value::String(_) => {
            out.insert(format!("{path}: string"));
        }
    }
}

/// The manifest embeds types of `eval`, `features` and `config`: a field renamed, added or
/// removed there changes the package format. A package trained now must have the layout of the
/// newest stored fixture, so such a change fails here and asks for a new format and fixture.
#[test]
fn a_package_trained_now_has_the_layout_of_the_newest_stored_format() {
    let fixtures = root().join("tests/fixtures/packages");
    let newest = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches("format")
                .parse::<u32>()
                .unwrap()
        })
        .unwrap();
    let s = crate::Scratch::new();
    let (_, pipeline) = staged(&newest, s.0.path());
    let models = s.0.path().join("models");
    let (code, _, err) = outcome(&churnguard(&[
        "train",
        &pipeline,
        "--models",
        &models.display().to_string(),
    ]));
    assert_eq!(code, 0, "{err}");
    let read = |p: &Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let stored = read(&newest.join("package/manifest.json"));
    let name = format!("fixture_{}", newest.file_name().unwrap().to_string_lossy());
    let trained = read(&models.join(name).join("v1/manifest.json"));
    assert_eq!(
        stored["format"], trained["format"],
        "a new format needs a fixture of its own"
    );
    let (mut want, mut got) = (Default::default(), Default::default());
    layout(&stored, String::new(), &mut want);
    layout(&trained, String::new(), &mut got);
    let gone: Vec<_> = want.difference(&got).collect();
    let new: Vec<_> = got.difference(&want).collect();
    assert!(
        gone.is_empty() && new.is_empty(),
        "the manifest's layout changed since {}: gone {gone:#?}, new {new:#?}; raise package::FORMAT and \
         check in a fixture of the new format (an old package must still open)",
        newest.display()
    );
}
