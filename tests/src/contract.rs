//! `CONTRACT.md` in step with the binaries' `--help`: the one check that each binary
//! package's `tests/contract.rs` runs with its own executable ([`check`]).
//!
//! For a binary, and for each of its commands, two lists must agree:
//! - every long flag (`--xxx`) that `CONTRACT.md` lists for that binary and command, outside
//!   the section whose heading says "not yet implemented", is in that command's `--help`;
//! - every long flag that the command's `--help` shows is listed in `CONTRACT.md` for it
//!   (outside that section too: a flag that works is not "announced" any more);
//! - every command `--help` shows is in `CONTRACT.md`, and every command `CONTRACT.md` names
//!   for the binary outside that section is in `--help`.
//!
//! `--help` and `--version` are exempt.
//!
//! # How a flag in `CONTRACT.md` is attributed to a binary and command
//! - A heading whose first backticked span starts with a binary name (`` ### `veil-client
//!   infer` ``) opens a section for that binary and command (a command is the lowercase word
//!   after the binary, if any); a heading that names none closes it. Flags in the section's
//!   text belong to it.
//! - A backticked span that starts with a binary name (`` `veil-server --dealer` ``) claims
//!   its own flags, wherever it stands.
//! - In a code block, a line that starts with a binary name (or a path ending in one) claims
//!   its flags and those of the indented lines after it (a synopsis); text after ` #` is a
//!   comment and is not read.
//! - A flag in no section and no such span or line (a general rule) belongs to no command
//!   and is not checked.
//! - A level-1 or level-2 heading containing "not yet implemented" starts the announced
//!   section; the next level-1 or level-2 heading ends it. Nothing in it is counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Flags every binary has, left out of the comparison.
pub const EXEMPT: [&str; 2] = ["--help", "--version"];

/// A binary's command (`Some("infer")`), or the binary itself (`None`).
pub type Cmd = Option<String>;

/// Long flags by command, for one binary.
pub type Flags = BTreeMap<Cmd, BTreeSet<String>>;

/// The repository's `CONTRACT.md`.
pub fn contract_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../CONTRACT.md")
}

/// Checks `CONTRACT.md` against the `--help` of `binary` (its name, e.g. `veil-client`),
/// run from `exe` (`env!("CARGO_BIN_EXE_veil-client")`).
///
/// # Panics
/// With every disagreement found, or if `CONTRACT.md` cannot be read or `--help` fails.
pub fn check(binary: &str, exe: &str) {
    let path = contract_path();
    let contract = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let help = Help::of(exe);
    let problems = problems(binary, &contract, &help);
    assert!(
        problems.is_empty(),
        "CONTRACT.md ({}) and `{binary} --help` disagree:\n  - {}\n(flags under the \
         \"not yet implemented\" heading do not count; see tests/src/contract.rs for how \
         flags are attributed to commands)",
        path.display(),
        problems.join("\n  - ")
    );
}

/// What a binary's `--help` shows: its commands and each one's long flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Help {
    /// The commands of the top-level help, `help` left out (empty: no subcommands).
    pub commands: Vec<String>,
    /// The long flags of the top-level help (`None`) and of each command's.
    pub flags: Flags,
}

impl Help {
    /// Runs `exe --help`, and `exe COMMAND --help` for each command it lists.
    ///
    /// # Panics
    /// If a run fails or prints no UTF-8.
    pub fn of(exe: &str) -> Help {
        let top = help_text(exe, &[]);
        let commands = help_commands(&top);
        let mut flags = Flags::new();
        flags.insert(None, help_flags(&top));
        for cmd in &commands {
            let text = help_text(exe, &[cmd]);
            flags.insert(Some(cmd.clone()), help_flags(&text));
        }
        Help { commands, flags }
    }

    /// Parses help texts already captured: the top-level one and `(command, text)` pairs.
    pub fn parse(top: &str, commands: &[(&str, &str)]) -> Help {
        let mut flags = Flags::new();
        flags.insert(None, help_flags(top));
        for (cmd, text) in commands {
            flags.insert(Some((*cmd).to_string()), help_flags(text));
        }
        Help {
            commands: help_commands(top),
            flags,
        }
    }
}

/// `exe ARGS --help`'s stdout.
fn help_text(exe: &str, args: &[&str]) -> String {
    let out = Command::new(exe)
        .args(args)
        .arg("--help")
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {exe}: {e}"));
    assert!(
        out.status.success(),
        "{exe} {args:?} --help failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("{exe} {args:?} --help: {e}"))
}

/// The commands listed under `Commands:` in a clap help text, `help` left out.
pub fn help_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("      "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// The long flags a clap help text defines: each option line's (`  -h, --help`,
/// `      --input <FILE>`), not the flags its descriptions mention.
pub fn help_flags(help: &str) -> BTreeSet<String> {
    help.lines()
        .filter_map(|line| {
            let body = line.trim_start();
            let indent = line.len() - body.len();
            if !(1..=8).contains(&indent) {
                return None;
            }
            let body = match body.as_bytes() {
                [b'-', c, b',', b' ', ..] if c.is_ascii_alphanumeric() => &body[4..],
                _ => body,
            };
            long_flags(body)
                .into_iter()
                .next()
                .filter(|_| body.starts_with("--"))
        })
        .collect()
}

/// The long flags (`--name`) in `text`, in order: `--` after neither a letter, a digit nor
/// a dash, then a lowercase letter, then letters, digits and dashes.
pub fn long_flags(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut flags = Vec::new();
    let mut i = 0;
    while i + 2 < bytes.len() {
        let starts = bytes[i] == b'-'
            && bytes[i + 1] == b'-'
            && bytes[i + 2].is_ascii_lowercase()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'-'));
        if !starts {
            i += 1;
            continue;
        }
        let end = (i + 2..bytes.len())
            .find(|&j| !(bytes[j].is_ascii_alphanumeric() || bytes[j] == b'-'))
            .unwrap_or(bytes.len());
        flags.push(text[i..end].trim_end_matches('-').to_string());
        i = end;
    }
    flags
}

/// A binary and command named at the start of `text` (`veil-client infer --json`,
/// `target/release/veil-server --listen ...`): the first word's last path component, if
/// it starts with `veil-`, and the next word if it is a lowercase word.
pub fn named_command(text: &str) -> Option<(String, Cmd)> {
    let mut words = text.split_whitespace();
    let first = words.next()?;
    let binary = first.rsplit('/').next()?;
    let is_name = |w: &str| {
        w.starts_with(|c: char| c.is_ascii_lowercase())
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if !(binary.starts_with("veil-") && binary.len() > 5 && is_name(binary)) {
        return None;
    }
    let cmd = words.next().filter(|w| is_name(w)).map(str::to_string);
    Some((binary.to_string(), cmd))
}

/// What `CONTRACT.md` lists, binary by binary: the long flags of each command it names
/// (a command named without flags is there with none).
pub type Listed = BTreeMap<String, Flags>;

/// Reads the flags and commands `contract` lists, leaving out the announced section.
pub fn listed(contract: &str) -> Listed {
    let mut listed = Listed::new();
    let mut add = |scope: &(String, Cmd), flags: Vec<String>| {
        let (binary, cmd) = scope;
        listed
            .entry(binary.clone())
            .or_default()
            .entry(cmd.clone())
            .or_default()
            .extend(flags);
    };
    let mut announced = false;
    let mut in_code = false;
    let mut section: Option<(String, Cmd)> = None;
    let mut line_scope: Option<(String, Cmd)> = None;
    for line in contract.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            in_code = !in_code;
            line_scope = None;
            continue;
        }
        if !in_code && trimmed.starts_with('#') {
            let level = trimmed.chars().take_while(|&c| c == '#').count();
            if level <= 2 {
                announced = trimmed.to_lowercase().contains("not yet implemented");
            }
            section = spans(trimmed)
                .into_iter()
                .find_map(|(code, text)| code.then(|| named_command(text)).flatten());
        }
        if announced {
            continue;
        }
        if in_code {
            let code = strip_comment(line);
            if code.trim().is_empty() {
                line_scope = None;
                continue;
            }
            match named_command(code) {
                Some(scope) => line_scope = Some(scope),
                None if !code.starts_with(char::is_whitespace) => line_scope = None,
                None => {}
            }
            if let Some(scope) = line_scope.as_ref().or(section.as_ref()) {
                add(scope, long_flags(code));
            }
            continue;
        }
        for (code, text) in spans(line) {
            match code.then(|| named_command(text)).flatten() {
                Some(scope) => add(&scope, long_flags(text)),
                None => {
                    if let Some(scope) = &section {
                        add(scope, long_flags(text));
                    }
                }
            }
        }
    }
    listed
}

/// `line` split into plain text and backticked spans (`true`), in order.
fn spans(line: &str) -> Vec<(bool, &str)> {
    line.split('`')
        .enumerate()
        .map(|(i, part)| (i % 2 == 1, part))
        .collect()
}

/// A code line without its comment: from the first `#` that follows a space.
fn strip_comment(line: &str) -> &str {
    match line.find(" #") {
        Some(at) => &line[..at],
        None if line.trim_start().starts_with('#') => "",
        None => line,
    }
}

/// Every disagreement between `contract` and `help` for `binary`, as sentences.
pub fn problems(binary: &str, contract: &str, help: &Help) -> Vec<String> {
    let exempt = |f: &String| EXEMPT.contains(&f.as_str());
    let empty = Flags::new();
    let all = listed(contract);
    let listed = all.get(binary).unwrap_or(&empty);
    let show = |cmd: &Cmd| match cmd {
        Some(c) => format!("`{binary} {c}`"),
        None => format!("`{binary}`"),
    };
    let mut problems = Vec::new();
    // What CONTRACT.md lists must be in --help.
    for (cmd, flags) in listed {
        let shown: BTreeSet<&String> = match cmd {
            Some(c) if !help.commands.contains(c) => {
                problems.push(format!(
                    "CONTRACT.md lists {}, but `{binary} --help` shows no command {c:?} \
                     (move it under the \"not yet implemented\" heading?)",
                    show(cmd)
                ));
                continue;
            }
            Some(_) => help.flags.get(cmd).into_iter().flatten().collect(),
            // Flags listed for the binary alone: in its own help or any command's.
            None => help.flags.values().flatten().collect(),
        };
        for flag in flags.iter().filter(|f| !exempt(f)) {
            if !shown.contains(flag) {
                problems.push(format!(
                    "CONTRACT.md lists {flag} for {}, but its --help does not show it",
                    show(cmd)
                ));
            }
        }
    }
    // What --help shows must be in CONTRACT.md.
    let commands: Vec<Cmd> = match help.commands.is_empty() {
        true => vec![None],
        false => help.commands.iter().cloned().map(Some).collect(),
    };
    for cmd in &commands {
        let Some(documented) = listed.get(cmd) else {
            problems.push(format!(
                "{} is in its --help but not in CONTRACT.md",
                show(cmd)
            ));
            continue;
        };
        for flag in help.flags.get(cmd).into_iter().flatten() {
            if !exempt(flag) && !documented.contains(flag) {
                problems.push(format!(
                    "{flag} is in the --help of {} but not listed for it in CONTRACT.md",
                    show(cmd)
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOP: &str = "\
veil-x: does things

Usage: veil-x <COMMAND>

Commands:
  go    Goes somewhere. See --far
  stay  Stays
  help  Print this message or the help of the given subcommand(s)

Options:
  -h, --help     Print help
  -V, --version  Print version
";

    const GO: &str = "\
Goes

Usage: veil-x go [OPTIONS] --to <ADDR>

Options:
      --to <ADDR>
          Where to go; --fast is refused here

      --dry-run
          Do nothing

          Possible values:
          - a: one
          - b: two

  -h, --help
          Print help (see a summary with '-h')
";

    const STAY: &str = "\
Usage: veil-x stay [OPTIONS]

Options:
      --json  Print JSON
  -h, --help  Print help
";

    const CONTRACT: &str = "\
# contract
General: `--verbose` everywhere.

```
veil-x  go --to ADDR      # see --comment
              [--dry-run]
veil-x  stay [--json]
```

### `veil-x go`
| `--to ADDR` | where |

## `veil-x stay --json`
Prints `veil-y run --other`.

## Announced, not yet implemented
```
veil-x  go --fast
veil-x  fly --high
```
`veil-x stay --forever`

## After
`veil-x stay` again.
";

    fn help() -> Help {
        Help::parse(TOP, &[("go", GO), ("stay", STAY)])
    }

    #[test]
    fn reads_clap_help() {
        assert_eq!(help_commands(TOP), ["go", "stay"]);
        let go: Vec<String> = help_flags(GO).into_iter().collect();
        assert_eq!(go, ["--dry-run", "--help", "--to"]);
        let top: Vec<String> = help_flags(TOP).into_iter().collect();
        assert_eq!(top, ["--help", "--version"]);
    }

    #[test]
    fn finds_flags_and_commands() {
        assert_eq!(
            long_flags("a --b-c, [--d E] x--y --- -- e `--f`"),
            ["--b-c", "--d", "--f"]
        );
        assert_eq!(
            named_command("target/release/veil-x go --to"),
            Some(("veil-x".into(), Some("go".into())))
        );
        assert_eq!(
            named_command("veil-x  ... [--a]"),
            Some(("veil-x".into(), None))
        );
        assert_eq!(named_command("cargo run"), None);
        assert_eq!(named_command("veil-"), None);
    }

    #[test]
    fn attributes_flags_and_skips_the_announced_section() {
        let listed = listed(CONTRACT);
        let x = &listed["veil-x"];
        let flags = |cmd: &str| -> Vec<&str> {
            x[&Some(cmd.to_string())]
                .iter()
                .map(String::as_str)
                .collect()
        };
        assert_eq!(flags("go"), ["--dry-run", "--to"]);
        assert_eq!(flags("stay"), ["--json"]);
        assert!(!x.contains_key(&Some("fly".to_string())));
        assert_eq!(listed["veil-y"][&Some("run".to_string())].len(), 1);
        assert!(problems("veil-x", CONTRACT, &help()).is_empty());
    }

    #[test]
    fn reports_each_disagreement() {
        let contract = CONTRACT
            .replace("[--dry-run]", "")
            .replace("[--json]", "[--jsn]")
            .replace("`veil-x stay --json`", "`veil-x stay`")
            .replace("## After", "## After `veil-x sit`");
        let problems = problems("veil-x", &contract, &help());
        assert_eq!(problems.len(), 4, "{problems:#?}");
        let all = problems.join("\n");
        for needle in [
            "--dry-run is in the --help of `veil-x go`",
            "--json is in the --help of `veil-x stay`",
            "CONTRACT.md lists --jsn for `veil-x stay`",
            "shows no command \"sit\"",
        ] {
            assert!(all.contains(needle), "{needle}: {all}");
        }
        let missing = problems_for_missing_command();
        assert!(missing.contains("`veil-x stay` is in its --help but not in CONTRACT.md"));
    }

    fn problems_for_missing_command() -> String {
        let contract = "```\nveil-x go --to ADDR [--dry-run]\n```\n";
        problems("veil-x", contract, &help()).join("\n")
    }
}
