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
    let mut seen = 0;
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let fixture = entry.unwrap().path();
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
        seen += 1;
    }
    assert!(seen >= 1, "no package fixture in {}", fixtures.display());
}
