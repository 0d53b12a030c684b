use super::*;
use proptest::prelude::*;
use std::collections::{HashSet, VecDeque};

fn reachable_from(start: ProvisionState) -> HashSet<ProvisionState> {
    let mut seen = HashSet::from([start]);
    let mut queue = VecDeque::from([start]);
    while let Some(state) = queue.pop_front() {
        for (from, _, to, _) in TRANSITIONS {
            if *from == state && seen.insert(*to) {
                queue.push_back(*to);
            }
        }
    }
    seen
}

#[test]
fn the_table_has_thirty_states_and_ninety_three_transitions() {
    assert_eq!(ProvisionState::ALL.len(), 30);
    assert_eq!(TRANSITIONS.len(), 93);
    let edges: HashSet<_> = TRANSITIONS.iter().map(|(f, e, _, _)| (*f, *e)).collect();
    assert_eq!(edges.len(), 93, "an (from, event) pair appears twice");
}

#[test]
fn every_state_and_transition_is_reachable_from_enroll() {
    let reached = reachable_from(S::Enroll);
    assert_eq!(reached.len(), 30, "unreachable: {:?}", {
        let all: HashSet<_> = ProvisionState::ALL.iter().copied().collect();
        all.difference(&reached).copied().collect::<Vec<_>>()
    });
}

#[test]
fn every_stable_state_can_be_left_by_an_operator() {
    for state in ProvisionState::ALL.iter().filter(|s| s.is_stable()) {
        assert!(
            TRANSITIONS.iter().any(|(f, _, _, api)| f == state && *api),
            "{state} cannot be left"
        );
    }
}

#[test]
fn no_dead_ends_every_state_reaches_a_stable_state() {
    for state in ProvisionState::ALL {
        assert!(
            reachable_from(*state)
                .iter()
                .any(|s| *s != *state && s.is_stable())
                || state.is_stable(),
            "{state} never reaches a stable state"
        );
        assert!(
            TRANSITIONS.iter().any(|(f, _, _, _)| f == state),
            "{state} has no way out"
        );
    }
}

#[test]
fn verbs_are_valid_from_the_documented_states() {
    let v = Version(1, 115);
    let from = |verb: Verb| -> HashSet<ProvisionState> {
        ProvisionState::ALL
            .iter()
            .copied()
            .filter(|s| verb.allowed_from(*s, v))
            .collect()
    };
    assert_eq!(
        from(Verb::Active),
        HashSet::from([S::Available, S::DeployFailed])
    );
    assert_eq!(
        from(Verb::Rebuild),
        HashSet::from([S::Active, S::DeployFailed, S::Error])
    );
    assert_eq!(
        from(Verb::Deleted),
        HashSet::from([
            S::Active,
            S::DeployWait,
            S::DeployFailed,
            S::Error,
            S::Rescue,
            S::RescueWait,
            S::RescueFailed,
            S::UnrescueFailed,
            S::ServiceWait,
            S::ServiceFailed
        ])
    );
    assert_eq!(
        from(Verb::Manage),
        HashSet::from([
            S::Enroll,
            S::Available,
            S::CleanFailed,
            S::InspectFailed,
            S::AdoptFailed
        ])
    );
    assert_eq!(from(Verb::Provide), HashSet::from([S::Manageable]));
    assert_eq!(
        from(Verb::Inspect),
        HashSet::from([S::Manageable, S::InspectFailed])
    );
    assert_eq!(from(Verb::Clean), HashSet::from([S::Manageable]));
    assert_eq!(
        from(Verb::Adopt),
        HashSet::from([S::Manageable, S::AdoptFailed])
    );
    assert_eq!(
        from(Verb::Abort),
        HashSet::from([
            S::CleanWait,
            S::InspectWait,
            S::RescueWait,
            S::CleanHold,
            S::DeployHold,
            S::DeployWait,
            S::ServiceWait,
            S::ServiceHold,
            S::ServiceFailed
        ])
    );
    assert_eq!(
        from(Verb::Rescue),
        HashSet::from([
            S::Active,
            S::Rescue,
            S::RescueFailed,
            S::UnrescueFailed,
            S::ServiceFailed
        ])
    );
    assert_eq!(
        from(Verb::Unrescue),
        HashSet::from([S::Rescue, S::RescueFailed, S::UnrescueFailed])
    );
    assert_eq!(
        from(Verb::Unhold),
        HashSet::from([S::CleanHold, S::DeployHold, S::ServiceHold])
    );
    assert_eq!(
        from(Verb::Service),
        HashSet::from([S::Active, S::ServiceHold, S::ServiceFailed])
    );
}

#[test]
fn abort_edges_arrive_with_their_versions() {
    assert!(!Verb::Abort.allowed_from(S::InspectWait, Version(1, 40)));
    assert!(Verb::Abort.allowed_from(S::InspectWait, Version(1, 41)));
    assert!(!Verb::Abort.allowed_from(S::DeployWait, Version(1, 109)));
    assert!(Verb::Abort.allowed_from(S::DeployWait, Version(1, 110)));
}

#[test]
fn names_round_trip_and_old_versions_see_old_names() {
    for s in ProvisionState::ALL {
        assert_eq!(s.as_str().parse::<ProvisionState>().unwrap(), *s);
        let json = serde_json::to_string(s).unwrap();
        assert_eq!(serde_json::from_str::<ProvisionState>(&json).unwrap(), *s);
    }
    assert_eq!(S::Available.for_version(Version(1, 1)), None);
    assert_eq!(S::Available.for_version(Version(1, 2)), Some("available"));
    assert_eq!(
        S::InspectWait.for_version(Version(1, 38)),
        Some("inspecting")
    );
    assert_eq!(
        S::InspectWait.for_version(Version(1, 39)),
        Some("inspect wait")
    );
}

fn any_state() -> impl Strategy<Value = ProvisionState> {
    proptest::sample::select(ProvisionState::ALL.to_vec())
}

fn any_event() -> impl Strategy<Value = Event> {
    proptest::sample::select(Event::ALL.to_vec())
}

proptest! {
    /// Random walks of events never leave the set of known states, and a walk
    /// that stops can always be brought back to a stable state.
    #[test]
    fn random_walks_stay_inside_the_machine(start in any_state(), events in proptest::collection::vec(any_event(), 0..64)) {
        let mut state = start;
        for event in events {
            if let Some(next) = state.next(event) {
                prop_assert!(ProvisionState::ALL.contains(&next));
                state = next;
            }
        }
        prop_assert!(state.is_stable() || reachable_from(state).iter().any(|s| s.is_stable()));
    }

    /// An API-reachable edge is always a real edge of the FSM.
    #[test]
    fn api_edges_are_fsm_edges(state in any_state(), event in any_event()) {
        if let Some(to) = state.next_by_api(event) {
            prop_assert_eq!(state.next(event), Some(to));
        }
    }
}
