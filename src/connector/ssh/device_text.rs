//! What a device says, made fit to quote in an error: its last lines, with the credentials it
//! printed itself (reversible `password 7` values, crypt hashes) masked. Split from the session
//! engine, which captures the text; errors reach logs, reports and the service's API.

use regex::Regex;

/// The last `n` lines of `text`, for error messages.
///
/// Device output can hold credentials keyreeve never sent, so redaction by known secrets misses
/// them: a `username x password 7 <reversible>` line of the configuration, a `$6$...` crypt hash.
/// Their values are masked here, since errors reach logs, reports and the service's API.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let from = lines.len().saturating_sub(n);
    mask_credentials(&lines[from..].join("\n"))
}

/// `password 7 0822455D0A16`, `secret 9 $9$...`, `encrypted-password "$6$..."`, any `$id$...`
/// crypt string: the value becomes `********`.
fn mask_credentials(text: &str) -> String {
    static KEYWORD_VALUE: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(
            r#"(?i)\b((?:encrypted-)?password|secret|passwd|key-string|authentication-key)(\s+\d{1,2})?\s+"?[^\s"]+"?"#,
        )
        .expect("a constant pattern")
    });
    static CRYPT: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(r"\$[0-9a-z]{1,2}\$\S+").expect("a constant pattern"));
    let text = CRYPT.replace_all(text, "********");
    KEYWORD_VALUE.replace_all(&text, "$1$2 ********").into_owned()
}

#[cfg(test)]
mod tests {
    use super::last_lines;

    #[test]
    fn credentials_in_device_output_are_masked_in_error_lines() {
        let out = "rtr1#show running-config | section username\n\
                   username admin privilege 15 password 7 0822455D0A16\n\
                   username ops secret 9 $9$abcdefgh$ijklmnop\n\
                   set system login user x authentication encrypted-password \"$6$salt$hash\"\n\
                   enable secret 5 $1$mERr$hx5rVt7rPNoS4wqbXKX7m0\n\
                   % Invalid input detected\n";
        let shown = last_lines(out, 6);
        for leaked in ["0822455D0A16", "$9$", "$6$", "$1$", "ijklmnop", "hx5rVt7r"] {
            assert!(!shown.contains(leaked), "{leaked} in {shown}");
        }
        assert!(
            shown.contains("username admin privilege 15 password 7 ********"),
            "{shown}"
        );
        assert!(shown.contains("% Invalid input detected"), "{shown}");
        assert_eq!(last_lines("a\n\n b \nc", 2), " b\nc");
    }
}
