//! The `keyreeve` binary: parse the command line, run it, print errors with their hint, and turn
//! the outcome into the exit code (0 success, 1 findings or partial failure, 2 usage or fatal).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = cli::Cli::parse();
    let filter = match cli.global.verbose {
        // A service's log is how its operator sees each run.
        0 if matches!(cli.command, cli::Command::Serve(_)) => "info",
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour_on_stderr(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR"),
        ))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("KEYREEVE_LOG").unwrap_or_else(|_| filter.into()))
        .init();
    let result = cli::run(cli);
    // Changes that happened but could not be audited (each already printed whole) fail the run,
    // whatever it says otherwise.
    let unrecorded = keyreeve::audit_log::unrecorded();
    if unrecorded > 0 && result.is_ok() {
        eprintln!("error: {unrecorded} event(s) above are NOT in the audit log");
        eprintln!("hint: free space or fix state/audit.log, then add what was printed to the workspace's records");
        return ExitCode::from(2);
    }
    match result {
        Ok(cli::Outcome::Success) => ExitCode::SUCCESS,
        Ok(cli::Outcome::Findings) => ExitCode::from(1),
        Err(err) => {
            // Errors quote names from files, devices and the command line: shown, never obeyed.
            let shown = |text: String| keyreeve::escape::terminal_lines(&text).into_owned();
            eprintln!("error: {}", shown(err.to_string()));
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {}", shown(cause.to_string()));
            }
            if let Some(hint) = hint_of(&err) {
                eprintln!("hint: {}", shown(hint));
            }
            ExitCode::from(2)
        }
    }
}

/// Colour only for a person at a terminal who did not ask for none (https://no-color.org: set
/// and not empty): a service's log in a journal or a file must not fill with escape codes.
fn colour_on_stderr(is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// A reader that stops early (`keyreeve vault list | head -1`) closes our stdout, and std's print
/// macros then panic with "failed printing to stdout". That is the reader's choice, not a fault:
/// end quietly with the status of a tool killed by SIGPIPE (128 + 13). SIGPIPE itself stays
/// ignored, so that a peer closing a network connection is an error keyreeve handles, never a
/// kill in the middle of a rotation.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// The hint of the first error in the chain that has one.
fn hint_of(err: &anyhow::Error) -> Option<String> {
    use keyreeve::Hint;
    err.chain().find_map(|e| {
        if let Some(e) = e.downcast_ref::<keyreeve::Error>() {
            return e.hint();
        }
        macro_rules! try_hint { ($($t:ty),*) => { $( if let Some(e) = e.downcast_ref::<$t>() { return e.hint(); } )* } }
        try_hint!(
            keyreeve::workspace::WorkspaceError,
            keyreeve::inventory::InventoryError,
            keyreeve::inventory::edit::EditError,
            keyreeve::keys::KeyError,
            keyreeve::vault::VaultError,
            keyreeve::audit_log::AuditLogError,
            keyreeve::connector::ConnectorError,
            keyreeve::policy::PolicyError,
            keyreeve::rotation::RotationError,
            keyreeve::export::ExportError,
            keyreeve::import::ImportError,
            keyreeve::review::ReviewError,
            keyreeve::team::TeamError
        );
        None
    })
}

#[cfg(test)]
mod tests {
    use super::colour_on_stderr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_on_stderr(true, None));
        assert!(colour_on_stderr(true, Some("".into())));
        assert!(!colour_on_stderr(true, Some("1".into())));
        assert!(!colour_on_stderr(false, None));
    }
}
