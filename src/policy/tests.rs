//! The policy loader's tests: every setting read with its line, and every bad one refused at it.

use super::*;

#[test]
fn shipped_default_policy_is_valid() {
    let mut p = Policy::default();
    p.add_text(
        include_str!("../../policies/default.toml"),
        Path::new("policies/default.toml"),
    )
    .unwrap();
    let e = p.effective("acme", TargetKind::CiscoIos, "rtr1", "admin");
    assert_eq!((e.max_age_days, e.composition.length, e.excluded), (90, 24, false));
    assert_eq!(p.review, ReviewPolicy::default());
}

#[test]
fn review_thresholds_and_acceptances_are_read_and_checked_with_their_line() {
    let text = "[review]\ndormant_admin_days = 45\n\n[[review.accept]]\nrule = \"dial-in-admin\"\n\
                account = \"acme/dc1/lead\"\nreason = \"approved\"\nuntil = \"2027-03-31\"\n";
    let mut p = Policy::default();
    p.add_text(text, Path::new("policies/review.toml")).unwrap();
    assert_eq!(p.review.dormant_admin_days, 45);
    assert_eq!(p.review.max_admin_password_age_days, 365);
    let a = &p.review.accept[0];
    assert_eq!(a.origin, "policies/review.toml:4");
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    assert!(a.covers("dial-in-admin", "acme/dc1/lead", day("2027-03-31")));
    assert!(!a.covers("dial-in-admin", "acme/dc1/lead", day("2027-04-01")));
    assert!(!a.covers("new-admin", "acme/dc1/lead", day("2027-01-01")));
    assert!(!a.covers("dial-in-admin", "acme/dc2/lead", day("2027-01-01")));

    for (bad, says) in [
        (
            text.replace("dial-in-admin", "dial-in"),
            "unknown review rule `dial-in`",
        ),
        (text.replace("2027-03-31", "next spring"), "is not a date"),
        (text.replace("acme/dc1/lead", "lead"), "must be CLIENT/TARGET/ACCOUNT"),
        (text.replace("\"approved\"", "\" \""), "needs a reason"),
    ] {
        let err = Policy::default().add_text(&bad, Path::new("p.toml")).unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("p.toml:4: ") && shown.contains(says), "{shown}");
    }
    let err = Policy::default()
        .add_text("[review]\n\ndormant_admin_days = 7\n", Path::new("p.toml"))
        .unwrap_err();
    assert!(
        err.to_string().starts_with("p.toml:3: ") && err.to_string().contains("at least 14"),
        "{err}"
    );
    let err = Policy::default()
        .add_text("[review]\ndormant_days = 3\n", Path::new("p.toml"))
        .unwrap_err();
    assert!(err.to_string().starts_with("p.toml:2: "), "{err}");
}

/// Day counts become times (now minus the count): one beyond any calendar is refused at its
/// line, never left to overflow in a review or a plan.
#[test]
fn day_counts_beyond_a_century_are_refused_at_their_line() {
    for field in [
        "compare_days",
        "max_admin_password_age_days",
        "dormant_admin_days",
        "max_snapshot_age_days",
    ] {
        for days in ["100000000", "4294967295", "36526"] {
            let err = Policy::default()
                .add_text(&format!("[review]\n\n{field} = {days}\n"), Path::new("p.toml"))
                .unwrap_err();
            let shown = err.to_string();
            assert!(
                shown.starts_with("p.toml:3: ") && shown.contains(field) && shown.contains("out of range"),
                "{shown}"
            );
            assert!(err.hint().is_some());
        }
        let p = {
            let mut p = Policy::default();
            p.add_text(&format!("[review]\n{field} = {MAX_DAYS}\n"), Path::new("p.toml"))
                .unwrap();
            p
        };
        assert_eq!(
            p.review
                .compare_days
                .max(p.review.dormant_admin_days)
                .max(p.review.max_snapshot_age_days)
                .max(p.review.max_admin_password_age_days),
            MAX_DAYS
        );
    }
    for section in ["[defaults]", "[[rules]]\nclient = \"acme\""] {
        let err = Policy::default()
            .add_text(&format!("{section}\nmax_age_days = 100000000\n"), Path::new("p.toml"))
            .unwrap_err();
        assert!(
            err.to_string().contains("max_age_days = 100000000 is out of range"),
            "{err}"
        );
    }
    let err = Policy::default()
        .add_text("[defaults]\n\nmax_age_days = 0\n", Path::new("p.toml"))
        .unwrap_err();
    assert!(err.to_string().starts_with("p.toml:3: "), "{err}");
}

/// The shipped policy with a rule, cut at every character and with one byte at a time
/// swapped for a character that matters to TOML: valid, or an error on a line of the file.
#[test]
fn damaged_policies_are_errors_on_a_real_line() {
    let full = format!(
        "{}\n[[rules]]\nclient = \"acme\"\nkind = \"cisco-ios\"\nlength = 20\nwindows = [\"Sat 22:00-06:00\"]\nsymbols = \"-_\"\n",
        include_str!("../../policies/default.toml")
    );
    let lines = full.lines().count() + 1;
    let mut errors = 0;
    let mut check = |text: &str| {
        if let Err(PolicyError::Invalid { line, .. }) = Policy::default().add_text(text, Path::new("p.toml")) {
            assert!((1..=lines).contains(&line), "line {line} of {lines}");
            errors += 1;
        }
    };
    check(&full);
    for (cut, _) in full.char_indices() {
        check(&full[..cut]);
    }
    // Every byte of the rule and the [directory] section (the comments above are many).
    let from = full.find("[directory]").unwrap();
    for at in from..full.len() {
        if !full.is_char_boundary(at) || !full.is_char_boundary(at + 1) {
            continue;
        }
        for c in ["\"", "[", "]", "=", "\n", "é", "-", "9"] {
            check(&format!("{}{c}{}", &full[..at], &full[at + 1..]));
        }
    }
    assert!(errors > 1000, "the damage was noticed: {errors} errors");
}

#[test]
fn later_rules_override_and_exclude() {
    let mut p = Policy::default();
    p.add_text(
        "[defaults]\nmax_age_days = 30\nexclude = [\"*/*/breakglass\"]\n\n[[rules]]\nkind = \"active-directory\"\nlength = 32\n\n[[rules]]\nclient = \"acme\"\naccount = \"svc-*\"\nexclude = true\n",
        Path::new("p.toml"),
    )
    .unwrap();
    let ad = p.effective("beta", TargetKind::ActiveDirectory, "dc1", "bob");
    assert_eq!((ad.composition.length, ad.max_age_days, ad.excluded), (32, 30, false));
    assert_eq!(ad.decided_by, vec!["p.toml:5".to_string()]);
    assert!(p.effective("acme", TargetKind::Linux, "h", "svc-backup").excluded);
    assert!(!p.effective("beta", TargetKind::Linux, "h", "svc-backup").excluded);
    assert!(p.effective("beta", TargetKind::Linux, "h", "breakglass").excluded);
}

#[test]
fn errors_point_at_the_line() {
    let mut p = Policy::default();
    let err = p
        .add_text(
            "[defaults]\nlength = 24\n\n[[rules]]\nkind = \"cisco-iox\"\n",
            Path::new("x.toml"),
        )
        .unwrap_err();
    assert!(err.to_string().starts_with("x.toml:5:"), "{err}");
    let err = p
        .add_text("[defaults]\nlenght = 24\n", Path::new("y.toml"))
        .unwrap_err();
    assert!(err.to_string().starts_with("y.toml:2:"), "{err}");
    let err = p
        .add_text("[defaults]\nwindows = [\"Fun 22:00-23:00\"]\n", Path::new("z.toml"))
        .unwrap_err();
    assert!(err.to_string().starts_with("z.toml:2:"), "{err}");
}

#[test]
fn globs() {
    assert!(glob_match("svc-*", "svc-backup"));
    assert!(!glob_match("svc-*", "bob"));
    assert!(glob_match("a?c*", "abcdef"));
    assert!(path_match("*/*/admin", "acme/rtr1/admin"));
    assert!(!path_match("*/admin", "acme/rtr1/admin"));
}
