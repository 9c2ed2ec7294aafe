//! `report.html`: written in every package, its charts' data equal to the manifest's figures,
//! drawn again by `churnguard report`, and opened in headless Chromium without console errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::score::score_with;
use crate::{Scratch, churnguard, outcome};

/// Trains the bundled CDNOW pipeline into `models` and returns the package folder.
pub fn train_cdnow(models: &Path) -> PathBuf {
    let (code, _, err) = outcome(&churnguard(&[
        "train",
        "pipelines/cdnow.toml",
        "--models",
        &models.display().to_string(),
    ]));
    assert_eq!(code, 0, "{err}");
    models.join("cdnow/v1")
}

/// The body cells of the table named `name` (its `data-table` attribute) in a page.
pub fn table(html: &str, name: &str) -> Vec<Vec<String>> {
    let start = html
        .find(&format!("<table data-table=\"{name}\">"))
        .unwrap_or_else(|| panic!("the page has no table {name}"));
    let end = start + html[start..].find("</table>").expect("the table ends");
    let body = &html[start..end];
    let body = &body[body.find("<tbody>").expect("a table body")..];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td>")
                .skip(1)
                .map(|cell| unescape(&cell[..cell.find("</td>").expect("a cell ends")]))
                .collect()
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// A table's number as shown, against the manifest's value (6 significant digits shown).
fn same(shown: &str, value: f64, what: &str) {
    let x: f64 = shown
        .trim_end_matches('%')
        .parse()
        .unwrap_or_else(|_| panic!("{what}: {shown:?}"));
    let x = if shown.ends_with('%') { x / 100.0 } else { x };
    let tolerance = if shown.ends_with('%') {
        5e-4
    } else {
        1e-5 * value.abs().max(1.0)
    };
    assert!(
        (x - value).abs() <= tolerance,
        "{what}: the page shows {shown}, the manifest says {value}"
    );
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn every_chart_of_the_report_shows_the_manifests_figures() {
    let s = Scratch::new();
    let package = train_cdnow(&s.0.path().join("models"));
    let html = std::fs::read_to_string(package.join("report.html")).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(package.join("manifest.json")).unwrap()).unwrap();
    let list = &m["test_list"];

    // ROC: the model's points, in order, and its band.
    let roc = table(&html, "roc");
    let points: Vec<&Vec<String>> = roc.iter().filter(|r| r[0] == "model").collect();
    let want = list["curves"]["roc"].as_array().unwrap();
    assert_eq!(points.len(), want.len());
    for (row, p) in points.iter().zip(want) {
        same(&row[1], f(&p[0]), "ROC false positive rate");
        same(&row[2], f(&p[1]), "ROC true positive rate");
    }
    let band = &list["curves"]["roc_band"];
    let lower: Vec<&Vec<String>> = roc.iter().filter(|r| r[0] == "model 95% band (lower)").collect();
    assert_eq!(lower.len(), band["x"].as_array().unwrap().len());
    for (k, row) in lower.iter().enumerate() {
        same(&row[2], f(&band["lower"][k]), "ROC band");
    }
    // PR and gains.
    let pr = table(&html, "pr");
    let pr_points: Vec<&Vec<String>> = pr.iter().filter(|r| r[0] == "model").collect();
    assert_eq!(pr_points.len(), list["curves"]["pr"].as_array().unwrap().len());
    same(&pr_points[1][2], f(&list["curves"]["pr"][1][1]), "PR precision");
    let gains = table(&html, "gains");
    let listed = format!("list (by {})", list["ranked_by"].as_str().unwrap());
    let g: Vec<&Vec<String>> = gains.iter().filter(|r| r[0] == listed).collect();
    assert_eq!(g.len(), list["curves"]["gains"].as_array().unwrap().len());
    for (row, p) in g.iter().zip(list["curves"]["gains"].as_array().unwrap()) {
        same(&row[2], f(&p[1]), "gains");
    }
    // Tiers, the score histogram and the value captured.
    let tiers = table(&html, "tiers");
    for (row, t) in tiers.iter().zip(list["tiers"].as_array().unwrap()) {
        assert_eq!(row[0], t["tier"].as_str().unwrap());
        same(&row[1], f(&t["customers"]), "tier customers");
        same(&row[2], f(&t["churners"]), "tier churners");
        same(&row[3], f(&t["observed_rate"]), "tier churn rate");
        same(&row[5], f(&t["value_at_risk"]), "tier value at risk");
    }
    let tier_customers: f64 = list["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| f(&t["customers"]))
        .sum();
    assert_eq!(
        tier_customers,
        f(&m["test"]["rows"]),
        "every test customer is in one tier"
    );
    levels_mean_risk(&m);
    let scores = table(&html, "scores");
    let counted: f64 = scores
        .iter()
        .map(|r| r[2..].iter().map(|c| c.parse::<f64>().unwrap()).sum::<f64>())
        .sum();
    assert_eq!(
        counted,
        f(&m["test"]["rows"]),
        "the histogram holds every test customer"
    );
    let captured = table(&html, "value_captured");
    for (row, c) in captured.iter().zip(m["value_capture"]["captured"].as_array().unwrap()) {
        same(&row[1], f(&c[1]), "value captured");
    }
    // Calibration, importance, reasons, the rounds.
    let calibration = table(&html, "calibration");
    same(&calibration[0][1], f(&m["calibration"]["before"]["ece"]), "ECE before");
    same(
        &calibration[1][1],
        f(&m["calibration"]["after"]["ece"]),
        "ECE after Platt",
    );
    let reliability = table(&html, "reliability");
    let deciles = m["calibration"]["before"]["deciles"].as_array().unwrap();
    let own: Vec<&Vec<String>> = reliability.iter().filter(|r| r[0] == "LightGBM's own").collect();
    assert_eq!(own.len(), deciles.len());
    same(&own[0][2], f(&deciles[0]["observed"]), "reliability");
    let importance = table(&html, "importance_all");
    assert_eq!(importance.len(), m["importance"].as_array().unwrap().len());
    for (row, i) in importance.iter().zip(m["importance"].as_array().unwrap()) {
        assert_eq!(row[0], i["feature"].as_str().unwrap());
        same(&row[1], f(&i["gain"]), "gain");
        same(&row[2], f(&i["splits"]), "splits");
    }
    let bars = table(&html, "importance");
    assert_eq!(
        bars[0][0],
        m["importance"][0]["feature"].as_str().unwrap(),
        "the largest bar first"
    );
    let reasons = table(&html, "reasons_all");
    let counts = list["reasons"]["features"].as_array().unwrap();
    assert!(!counts.is_empty());
    for (row, r) in reasons.iter().zip(counts) {
        assert_eq!(row[0], r["feature"].as_str().unwrap());
        same(&row[2], f(&r["any"]), "reason count");
    }
    let explained = f(&list["reasons"]["explained"]);
    let high_medium = f(&list["tiers"][0]["customers"]) + f(&list["tiers"][1]["customers"]);
    // CDNOW's list is small enough for every customer given reasons to be counted: those of
    // high and medium risk, and the high-value customers of low risk an action also reaches.
    let given = f(&list["reasons"]["given"]);
    assert_eq!(explained, given, "every customer given reasons is counted");
    assert!(
        given > high_medium && given < f(&m["test"]["rows"]),
        "reasons for {given} customers, {high_medium} of high or medium risk"
    );
    let rounds = table(&html, "rounds");
    let history = m["lightgbm"]["validation_history"].as_array().unwrap();
    assert_eq!(rounds.len(), history.len());
    same(
        &rounds[history.len() - 1][2],
        f(&history[history.len() - 1]),
        "last round",
    );
    // Headline, data summary and hashes.
    let headline = table(&html, "headline");
    same(&headline[3][1][..8], f(&m["test"]["auc"]), "AUC");
    let data = table(&html, "data");
    same(&data[0][1], f(&m["data"]["tables"][0]["rows_read"]), "rows read");
    let hashes = table(&html, "hashes");
    assert!(
        hashes
            .iter()
            .any(|r| r[1] == m["files"]["model.onnx"].as_str().unwrap())
    );
    assert!(
        hashes
            .iter()
            .any(|r| r[1] == m["inputs"][0]["sha256"].as_str().unwrap())
    );
    // Self-contained: nothing is fetched, nothing runs.
    assert!(!html.contains("<script"), "no script");
    assert!(only_svg_namespace(&html), "a web address in the page");
}

/// The only web address a report holds is SVG's XML namespace, which is never fetched.
fn only_svg_namespace(html: &str) -> bool {
    let rest = html.replace("http://www.w3.org/2000/svg", "");
    !rest.contains("http://") && !rest.contains("https://") && !rest.contains("//cdn")
}

#[test]
fn the_report_command_draws_the_same_report_again_and_refuses_a_tampered_package() {
    let s = Scratch::new();
    let package = train_cdnow(&s.0.path().join("models"));
    let report = package.join("report.html");
    let first = std::fs::read(&report).unwrap();
    std::fs::remove_file(&report).unwrap();
    let (code, out, err) = outcome(&churnguard(&["report", &package.display().to_string()]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("report.html"), "{out}");
    assert_eq!(
        std::fs::read(&report).unwrap(),
        first,
        "drawn from the manifest alone: the same page"
    );
    // A package whose files no longer match its manifest gets no report.
    let onnx = package.join("model.onnx");
    let mut bytes = std::fs::read(&onnx).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&onnx, &bytes).unwrap();
    let (code, _, err) = outcome(&churnguard(&["report", &package.display().to_string()]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("model.onnx"), "{err}");
    // A folder that is no package.
    let (code, _, err) = outcome(&churnguard(&["report", &s.0.path().display().to_string()]));
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("manifest.json"), "{err}");
}

/// Headless Chromium's flags on this closed machine (no background networking, no sandbox as
/// root, a fresh profile).
pub fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    let program = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    Command::new(&program)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} does not run ({e}): `make test` installs Debian's chromium (scripts/setup.sh)")
        })
}

/// The console messages Chromium logged while it loaded a page.
pub fn console_messages(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Refused to"))
        .collect()
}

/// Distinct colours and the share of pixels that are not white in a PNG screenshot.
fn ink(png: &Path) -> (usize, f64) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let mut colours = std::collections::HashSet::new();
    let mut inked = 0usize;
    for px in pixels.chunks_exact(channels) {
        colours.insert(px[..3.min(channels)].to_vec());
        if px[..3.min(channels)].iter().any(|&c| c < 240) {
            inked += 1;
        }
    }
    (colours.len(), inked as f64 / (pixels.len() / channels) as f64)
}

#[test]
fn the_report_opens_in_headless_chromium_without_console_errors_and_is_not_blank() {
    let s = Scratch::new();
    let package = train_cdnow(&s.0.path().join("models"));
    let url = format!("file://{}", package.join("report.html").display());
    let shot = s.0.path().join("report.png");
    let out = chromium(
        &s.0.path().join("profile"),
        &[
            "--window-size=1280,2400",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {stderr}");
    assert!(console_messages(&stderr).is_empty(), "console messages: {stderr}");
    let (colours, share) = ink(&shot);
    assert!(
        colours > 50 && share > 0.05,
        "a blank screenshot: {colours} colours, {share:.3} inked"
    );
    // The DOM Chromium built holds every chart as SVG.
    let dom = chromium(&s.0.path().join("profile2"), &["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    for chart in [
        "roc",
        "pr",
        "gains",
        "lift",
        "reliability",
        "scores",
        "importance",
        "reasons",
        "rounds",
    ] {
        let at = dom
            .find(&format!("data-chart=\"{chart}\""))
            .unwrap_or_else(|| panic!("no chart {chart}"));
        assert!(
            dom[at..].trim_start_matches(|c| c != '>')[1..].starts_with("<svg"),
            "chart {chart} is not SVG"
        );
    }

    // The check would see an error: a page that tries to fetch under the same policy logs one.
    let bad = s.0.path().join("bad.html");
    let html = std::fs::read_to_string(package.join("report.html")).unwrap();
    std::fs::write(
        &bad,
        html.replace("</body>", "<img src=\"http://192.0.2.1/x.png\"></body>"),
    )
    .unwrap();
    let out = chromium(
        &s.0.path().join("profile3"),
        &["--dump-dom", &format!("file://{}", bad.display())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !console_messages(&stderr).is_empty(),
        "a refused fetch is not logged: {stderr}"
    );
}

#[test]
fn a_package_made_before_the_report_gets_the_charts_its_manifest_has() {
    let s = Scratch::new();
    let package = train_cdnow(&s.0.path().join("models"));
    let path = package.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let o = m.as_object_mut().unwrap();
    o.remove("test_list");
    o.remove("data");
    std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let (code, _, err) = outcome(&churnguard(&["report", &package.display().to_string()]));
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(package.join("report.html")).unwrap();
    assert!(
        html.contains("made before churnguard recorded the test list"),
        "the page says why charts are missing"
    );
    assert!(!html.contains("data-chart=\"roc\""));
    for chart in ["reliability", "importance", "rounds"] {
        assert!(html.contains(&format!("data-chart=\"{chart}\"")), "{chart}");
    }
    // The package still scores: the report is not part of what is verified.
    let out = s.0.path().join("risk.csv").display().to_string();
    let (code, _, err) = score_with(&package.display().to_string(), "pipelines/cdnow.toml", &out, &[]);
    assert_eq!(code, 0, "{err}");
}

/// The words match the numbers: on the package's test customers the observed churn rate rises
/// from low to medium to high, and so does the mean probability.
pub fn levels_mean_risk(manifest: &serde_json::Value) {
    let tiers = manifest["test_list"]["tiers"].as_array().unwrap();
    let names: Vec<&str> = tiers.iter().map(|t| t["tier"].as_str().unwrap()).collect();
    assert_eq!(names, ["high", "medium", "low"]);
    let rate = |k: usize| f(&tiers[k]["observed_rate"]);
    let mean = |k: usize| f(&tiers[k]["mean_probability"]);
    assert!(
        rate(0) > rate(1) && rate(1) > rate(2),
        "observed churn by level: {tiers:?}"
    );
    assert!(
        mean(0) > mean(1) && mean(1) > mean(2),
        "mean probability by level: {tiers:?}"
    );
}
