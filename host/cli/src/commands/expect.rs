//! `prism test PLUGIN.wasm --events FILE --expect OUT.jsonl`: a compiled
//! plugin over an event file in the real host, its outputs compared with
//! the ones expected (or, with `--update`, written as the expected ones).

use super::replay::{Modules, own_entry, prepare_plugin, report, run_events};
use prism_config::Config;
use prism_control::PluginSettings;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Differences shown in full; past these only counted.
const SHOWN_DIFFERENCES: usize = 5;
/// Fields named per differing output.
const SHOWN_FIELDS: usize = 4;
/// Longest output line shown; longer ones are cut (with their length said).
const SHOWN_CHARS: usize = 300;

/// What `prism test` is asked.
pub(crate) struct TestRun<'a> {
    pub(crate) wasm: &'a Path,
    pub(crate) events: &'a Path,
    /// The plugin's config (`init`), as JSON or the path of a JSON file.
    pub(crate) plugin_config: Option<&'a str>,
    pub(crate) expect: &'a Path,
    pub(crate) update: bool,
    /// Its order intents go to a paper account (`[execution]` defaults),
    /// whose fills come back to it and are compared too.
    pub(crate) paper: bool,
}

/// Runs the test; success when the outputs equal the expected ones and
/// the plugin never failed.
pub(crate) fn test(run: &TestRun<'_>) -> anyhow::Result<ExitCode> {
    let config_json = plugin_config(run.plugin_config)?;
    if !run.update && !run.expect.exists() {
        anyhow::bail!(
            "{} does not exist: run once with --update to write it from the plugin's outputs (and check them)",
            run.expect.display()
        );
    }
    let config = Config::default();
    let engine = crate::settings::engine_outside_config(&config, false)?;
    let mut modules = Modules::new(&engine);
    let settings = PluginSettings {
        config_json,
        limits: config.plugin_defaults,
        execution: run
            .paper
            .then(|| prism_control::execution_settings(&config.execution, None)),
        ..PluginSettings::default()
    };
    let entry = own_entry(&mut modules, run.wasm, settings)?;
    let plugin = prepare_plugin(&mut modules, entry)?;
    drop(modules);
    let made = made_path(run.expect);
    let ran = run_events(
        &config,
        engine,
        vec![plugin],
        run.events,
        (None, None),
        Some(&made),
    );
    let ran = match ran {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&made);
            return Err(e);
        }
    };
    let failed = ran.views.iter().fold(false, |f, v| report(v) | f);
    let result = judge(run, &made, failed, &ran);
    let _ = std::fs::remove_file(&made);
    result
}

/// Compares (or, with `--update`, keeps) the outputs written to `made`.
fn judge(
    run: &TestRun<'_>,
    made: &Path,
    failed: bool,
    ran: &super::replay::Ran,
) -> anyhow::Result<ExitCode> {
    if ran.skipped > 0 {
        crate::out!(
            "note: {} malformed records of {} were skipped (each named above)",
            ran.skipped,
            run.events.display()
        );
    }
    if failed {
        crate::out!("FAIL: the plugin failed (above); its outputs were not compared");
        return Ok(ExitCode::FAILURE);
    }
    if run.update {
        let written = Lines::open(made)?.count_all()?;
        std::fs::copy(made, run.expect)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", run.expect.display()))?;
        crate::out!(
            "wrote {written} outputs over {} events to {}",
            ran.events,
            run.expect.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let c = compare(Lines::open(run.expect)?, Lines::open(made)?)?;
    if c.differences == 0 {
        crate::out!(
            "ok: {} outputs over {} events equal {}",
            c.made,
            ran.events,
            run.expect.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    crate::out!(
        "FAIL: {} of the outputs differ from {} ({} expected, {} made)",
        c.differences,
        run.expect.display(),
        c.expected,
        c.made
    );
    for d in &c.shown {
        crate::out!("{d}");
    }
    if c.differences > c.shown.len() {
        crate::out!("… and {} more differences", c.differences - c.shown.len());
    }
    crate::out!(
        "if the new outputs are right, run again with --update to make them the expected ones"
    );
    Ok(ExitCode::FAILURE)
}

/// The plugin's config: `{}` when not given; JSON as given, or read from
/// the file it names. Refused unless it is a JSON object.
fn plugin_config(given: Option<&str>) -> anyhow::Result<String> {
    let Some(given) = given else {
        return Ok("{}".into());
    };
    let (text, from) = if given.trim_start().starts_with('{') {
        (given.to_owned(), "--config".to_owned())
    } else {
        let text = std::fs::read_to_string(given)
            .map_err(|e| anyhow::anyhow!("--config {given}: cannot read it: {e}"))?;
        (text, format!("--config {given}"))
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(_)) => Ok(text),
        Ok(_) => anyhow::bail!("{from}: the plugin's config must be a JSON object"),
        Err(e) => anyhow::bail!("{from}: not JSON: {e}"),
    }
}

/// Where the outputs are written before they are compared: beside the
/// expected file, under a name of this process's.
fn made_path(expect: &Path) -> PathBuf {
    let name = expect
        .file_name()
        .map_or_else(|| "outputs".into(), |n| n.to_string_lossy().into_owned());
    expect.with_file_name(format!(".{name}.made-{}", std::process::id()))
}

/// The lines of a file, one at a time, each at most [`LONGEST_LINE`]
/// bytes (a longer one is an error naming it).
struct Lines {
    path: PathBuf,
    reader: std::io::BufReader<std::fs::File>,
    number: usize,
}

/// The longest line read from an outputs file: far past any output the
/// host lets a plugin make.
const LONGEST_LINE: u64 = 64 << 20;

impl Lines {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let file = std::fs::File::open(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: std::io::BufReader::new(file),
            number: 0,
        })
    }

    fn count_all(mut self) -> anyhow::Result<usize> {
        let mut n = 0;
        while self.next_line()?.is_some() {
            n += 1;
        }
        Ok(n)
    }
}

impl LineSource for Lines {
    fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        use std::io::{BufRead, Read};
        let mut bytes = Vec::new();
        let n = (&mut self.reader)
            .take(LONGEST_LINE + 1)
            .read_until(b'\n', &mut bytes)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", self.path.display()))?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        } else if n as u64 > LONGEST_LINE {
            anyhow::bail!(
                "{}:{}: a line longer than {} MiB",
                self.path.display(),
                self.number,
                LONGEST_LINE >> 20
            );
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{}:{}: not UTF-8", self.path.display(), self.number))
    }
}

/// Where compared lines come from (a file, or a list in the tests).
trait LineSource {
    fn next_line(&mut self) -> anyhow::Result<Option<String>>;
}

/// One output that is not as expected, said for a reader.
#[derive(Debug, PartialEq)]
enum Difference {
    Changed {
        line: usize,
        expected: String,
        made: String,
        fields: Vec<String>,
    },
    Missing {
        line: usize,
        expected: String,
    },
    Extra {
        line: usize,
        made: String,
    },
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Changed {
                line,
                expected,
                made,
                fields,
            } => {
                writeln!(f, "  output {line} (line {line} of the expected file):")?;
                for field in fields {
                    writeln!(f, "    {field}")?;
                }
                writeln!(f, "    expected: {}", shown(expected))?;
                write!(f, "    made:     {}", shown(made))
            }
            Self::Missing { line, expected } => write!(
                f,
                "  output {line}: expected, not made: {}",
                shown(expected)
            ),
            Self::Extra { line, made } => {
                write!(f, "  output {line}: made, not expected: {}", shown(made))
            }
        }
    }
}

fn shown(line: &str) -> String {
    if line.chars().count() <= SHOWN_CHARS {
        return line.to_owned();
    }
    let cut: String = line.chars().take(SHOWN_CHARS).collect();
    format!("{cut}… ({} characters)", line.chars().count())
}

/// How two outputs files compare: the first differences in full, and
/// counts.
#[derive(Debug, Default)]
struct Comparison {
    shown: Vec<Difference>,
    differences: usize,
    expected: usize,
    made: usize,
}

/// Output by output (the n-th made against the n-th expected), equal when
/// their JSON is equal (spacing and key order aside) or, for a line that
/// is not JSON, their text is. Reads both a line at a time; keeps only the
/// first [`SHOWN_DIFFERENCES`].
fn compare(mut expected: impl LineSource, mut made: impl LineSource) -> anyhow::Result<Comparison> {
    let mut c = Comparison::default();
    loop {
        let (e, m) = (expected.next_line()?, made.next_line()?);
        c.expected += usize::from(e.is_some());
        c.made += usize::from(m.is_some());
        let line = c.expected.max(c.made);
        let difference = match (e, m) {
            (None, None) => return Ok(c),
            (Some(e), Some(m)) => differ(line, e, m),
            (Some(expected), None) => Some(Difference::Missing { line, expected }),
            (None, Some(made)) => Some(Difference::Extra { line, made }),
        };
        if let Some(d) = difference {
            c.differences += 1;
            if c.shown.len() < SHOWN_DIFFERENCES {
                c.shown.push(d);
            }
        }
    }
}

/// How line `line` of each differs, if it does.
fn differ(line: usize, e: String, m: String) -> Option<Difference> {
    let parsed = (
        serde_json::from_str::<Value>(&e),
        serde_json::from_str::<Value>(&m),
    );
    let fields = match parsed {
        (Ok(ev), Ok(mv)) if ev == mv => return None,
        (Ok(ev), Ok(mv)) => {
            let mut fields = Vec::new();
            differing_fields(&ev, &mv, "", &mut fields);
            fields
        }
        _ if e == m => return None,
        (Err(err), _) => vec![format!("the expected line is not JSON: {err}")],
        (_, Err(_)) => Vec::new(),
    };
    Some(Difference::Changed {
        line,
        expected: e,
        made: m,
        fields,
    })
}

/// The fields in which `expected` and `made` differ, by path (`body.ratio`,
/// `levels[2]`), at most [`SHOWN_FIELDS`] of them.
fn differing_fields(expected: &Value, made: &Value, path: &str, out: &mut Vec<String>) {
    if out.len() >= SHOWN_FIELDS || expected == made {
        return;
    }
    let at = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (expected, made) {
        (Value::Object(e), Value::Object(m)) => {
            for (key, ev) in e {
                match m.get(key) {
                    Some(mv) => differing_fields(ev, mv, &at(key), out),
                    None => out.push(format!("{}: expected {ev}, not made", at(key))),
                }
                if out.len() >= SHOWN_FIELDS {
                    return;
                }
            }
            for (key, mv) in m {
                if !e.contains_key(key) && out.len() < SHOWN_FIELDS {
                    out.push(format!("{}: made {mv}, not expected", at(key)));
                }
            }
        }
        (Value::Array(e), Value::Array(m)) if e.len() == m.len() => {
            for (i, (ev, mv)) in e.iter().zip(m).enumerate() {
                differing_fields(ev, mv, &format!("{path}[{i}]"), out);
            }
        }
        _ => out.push(format!(
            "{}: expected {}, made {}",
            if path.is_empty() { "the output" } else { path },
            shown(&expected.to_string()),
            shown(&made.to_string())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct List(std::vec::IntoIter<String>);

    impl LineSource for List {
        fn next_line(&mut self) -> anyhow::Result<Option<String>> {
            Ok(self.0.next())
        }
    }

    fn lines(text: &[&str]) -> List {
        List(
            text.iter()
                .map(|s| (*s).to_owned())
                .collect::<Vec<_>>()
                .into_iter(),
        )
    }

    #[test]
    fn equal_json_is_equal_whatever_its_spacing_and_key_order() {
        let expected = lines(&[r#"{"a": 1, "b": "x"}"#]);
        let made = lines(&[r#"{"b":"x","a":1}"#]);
        assert_eq!(compare(expected, made).unwrap().differences, 0);
    }

    #[test]
    fn a_difference_names_the_fields_that_differ() {
        let expected = lines(&[
            r#"{"kind":"series","value":"1.5","tags":{"side":"long"}}"#,
            r#"{"kind":"log"}"#,
        ]);
        let made = lines(&[
            r#"{"kind":"series","value":"1.6","tags":{"side":"short"},"extra":true}"#,
            r#"{"kind":"log"}"#,
            r#"{"kind":"signal"}"#,
        ]);
        let c = compare(expected, made).unwrap();
        assert_eq!((c.differences, c.expected, c.made), (2, 2, 3));
        let d = c.shown;
        let Difference::Changed { line, fields, .. } = &d[0] else {
            panic!("{d:?}");
        };
        assert_eq!(*line, 1);
        assert_eq!(
            fields,
            &[
                r#"value: expected "1.5", made "1.6""#.to_owned(),
                r#"tags.side: expected "long", made "short""#.to_owned(),
                "extra: made true, not expected".to_owned(),
            ]
        );
        assert_eq!(
            d[1],
            Difference::Extra {
                line: 3,
                made: r#"{"kind":"signal"}"#.into()
            }
        );
    }

    #[test]
    fn outputs_missing_at_the_end_are_named() {
        let d = compare(lines(&["{}", r#"{"x":[1,2]}"#]), lines(&["{}"]))
            .unwrap()
            .shown;
        assert_eq!(
            d,
            vec![Difference::Missing {
                line: 2,
                expected: r#"{"x":[1,2]}"#.into()
            }]
        );
        let mut fields = Vec::new();
        differing_fields(
            &serde_json::json!({"x": [1, 2]}),
            &serde_json::json!({"x": [1, 3]}),
            "",
            &mut fields,
        );
        assert_eq!(fields, vec!["x[1]: expected 2, made 3".to_owned()]);
    }

    #[test]
    fn a_file_is_read_a_line_at_a_time_whatever_its_line_ends() {
        let path = std::env::temp_dir().join(format!("prism-lines-{}", std::process::id()));
        std::fs::write(&path, b"{\"a\":1}\r\n{\"a\":2}\n{\"a\":3}").unwrap();
        let mut lines = Lines::open(&path).unwrap();
        assert_eq!(lines.next_line().unwrap().as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(lines.next_line().unwrap().as_deref(), Some(r#"{"a":2}"#));
        assert_eq!(lines.next_line().unwrap().as_deref(), Some(r#"{"a":3}"#));
        assert_eq!(lines.next_line().unwrap(), None);
        std::fs::write(&path, b"{}\n\xff\n").unwrap();
        let mut lines = Lines::open(&path).unwrap();
        lines.next_line().unwrap();
        let e = lines.next_line().unwrap_err().to_string();
        assert!(e.ends_with(":2: not UTF-8"), "{e}");
        assert_eq!(Lines::open(&path).unwrap().count_all().ok(), None);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_plugin_config_must_be_a_json_object() {
        assert_eq!(plugin_config(None).unwrap(), "{}");
        assert_eq!(
            plugin_config(Some(r#"{"threshold": "5"}"#)).unwrap(),
            r#"{"threshold": "5"}"#
        );
        let e = plugin_config(Some("{nope")).unwrap_err().to_string();
        assert!(e.starts_with("--config: not JSON"), "{e}");
        let e = plugin_config(Some("/nonexistent/cfg.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/cfg.json: cannot read it"), "{e}");
    }
}
