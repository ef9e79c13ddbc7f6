//! The little of `sh` that the emulated ESXi and Synology DSM shells need: command lists split on
//! `;`, single quotes taken literally (as `sh` does, backslashes included), double quotes, and
//! `$?` for the previous command's exit status.

/// One command line split into commands, each into words, with `$?` replaced by `status` as the
/// commands run: the caller runs each command and gives its status to the next through `run`.
pub(crate) fn run_list(line: &str, mut run: impl FnMut(&[String]) -> (String, u32)) -> (String, u32) {
    let mut out = String::new();
    let mut status = 0;
    for command in split_commands(line) {
        let words: Vec<String> = command
            .into_iter()
            .map(|(w, literal)| {
                if literal {
                    w
                } else {
                    w.replace("$?", &status.to_string())
                }
            })
            .collect();
        if words.is_empty() {
            continue;
        }
        let (text, code) = run(&words);
        out.push_str(&text);
        status = code;
    }
    (out, status)
}

/// Commands of a line; each word with whether it was wholly single-quoted (no expansion).
fn split_commands(line: &str) -> Vec<Vec<(String, bool)>> {
    let mut commands = vec![Vec::new()];
    let mut word = String::new();
    let mut in_word = false;
    let mut literal = true;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') => quote = None,
            (Some('"'), '"') => quote = None,
            (Some('"'), '\\') if matches!(chars.peek(), Some('"' | '\\' | '$')) => {
                word.extend(chars.next());
            }
            (Some(_), c) => word.push(c),
            (None, '\'') => {
                quote = Some('\'');
                in_word = true;
            }
            (None, '"') => {
                quote = Some('"');
                in_word = true;
                literal = false;
            }
            (None, ';') => {
                if in_word {
                    if let Some(last) = commands.last_mut() {
                        last.push((std::mem::take(&mut word), literal));
                    }
                }
                in_word = false;
                literal = true;
                commands.push(Vec::new());
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    if let Some(last) = commands.last_mut() {
                        last.push((std::mem::take(&mut word), literal));
                    }
                }
                in_word = false;
                literal = true;
            }
            (None, c) => {
                word.push(c);
                in_word = true;
                if c == '$' {
                    literal = false;
                }
            }
        }
    }
    if in_word {
        if let Some(last) = commands.last_mut() {
            last.push((word, literal));
        }
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_quotes_are_literal_and_the_status_flows() {
        let mut seen = Vec::new();
        let (out, code) = run_list(r#"set -p 'a b\$?;"' x; echo s=$?"#, |w| {
            seen.push(w.to_vec());
            if w[0] == "echo" {
                (format!("{}\n", w[1]), 0)
            } else {
                (String::new(), 3)
            }
        });
        assert_eq!(seen[0], ["set", "-p", r#"a b\$?;""#, "x"]);
        assert_eq!(out, "s=3\n");
        assert_eq!(code, 0);
    }
}
