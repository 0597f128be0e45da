//! `prism new NAME`: a plugin project anywhere on disk that builds for
//! `wasm32-wasip2` and passes its own tests as it is: a working strategy
//! from a template, its native unit tests, sample events with the outputs
//! expected of them (`prism test`), a config to run it, and a README.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A template: its name, what it shows, its source in each language and the
/// outputs expected over [`EVENTS`] (written by the workspace's Rust copy,
/// plugin `template-X`; the Python copy makes the same, tested).
struct Template {
    name: &'static str,
    what: &'static str,
    /// The Rust crate's `src/lib.rs`.
    source: &'static str,
    /// The same logic in Python (`app.py`) and its unit tests.
    python: &'static str,
    python_test: &'static str,
    expected: &'static str,
    /// Whether `prism test` runs it with `--paper`.
    paper: bool,
    /// Its config in the README and `prism.toml`.
    config: &'static str,
}

/// A template from its files in `sdk/templates/{rust,python}/NAME`.
macro_rules! template {
    ($name:literal, $what:literal, paper: $paper:literal, config: $config:expr) => {
        Template {
            name: $name,
            what: $what,
            source: include_str!(concat!(
                "../../../../sdk/templates/rust/",
                $name,
                "/src/lib.rs"
            )),
            python: include_str!(concat!(
                "../../../../sdk/templates/python/",
                $name,
                "/app.py"
            )),
            python_test: include_str!(concat!(
                "../../../../sdk/templates/python/",
                $name,
                "/test_app.py"
            )),
            expected: include_str!(concat!(
                "../../../../sdk/templates/rust/",
                $name,
                "/expected.jsonl"
            )),
            paper: $paper,
            config: $config,
        }
    };
}

const TEMPLATES: [Template; 4] = [
    template!(
        "signal",
        "big taker trades as graded signals",
        paper: false,
        config: r#"{"min_notional": "50000"}"#
    ),
    template!(
        "series",
        "a volume-weighted average price per instrument as a series",
        paper: false,
        config: r#"{"window": 3}"#
    ),
    template!(
        "document",
        "liquidations tallied per instrument as documents",
        paper: false,
        config: "{}"
    ),
    template!(
        "orders",
        "paper orders that lean against crowded funding",
        paper: true,
        config: r#"{"threshold": "0.0005", "size": "0.01"}"#
    ),
];

/// The sample events every template is tested over.
const EVENTS: &str = include_str!("../../../../sdk/templates/rust/events.jsonl");

/// The template names, for `--template`.
pub(crate) const TEMPLATE_NAMES: [&str; 4] = ["signal", "series", "document", "orders"];

/// What `prism new` is asked.
pub(crate) struct NewPlugin<'a> {
    pub(crate) name: &'a str,
    pub(crate) lang: &'a str,
    pub(crate) template: &'a str,
    /// The folder the project's folder is made in.
    pub(crate) parent: &'a Path,
    /// The SDK's folder (`sdk/` of a Prism checkout).
    pub(crate) sdk: Option<&'a Path>,
}

/// Makes the project; prints where and what to run next.
pub(crate) fn new(request: &NewPlugin<'_>) -> anyhow::Result<ExitCode> {
    check_name(request.name)?;
    let lang = match request.lang {
        "rust" => Lang::Rust,
        "python" => Lang::Python,
        other => anyhow::bail!("--lang {other}: not a language; rust or python"),
    };
    let template = TEMPLATES
        .iter()
        .find(|t| t.name == request.template)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--template {}: not a template; one of {}",
                request.template,
                TEMPLATE_NAMES.join(", ")
            )
        })?;
    let sdk = find_sdk(request.sdk)?;
    let dir = request.parent.join(request.name);
    if dir.exists() {
        let empty = std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        anyhow::ensure!(
            empty,
            "{} exists and is not empty: pick another name or folder",
            dir.display()
        );
    }
    let files = match lang {
        Lang::Rust => project_files(request.name, template, &sdk),
        Lang::Python => python_files(request.name, template, &sdk),
    };
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    // The versions the SDK was built and tested with, when it is a
    // checkout: the first build resolves nothing new.
    if let Some(lock) = sdk.parent().map(|p| p.join("Cargo.lock"))
        && lang == Lang::Rust
        && lock.is_file()
    {
        std::fs::copy(&lock, dir.join("Cargo.lock"))
            .map_err(|e| anyhow::anyhow!("cannot copy {}: {e}", lock.display()))?;
    }
    crate::out!(
        "made {} ({} template: {})",
        dir.display(),
        template.name,
        template.what
    );
    crate::out!("next, in {}:", dir.display());
    let lines = match lang {
        Lang::Rust => commands(request.name, template),
        Lang::Python => python_commands(request.name, template, &sdk),
    };
    for line in lines {
        crate::out!("  {line}");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Rust,
    Python,
}

/// A name that is a crate name, a file name and a plugin id at once.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    anyhow::ensure!(
        ok,
        "`{name}` cannot name a plugin: use lower-case letters, digits, `-` and `_`, starting with a letter, at most 64 characters"
    );
    Ok(())
}

/// The SDK: `--sdk`, else `PRISM_SDK`, else the checkout this binary was
/// built from, if it is still there.
fn find_sdk(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk");
    let (path, from) = match (given, std::env::var_os("PRISM_SDK")) {
        (Some(p), _) => (p.to_path_buf(), "--sdk"),
        (None, Some(p)) => (PathBuf::from(p), "PRISM_SDK"),
        (None, None) => (built_from, "the checkout prism was built from"),
    };
    let manifest = std::fs::read_to_string(path.join("Cargo.toml")).map_err(|_| {
        anyhow::anyhow!(
            "no Prism SDK at {} ({from}): give --sdk PATH, the `sdk` folder of a Prism checkout",
            path.display()
        )
    })?;
    anyhow::ensure!(
        manifest.contains("name = \"prism-sdk\""),
        "{} ({from}) is not the Prism SDK: its Cargo.toml names another package",
        path.display()
    );
    Ok(std::fs::canonicalize(&path).unwrap_or(path))
}

/// The file name of the built component.
fn wasm_file(name: &str) -> String {
    format!(
        "target/wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    )
}

/// The commands that matter, in order.
fn commands(name: &str, template: &Template) -> Vec<String> {
    let paper = if template.paper { " --paper" } else { "" };
    vec![
        "cargo test                                   # the unit tests, native".into(),
        "cargo build --release --target wasm32-wasip2 # the component".into(),
        format!(
            "prism test {} --events tests/events.jsonl --config tests/config.json --expect tests/expected.jsonl{paper}",
            wasm_file(name)
        ),
        "prism run --config prism.toml                # in a running host, with the simulator"
            .into(),
    ]
}

/// Every file of the project, by path inside it.
fn project_files(name: &str, template: &Template, sdk: &Path) -> Vec<(PathBuf, String)> {
    // Paths in TOML: forward slashes, quotes escaped.
    let sdk_path = sdk
        .display()
        .to_string()
        .replace('\\', "/")
        .replace('"', "\\\"");
    let cargo = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# cdylib: the component; rlib: the native unit tests.
crate-type = ["cdylib", "rlib"]

[dependencies]
prism-sdk = {{ path = "{sdk_path}" }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"

[profile.release]
lto = true
codegen-units = 1
strip = true

# A project of its own, even inside another workspace's folder.
[workspace]
"#
    );
    let expected = expected_outputs(name, template);
    let run_config = run_config(
        name,
        &wasm_file(name),
        template,
        "cargo build --release --target wasm32-wasip2 && prism run --config prism.toml",
    );
    let readme = format!(
        r#"# {name}

A Prism plugin: {what}. Made by `prism new --template {template}`.

## The commands that matter

```sh
{commands}
```

1. **Test.** `cargo test` runs the logic natively through the SDK's harness
   (`src/lib.rs`, `mod tests`). `prism test` runs the built component in the
   real host over `tests/events.jsonl` and compares its outputs with
   `tests/expected.jsonl`; it names the first outputs and fields that
   differ. When you change the logic on purpose, add `--update` to write the
   new outputs as the expected ones, read them, and commit them.
2. **Build.** `cargo build --release --target wasm32-wasip2` makes
   `{wasm}`, the one file you ship (`rustup target add wasm32-wasip2`
   once).
3. **Run it in Prism.** `prism run --config prism.toml` runs it over the
   simulator. Or add it to a running host whose admin API is on
   (`PRISM_ADMIN_TOKEN` set), with its config's defaults:
   `curl -X POST -H "Authorization: Bearer $TOKEN" --data-binary @{wasm} http://127.0.0.1:8080/api/v1/plugins/{name}`;
   after a change, `curl -X PUT … --data-binary @{wasm} http://127.0.0.1:8080/api/v1/plugins/{name}/wasm`
   swaps the new build in while the stream runs, keeping its state.

The plugin's config is `tests/config.json` here and `config` in
`prism.toml`; `init` refuses one it does not understand, naming the key.
Put `cargo test`, the build and `prism test` in your CI.
"#,
        what = template.what,
        template = template.name,
        commands = commands(name, template).join("\n"),
        wasm = wasm_file(name),
    );
    let mut files = vec![
        ("Cargo.toml".into(), cargo),
        ("src/lib.rs".into(), template.source.to_owned()),
        (".gitignore".into(), "/target\n".to_owned()),
    ];
    files.extend(shared_files(template, run_config, readme, expected));
    files
}

/// The files every project has, whatever its language.
fn shared_files(
    template: &Template,
    run_config: String,
    readme: String,
    expected: String,
) -> [(PathBuf, String); 5] {
    [
        ("tests/events.jsonl".into(), EVENTS.to_owned()),
        ("tests/expected.jsonl".into(), expected),
        ("tests/config.json".into(), format!("{}\n", template.config)),
        ("prism.toml".into(), run_config),
        ("README.md".into(), readme),
    ]
}

/// Where the component of a Python project is written.
fn python_wasm(name: &str) -> String {
    format!("{}.wasm", name.replace('-', "_"))
}

/// The commands that matter for a Python project, in order.
fn python_commands(name: &str, template: &Template, sdk: &Path) -> Vec<String> {
    let sdk = sdk.display();
    let paper = if template.paper { " --paper" } else { "" };
    vec![
        format!("PYTHONPATH={sdk}/python python3 -m unittest"),
        format!(
            "componentize-py -d {sdk}/wit -w plugin componentize app -p . -p {sdk}/python -o {}",
            python_wasm(name)
        ),
        format!(
            "prism test {} --events tests/events.jsonl --config tests/config.json --expect tests/expected.jsonl{paper}",
            python_wasm(name)
        ),
        "prism run --config prism.toml".into(),
    ]
}

/// Every file of a Python project, by path inside it.
fn python_files(name: &str, template: &Template, sdk: &Path) -> Vec<(PathBuf, String)> {
    let app = template.python.replace(
        &format!("\"template-{}\"", template.name),
        &format!("\"{name}\""),
    );
    let expected = expected_outputs(name, template);
    let run_config = run_config(
        name,
        &python_wasm(name),
        template,
        "prism run --config prism.toml   (after the componentize-py build)",
    );
    let readme = format!(
        r#"# {name}

A Prism plugin in Python: {what}. Made by `prism new --lang python --template {template}`.

## The commands that matter

```sh
{commands}
```

(`pip install componentize-py` once; the SDK is `{sdk}/python`, the
contract `{sdk}/wit`.)

1. **Test.** `python3 -m unittest` runs `test_app.py`, the logic natively
   through the SDK's harness. `prism test` runs the built component in the
   real host over `tests/events.jsonl` and compares its outputs with
   `tests/expected.jsonl`, naming the first outputs and fields that differ;
   `--update` writes the new outputs as the expected ones.
2. **Build.** `componentize-py … componentize app` makes `{wasm}`, the one
   file you ship (about 18 MB: it carries the Python interpreter; Prism
   caches it compiled, so a restart loads it in milliseconds).
3. **Run it in Prism.** `prism run --config prism.toml` runs it over the
   simulator; or add it to a running host whose admin API is on:
   `curl -X POST -H "Authorization: Bearer $TOKEN" --data-binary @{wasm} http://127.0.0.1:8080/api/v1/plugins/{name}`.

Prices, sizes and rates are exact (`prism_sdk.dec(...)` is a
`decimal.Decimal`); `init` refuses a config it does not understand.
"#,
        what = template.what,
        template = template.name,
        commands = python_commands(name, template, sdk).join("\n"),
        wasm = python_wasm(name),
        sdk = sdk.display(),
    );
    let mut files = vec![
        ("app.py".into(), app),
        ("test_app.py".into(), template.python_test.to_owned()),
        (".gitignore".into(), "*.wasm\n__pycache__/\n".to_owned()),
    ];
    files.extend(shared_files(template, run_config, readme, expected));
    files
}

/// The template's expected outputs, with the plugin's id (alone and in
/// output ids, `{id}:{n}`) made `name`.
fn expected_outputs(name: &str, template: &Template) -> String {
    let id = format!("\"template-{}", template.name);
    template
        .expected
        .replace(&format!("{id}\""), &format!("\"{name}\""))
        .replace(&format!("{id}:"), &format!("\"{name}:"))
}

/// `prism.toml`: the plugin over the simulator.
fn run_config(name: &str, wasm: &str, template: &Template, how: &str) -> String {
    format!(
        r#"# Runs the plugin in Prism over the built-in simulator:
#   {how}
# then open http://127.0.0.1:8080/api/v1/plugins/{name}

[source]
kind = "simulator"

[[plugins]]
id = "{name}"
path = "{wasm}"
config = {config}
{paper}"#,
        config = toml_inline(template.config),
        paper = if template.paper { "paper = true\n" } else { "" },
    )
}

/// A JSON object as a TOML inline table (its values are strings and
/// integers).
fn toml_inline(json: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(json) else {
        return "{}".into();
    };
    let fields: Vec<String> = map.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    if fields.is_empty() {
        "{}".into()
    } else {
        format!("{{ {} }}", fields.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_serve_as_crate_file_and_plugin_names() {
        for good in ["my-plugin", "a", "whale_watch2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "My", "2fast", "a b", "../x", "é", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_config_becomes_an_inline_table() {
        assert_eq!(
            toml_inline(r#"{"threshold": "0.0005", "size": "0.01"}"#),
            r#"{ threshold = "0.0005", size = "0.01" }"#
        );
        assert_eq!(toml_inline(r#"{"window": 3}"#), "{ window = 3 }");
        assert_eq!(toml_inline("{}"), "{}");
    }

    #[test]
    fn every_template_names_its_plugin_in_its_expected_outputs() {
        for t in &TEMPLATES {
            assert!(TEMPLATE_NAMES.contains(&t.name));
            let files = project_files("my-plugin", t, Path::new("/sdk"));
            let python = python_files("my-plugin", t, Path::new("/sdk"));
            let app = &python
                .iter()
                .find(|(p, _)| p == Path::new("app.py"))
                .unwrap()
                .1;
            assert!(app.contains("NAME = \"my-plugin\""), "{}", t.name);
            let expected = &files
                .iter()
                .find(|(p, _)| p == Path::new("tests/expected.jsonl"))
                .unwrap()
                .1;
            assert!(!expected.is_empty(), "{}", t.name);
            for line in expected.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["plugin"], "my-plugin", "{}: {line}", t.name);
                assert!(!line.contains("template-"), "{}: {line}", t.name);
            }
        }
    }
}
