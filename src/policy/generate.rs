//! The password generator: random passwords that satisfy both the rotation policy and what the
//! target's CLI or protocol can take.

use rand::seq::{IndexedRandom, SliceRandom};

use crate::connector::PasswordRules;
use crate::secret::Password;

const LOWER: &str = "abcdefghijkmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &str = "23456789";
/// The safe symbol set of device-cli.md: no `?`, `$`, quotes, `\`, `!`, `|`, `>`, space or tab.
pub const SAFE_SYMBOLS: &str = "-_.,+=@%^*~";

/// What the policy asks of a new password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composition {
    pub length: usize,
    pub lower: bool,
    pub upper: bool,
    pub digits: bool,
    /// Symbols the policy allows (further cut by the target's forbidden characters).
    pub symbols: String,
}

impl Default for Composition {
    fn default() -> Self {
        Composition {
            length: 24,
            lower: true,
            upper: true,
            digits: true,
            symbols: SAFE_SYMBOLS.into(),
        }
    }
}

/// Why no password could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no password can satisfy the policy and the target: {0}")]
pub struct CannotGenerate(pub String);

/// A fresh password with every allowed class present at least once.
pub fn generate(comp: &Composition, rules: &PasswordRules) -> Result<Password, CannotGenerate> {
    let allowed = |set: &str| -> Vec<char> { set.chars().filter(|c| !rules.forbidden.contains(*c)).collect() };
    let mut classes: Vec<Vec<char>> = Vec::new();
    for (on, set) in [
        (comp.lower, LOWER),
        (comp.upper, UPPER),
        (comp.digits, DIGITS),
        (true, comp.symbols.as_str()),
    ] {
        let chars = allowed(set);
        if on && !chars.is_empty() {
            classes.push(chars);
        }
    }
    if classes.is_empty() {
        return Err(CannotGenerate("every character is excluded".into()));
    }
    if classes.len() < rules.min_classes as usize {
        return Err(CannotGenerate(format!(
            "the target needs {} character classes, the policy allows {}",
            rules.min_classes,
            classes.len()
        )));
    }
    let length = comp
        .length
        .clamp(rules.min_len.max(classes.len()), rules.max_len.max(1));
    if length < classes.len() || length < rules.min_len {
        return Err(CannotGenerate(format!(
            "length {length} is too short for the required classes"
        )));
    }
    let mut rng = rand::rng();
    let all: Vec<char> = classes.iter().flatten().copied().collect();
    let mut chars: Vec<char> = classes
        .iter()
        .map(|c| *c.choose(&mut rng).expect("class is not empty"))
        .collect();
    while chars.len() < length {
        chars.push(*all.choose(&mut rng).expect("alphabet is not empty"));
    }
    chars.shuffle(&mut rng);
    if rules.no_leading_digit && chars[0].is_ascii_digit() {
        if let Some(i) = chars.iter().position(|c| !c.is_ascii_digit()) {
            chars.swap(0, i);
        }
    }
    let mut s = String::with_capacity(length);
    s.extend(chars.iter());
    chars.iter_mut().for_each(|c| *c = '\0');
    Ok(Password::new(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respects_forbidden_characters_and_classes() {
        let rules = PasswordRules {
            forbidden: "?-_".into(),
            min_classes: 4,
            ..Default::default()
        };
        for _ in 0..200 {
            let p = generate(&Composition::default(), &rules).unwrap();
            let s = p.expose();
            assert_eq!(s.len(), 24);
            assert!(!s.contains(['?', '-', '_']), "{s}");
            assert!(s.chars().any(|c| c.is_ascii_lowercase()));
            assert!(s.chars().any(|c| c.is_ascii_uppercase()));
            assert!(s.chars().any(|c| c.is_ascii_digit()));
            assert!(s.chars().any(|c| SAFE_SYMBOLS.contains(c)));
        }
    }

    #[test]
    fn clamps_to_the_target_maximum_and_avoids_a_leading_digit() {
        let rules = PasswordRules {
            max_len: 12,
            no_leading_digit: true,
            ..Default::default()
        };
        for _ in 0..200 {
            let p = generate(
                &Composition {
                    length: 40,
                    ..Default::default()
                },
                &rules,
            )
            .unwrap();
            assert_eq!(p.expose().len(), 12);
            assert!(!p.expose().starts_with(|c: char| c.is_ascii_digit()));
        }
    }

    #[test]
    fn impossible_policy_is_an_error() {
        let comp = Composition {
            lower: false,
            upper: false,
            digits: false,
            symbols: String::new(),
            ..Default::default()
        };
        assert!(generate(&comp, &PasswordRules::default()).is_err());
    }
}
