//! Reading INI text and environment overrides onto a [`Config`].

use std::path::{Path, PathBuf};

use crate::keys::{self, Key};
use crate::Config;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line is neither `key=value`, `[section]`, a comment nor blank.
    #[error("config syntax error at {location}: {message}: `{text}`")]
    Syntax {
        /// `line N` or `line N of <path>`.
        location: String,
        message: &'static str,
        text: String,
    },
    /// A value does not parse or is out of range.
    #[error("invalid value `{value}` for [{section}] {key} ({location}): expected {expected}")]
    InvalidValue {
        section: &'static str,
        key: &'static str,
        value: String,
        /// What the value should look like, e.g. `an integer in 1..=86400`.
        expected: String,
        /// `line N`, `line N of <path>` or `environment variable WEIR_...`.
        location: String,
    },
    /// A `WEIR_*` environment variable whose value is not valid Unicode.
    #[error("environment variable {name} is not valid Unicode")]
    EnvNotUnicode { name: String },
}

/// A loaded configuration and the warnings found while loading it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    /// Unknown, unsupported or repeated keys and sections, unknown `WEIR_*` variables. The
    /// caller must show them (see [`Loaded::log_warnings`]); loading never drops them.
    pub warnings: Vec<String>,
}

impl Loaded {
    /// Emits every warning with `tracing::warn!`.
    pub fn log_warnings(&self) {
        for w in &self.warnings {
            tracing::warn!(target: "weir_config", "{w}");
        }
    }
}

/// Environment variables starting with `WEIR_` that are not configuration keys.
const RESERVED_ENV: &[&str] = &["WEIR_LOG", "WEIR_CONFIG"];

/// Loads the defaults, then the file at `path` (if any), then `WEIR_<SECTION>_<KEY>` variables
/// from the process environment.
pub fn load(path: Option<&Path>) -> Result<Loaded, ConfigError> {
    let text = match path {
        Some(p) => Some(
            std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_owned(),
                source,
            })?,
        ),
        None => None,
    };
    let mut warnings = Vec::new();
    let mut env = Vec::new();
    // `std::env::vars()` panics on a non-Unicode variable anywhere in the environment.
    for (name, value) in std::env::vars_os() {
        let name = match name.into_string() {
            Ok(name) => name,
            Err(name) => {
                let lossy = name.to_string_lossy();
                if lossy.starts_with("WEIR_") {
                    warnings.push(format!(
                        "environment variable {lossy} ignored: its name is not valid Unicode"
                    ));
                }
                continue;
            }
        };
        if !name.starts_with("WEIR_") || RESERVED_ENV.contains(&name.as_str()) {
            continue;
        }
        let value = value
            .into_string()
            .map_err(|_| ConfigError::EnvNotUnicode { name: name.clone() })?;
        env.push((name, value));
    }
    load_impl(text.as_deref(), path, &env, warnings)
}

/// Like [`load`], with the file's text and the environment given instead of read.
pub fn load_from(ini_text: Option<&str>, env: &[(String, String)]) -> Result<Loaded, ConfigError> {
    load_impl(ini_text, None, env, Vec::new())
}

fn load_impl(
    ini_text: Option<&str>,
    path: Option<&Path>,
    env: &[(String, String)],
    mut warnings: Vec<String>,
) -> Result<Loaded, ConfigError> {
    let mut config = Config::default();
    if let Some(text) = ini_text {
        apply_ini(&mut config, text, path, &mut warnings)?;
    }
    apply_env(&mut config, env, &mut warnings)?;
    Ok(Loaded { config, warnings })
}

/// What one INI line is.
pub(crate) enum Line<'a> {
    Blank,
    Comment,
    Section(&'a str),
    KeyValue(&'a str, &'a str),
    Bad(&'static str),
}

/// Classifies one line the way ZLMediaKit's mINI does: trimmed, `#`/`;` comments on their own
/// line only, `key=value` split at the first `=`, key and value trimmed.
pub(crate) fn classify(line: &str) -> Line<'_> {
    let line = line.trim();
    if line.is_empty() {
        Line::Blank
    } else if line.starts_with('#') || line.starts_with(';') {
        Line::Comment
    } else if let Some(rest) = line.strip_prefix('[') {
        match rest.strip_suffix(']') {
            Some(name) => Line::Section(name.trim()),
            None => Line::Bad("a section header must end with `]`"),
        }
    } else {
        match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Line::KeyValue(k.trim(), v.trim()),
            Some(_) => Line::Bad("missing key name before `=`"),
            None => Line::Bad("expected `key=value`, `[section]`, a `#` comment or a blank line"),
        }
    }
}

/// The section a line belongs to while parsing.
enum Current {
    Nothing,
    Known(&'static str),
    /// Index into `ignored`.
    Ignored(usize),
}

/// An unsupported or unknown section, reported once with its keys.
struct IgnoredSection {
    name: String,
    zlmediakit: bool,
    line: usize,
    keys: Vec<String>,
}

fn location(path: Option<&Path>, line: usize) -> String {
    match path {
        Some(p) => format!("line {line} of {}", p.display()),
        None => format!("line {line}"),
    }
}

fn set(
    key: &Key,
    config: &mut Config,
    value: &str,
    location: impl FnOnce() -> String,
) -> Result<(), ConfigError> {
    (key.set)(config, value).map_err(|expected| ConfigError::InvalidValue {
        section: key.section,
        key: key.name,
        value: value.to_owned(),
        expected,
        location: location(),
    })
}

pub(crate) fn apply_ini(
    config: &mut Config,
    text: &str,
    path: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut current = Current::Nothing;
    let mut ignored: Vec<IgnoredSection> = Vec::new();
    // (section, key, line) of every known key set so far, to report repeats.
    let mut seen: Vec<(&str, &str, usize)> = Vec::new();

    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        match classify(raw) {
            Line::Blank | Line::Comment => {}
            Line::Bad(message) => {
                return Err(ConfigError::Syntax {
                    location: location(path, line_no),
                    message,
                    text: raw.trim().to_owned(),
                })
            }
            Line::Section(name) => {
                current = if let Some(canonical) = keys::find_section(name) {
                    Current::Known(canonical)
                } else {
                    let supported = keys::find_unsupported_section(name);
                    let shown = supported.map_or_else(|| name.to_owned(), str::to_owned);
                    let i = match ignored
                        .iter()
                        .position(|s| s.name.eq_ignore_ascii_case(&shown))
                    {
                        Some(i) => i,
                        None => {
                            ignored.push(IgnoredSection {
                                name: shown,
                                zlmediakit: supported.is_some(),
                                line: line_no,
                                keys: Vec::new(),
                            });
                            ignored.len() - 1
                        }
                    };
                    Current::Ignored(i)
                };
            }
            Line::KeyValue(name, value) => match current {
                Current::Nothing => warnings.push(format!(
                    "key {name} outside any section ignored ({})",
                    location(path, line_no)
                )),
                Current::Ignored(i) => {
                    let keys = &mut ignored[i].keys;
                    if !keys.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                        keys.push(name.to_owned());
                    }
                }
                Current::Known(section) => {
                    if let Some(key) = keys::find(section, name) {
                        set(key, config, value, || location(path, line_no))?;
                        let id = (key.section, key.name);
                        if let Some(entry) = seen.iter_mut().find(|(s, k, _)| (*s, *k) == id) {
                            warnings.push(format!(
                                "[{section}] {} set again at {}, overriding line {}",
                                key.name,
                                location(path, line_no),
                                entry.2
                            ));
                            entry.2 = line_no;
                        } else {
                            seen.push((key.section, key.name, line_no));
                        }
                    } else if let Some(canonical) = keys::find_unsupported_key(section, name) {
                        warnings.push(format!(
                            "[{section}] {canonical} is not supported yet, ignored ({}){}",
                            location(path, line_no),
                            keys::unsupported_hint(section, canonical).unwrap_or("")
                        ));
                    } else {
                        let hint = keys::similar(section, name)
                            .map(|k| format!("; did you mean {}?", k.name))
                            .unwrap_or_default();
                        warnings.push(format!(
                            "unknown key [{section}] {name} ignored ({}){hint}",
                            location(path, line_no)
                        ));
                    }
                }
            },
        }
    }

    for s in ignored {
        let keys = if s.keys.is_empty() {
            String::new()
        } else {
            format!(" with its keys {}", s.keys.join(", "))
        };
        let at = location(path, s.line);
        if s.zlmediakit {
            warnings.push(format!(
                "section [{}] is not supported yet, ignored{keys} ({at})",
                s.name
            ));
        } else {
            warnings.push(format!("unknown section [{}] ignored{keys} ({at})", s.name));
        }
    }
    Ok(())
}

fn apply_env(
    config: &mut Config,
    env: &[(String, String)],
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    for (name, value) in env {
        if !name.starts_with("WEIR_") || RESERVED_ENV.contains(&name.as_str()) {
            continue;
        }
        if let Some(key) = keys::KEYS
            .iter()
            .find(|k| keys::env_var_name(k.section, k.name) == *name)
        {
            let location = || format!("environment variable {name}");
            let value = value.trim();
            if value.contains(['\n', '\r']) {
                return Err(ConfigError::InvalidValue {
                    section: key.section,
                    key: key.name,
                    value: value.to_owned(),
                    expected: "a value on a single line".to_owned(),
                    location: location(),
                });
            }
            set(key, config, value, location)?;
        } else {
            warnings.push(unknown_env_warning(name));
        }
    }
    Ok(())
}

fn unknown_env_warning(name: &str) -> String {
    for (section, names) in keys::UNSUPPORTED_KEYS {
        if let Some(key) = names
            .iter()
            .find(|k| keys::env_var_name(section, k) == name)
        {
            return format!(
                "environment variable {name} ([{section}] {key}) is not supported yet, ignored"
            );
        }
    }
    let unsupported_section = keys::UNSUPPORTED_SECTIONS
        .iter()
        .filter(|s| name.starts_with(&keys::env_section_prefix(s)))
        .max_by_key(|s| s.len());
    if let Some(section) = unsupported_section {
        return format!(
            "environment variable {name}: section [{section}] is not supported yet, ignored"
        );
    }
    // A likely typo such as WEIR_RTC_TIMEOUT_SEC for WEIR_RTC_TIMEOUTSEC.
    let squash = |s: &str| s.chars().filter(|c| *c != '_').collect::<String>();
    let hint = keys::KEYS
        .iter()
        .map(|k| keys::env_var_name(k.section, k.name))
        .find(|candidate| squash(candidate) == squash(name))
        .map(|candidate| format!("; did you mean {candidate}?"))
        .unwrap_or_default();
    format!("unknown environment variable {name} ignored: it names no config key{hint}")
}
