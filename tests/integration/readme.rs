//! The README's example output is the demo's: `churnguard run pipelines/cdnow.toml` must print
//! it, line for line, so the first page a newcomer reads cannot go stale. In the README, `…`
//! stands for any text within a line (timings), and a line holding only `…` for any lines.

use std::path::Path;

use crate::{churnguard_in, outcome, root};

/// The README's first `text` block: the output of the main job.
fn readme_example() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("```text\n").expect("README has a text block") + "```text\n".len();
    let end = start + readme[start..].find("```").unwrap();
    readme[start..end].lines().map(str::to_string).collect()
}

/// Whether `line` is what the README's `pattern` line shows (`…` matching any text).
fn line_matches(pattern: &str, line: &str) -> bool {
    let pieces: Vec<&str> = pattern.split('…').collect();
    let [first, middle @ .., last] = pieces.as_slice() else {
        return pattern == line;
    };
    if pieces.len() == 1 {
        return pattern == line;
    }
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The first README line (from `at`) the output does not show, with the output line it met.
fn first_difference(example: &[String], output: &[&str]) -> Option<String> {
    let mut o = 0;
    let mut e = 0;
    while e < example.len() {
        let pattern = &example[e];
        if pattern.trim() == "…" {
            // Any lines, up to the one that shows the next pattern (or the end).
            let next = example.get(e + 1)?;
            match (o..output.len()).find(|&k| line_matches(next, output[k])) {
                Some(k) => o = k,
                None => return Some(format!("README line {next:?} is not in the output")),
            }
            e += 1;
            continue;
        }
        match output.get(o) {
            Some(line) if line_matches(pattern, line) => {}
            Some(line) => return Some(format!("README shows\n  {pattern:?}\nthe demo prints\n  {line:?}")),
            None => return Some(format!("README line {pattern:?} is past the end of the output")),
        }
        o += 1;
        e += 1;
    }
    None
}

#[test]
fn the_readme_example_is_what_the_main_job_prints() {
    let s = crate::Scratch::new();
    let d = s.0.path();
    // The bundled pipeline, run as the README runs it: from a folder holding `pipelines/` and
    // `data/`, writing `models/`.
    std::fs::create_dir(d.join("pipelines")).unwrap();
    std::fs::copy(root().join("pipelines/cdnow.toml"), d.join("pipelines/cdnow.toml")).unwrap();
    std::os::unix::fs::symlink(root().join("data"), d.join("data")).unwrap();
    let run = churnguard_in(d, &["run", "pipelines/cdnow.toml"], &[]);
    let (code, stdout, err) = outcome(&run);
    assert_eq!(code, 0, "{err}");
    assert!(Path::new(&d.join("models/cdnow/v1/model.onnx")).is_file());
    let output: Vec<&str> = stdout.lines().collect();
    let example = readme_example();
    assert!(example.len() > 30, "the README's example is {} lines", example.len());
    if let Some(difference) = first_difference(&example, &output) {
        panic!("the README's example output is stale: {difference}\n--- the demo printed:\n{stdout}");
    }
}

#[test]
fn the_example_matcher_tells_a_stale_line() {
    let example: Vec<String> = ["a … s", "…", "c", "d"].map(String::from).to_vec();
    assert_eq!(first_difference(&example, &["a 1.5 s", "x", "y", "c", "d"]), None);
    assert_eq!(first_difference(&example, &["a 1.5 s", "c", "d"]), None);
    assert!(first_difference(&example, &["a 1.5 s", "c", "e"]).is_some());
    assert!(first_difference(&example, &["b 1.5 s", "c", "d"]).is_some());
    assert!(first_difference(&example, &["a 1.5 s", "x"]).is_some());
    assert!(line_matches(
        "time … s: load …, features …",
        "time 4.1 s: load 0.1, features 0.2"
    ));
    assert!(!line_matches("time … s", "time 4.1 ms"));
}
