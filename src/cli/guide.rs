//! The guide of guided rotations (manual targets) for `apply` and `recover`: shows a step (target,
//! URL, instructions, the new password) and reads the technician's answer. A new password goes
//! only where it may: the controlling terminal (`/dev/tty`, even when stdout is a pipe), or where
//! `--show-password-to` explicitly says (a new 0600 file, or `-` for stdout); answers are then
//! read from stdin. Text from the inventory is shown escaped.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context as _, Result};

use keyreeve::escape::terminal as shown;
use keyreeve::rotation::failpoint;
use keyreeve::rotation::guided::{Answer, Guide, GuidedStep, InForce};
use keyreeve::secret::Password;

/// Shows guided steps and reads answers.
pub struct TerminalGuide {
    out: Mutex<Box<dyn Write + Send>>,
    input: Mutex<Box<dyn BufRead + Send>>,
}

/// Why a guided step cannot be shown here, and what to do.
pub const NO_TERMINAL: &str = "guided steps show a new password and need a terminal (/dev/tty): run on a terminal, \
     name where the password may go with `--show-password-to FILE` (a new file, mode 0600) or `--show-password-to -` \
     (stdout; answers are read from stdin), or leave them for later with `--skip-manual`";

impl TerminalGuide {
    /// The guide for `show_to` (None: the controlling terminal, or an error saying what to do).
    pub fn open(show_to: Option<&Path>) -> Result<TerminalGuide> {
        let stdin = || Box::new(BufReader::new(std::io::stdin())) as Box<dyn BufRead + Send>;
        let (out, input): (Box<dyn Write + Send>, Box<dyn BufRead + Send>) = match show_to {
            Some(p) if p == Path::new("-") => (Box::new(std::io::stdout()), stdin()),
            Some(p) => {
                let dir = match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => std::path::PathBuf::from("."),
                };
                let file = keyreeve::safe_fs::create_new(&dir, p, 0o600).with_context(|| {
                    format!(
                        "cannot create {} for the guided steps (it must not exist yet; it will hold new passwords)",
                        p.display()
                    )
                })?;
                (Box::new(file), stdin())
            }
            None => {
                let tty = File::options()
                    .read(true)
                    .write(true)
                    .open("/dev/tty")
                    .map_err(|_| anyhow::anyhow!(NO_TERMINAL))?;
                let reader = tty.try_clone().context("opening the terminal")?;
                (Box::new(tty), Box::new(BufReader::new(reader)))
            }
        };
        Ok(TerminalGuide {
            out: Mutex::new(out),
            input: Mutex::new(input),
        })
    }

    /// Writes `text`, then reads answers until one of `choices` (or end of input: None).
    fn ask(&self, text: &str, choices: &[(&str, &str)]) -> Option<String> {
        let mut out = self.out.lock().ok()?;
        let mut input = self.input.lock().ok()?;
        out.write_all(text.as_bytes()).ok()?;
        out.flush().ok()?;
        failpoint::hit("guided-shown");
        for _ in 0..5 {
            let mut line = String::new();
            if input.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let said = line.trim().to_lowercase();
            if let Some((name, _)) = choices.iter().find(|(name, short)| said == *name || said == *short) {
                return Some(name.to_string());
            }
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            let _ = write!(out, "Please answer {}: ", names.join(", "));
            let _ = out.flush();
        }
        None
    }
}

/// The step as a person reads it; `password` is shown as given (the caller decides where it goes).
pub fn render(step: &GuidedStep<'_>, password: &str) -> String {
    let t = step.target;
    let mut text = format!("\n=== Guided step: {} ===\n", shown(step.path));
    let category = t.category().map(|c| format!(" ({c})")).unwrap_or_default();
    text.push_str(&format!("Target:       {}{category}\n", shown(&t.name)));
    let location = keyreeve::rotation::guided::location(t);
    if !location.is_empty() {
        text.push_str(&format!("Open:         {}\n", shown(&location)));
    }
    let instructions = keyreeve::rotation::guided::instructions(t).trim();
    if instructions.is_empty() {
        text.push_str("Instructions: (none in keyreeve.toml)\n");
    } else {
        text.push_str("Instructions:\n");
        for line in instructions.lines() {
            text.push_str(&format!("  {}\n", shown(line)));
        }
    }
    text.push_str(&format!("Account:      {}\n", shown(step.account)));
    text.push_str(&format!("New password: {password}\n"));
    text
}

impl Guide for TerminalGuide {
    fn change(&self, step: &GuidedStep<'_>) -> Answer {
        let mut text = render(step, step.new_password.expose());
        text.push_str("Change it on the target now. Did the target take the new password? [yes/no/failed]: ");
        match self
            .ask(&text, &[("yes", "y"), ("no", "n"), ("failed", "f")])
            .as_deref()
        {
            Some("yes") => Answer::Changed,
            Some("no") => Answer::NotChanged,
            Some(_) => Answer::Failed("the technician reported it failed".into()),
            None => Answer::NoAnswer,
        }
    }

    fn which_in_force(&self, step: &GuidedStep<'_>, old: &Password) -> InForce {
        let mut text = render(step, step.new_password.expose());
        text.push_str(&format!(
            "Old password: {}\nThis guided rotation was interrupted. Which password does the target hold now? [new/old/unknown]: ",
            old.expose()
        ));
        match self
            .ask(&text, &[("new", "n"), ("old", "o"), ("unknown", "u")])
            .as_deref()
        {
            Some("new") => InForce::New,
            Some("old") => InForce::Old,
            _ => InForce::Unknown,
        }
    }
}
