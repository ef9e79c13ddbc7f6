//! Accounts a plan never schedules on the device: those another system owns (a change there
//! would be undone), and those the device's CLI cannot change. Today that is UniFi devices, whose SSH credentials the UniFi controller
//! pushes at every provisioning; once guided targets (`kind = "manual"`) exist, this refusal
//! becomes a guided step in the controller.

use crate::inventory::TargetKind;

/// Why a plan must not rotate an account of a `kind` target on the device itself, or None.
pub fn not_on_the_device(kind: TargetKind) -> Option<String> {
    match kind {
        TargetKind::Unifi => Some(
            "a UniFi device's SSH credentials belong to its UniFi controller, which undoes a change made on the \
             device at the next provisioning: rotate it in the UniFi controller: add the controller as a \
             kind = \"manual\" target with category = \"wireless\""
                .into(),
        ),
        _ => None,
    }
}

/// Why a plan must not rotate `account` of a `kind` target from its CLI because the CLI has no
/// way to (OPNsense changes only root's password from the shell), or None.
pub fn no_cli_for(kind: TargetKind, account: &str) -> Option<String> {
    match kind {
        TargetKind::Opnsense if account != "root" => Some(
            "OPNsense's CLI changes only root's password: change this account's in the web GUI (System > Access > Users)"
                .into(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unifi_is_refused_and_the_reason_names_the_controller_target() {
        for kind in TargetKind::ALL {
            assert_eq!(not_on_the_device(kind).is_some(), kind == TargetKind::Unifi, "{kind}");
        }
        assert!(no_cli_for(TargetKind::Opnsense, "netops").is_some());
        assert!(
            no_cli_for(TargetKind::Opnsense, "root").is_none() && no_cli_for(TargetKind::Pfsense, "netops").is_none()
        );
        let why = not_on_the_device(TargetKind::Unifi).unwrap();
        assert!(
            why.contains("kind = \"manual\"") && why.contains("category = \"wireless\""),
            "{why}"
        );
    }
}
