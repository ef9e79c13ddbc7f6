//! Targets whose passwords another system owns: a change on the device would be undone, so a plan
//! never schedules one. Today that is UniFi devices, whose SSH credentials the UniFi controller
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unifi_is_refused_and_the_reason_names_the_controller_target() {
        for kind in TargetKind::ALL {
            assert_eq!(not_on_the_device(kind).is_some(), kind == TargetKind::Unifi, "{kind}");
        }
        let why = not_on_the_device(TargetKind::Unifi).unwrap();
        assert!(
            why.contains("kind = \"manual\"") && why.contains("category = \"wireless\""),
            "{why}"
        );
    }
}
