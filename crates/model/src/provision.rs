//! The provision state machine as data: the 30 states and 93 transitions of
//! Ironic's FSM (reference §3.1–3.3). The API checks requests against this
//! table and the conductor moves nodes with it, so both always agree.

use crate::version::Version;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling used by the Ironic API.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::provision::UnknownName;
            fn from_str(s: &str) -> Result<Self, $crate::provision::UnknownName> {
                match s { $($text => Ok($name::$variant),)+ _ => Err($crate::provision::UnknownName(s.to_string())) }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_enum;

/// A string that names no known state, event or verb.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown name {0:?}")]
pub struct UnknownName(pub String);

string_enum! {
    /// A node's provision state, spelled as Ironic spells it on the wire.
    ProvisionState {
        Enroll => "enroll",
        Verifying => "verifying",
        Manageable => "manageable",
        Available => "available",
        Active => "active",
        Error => "error",
        Rescue => "rescue",
        Deploying => "deploying",
        DeployWait => "wait call-back",
        DeployFailed => "deploy failed",
        DeployHold => "deploy hold",
        Cleaning => "cleaning",
        CleanWait => "clean wait",
        CleanFailed => "clean failed",
        CleanHold => "clean hold",
        Deleting => "deleting",
        Inspecting => "inspecting",
        InspectWait => "inspect wait",
        InspectFailed => "inspect failed",
        Adopting => "adopting",
        AdoptFailed => "adopt failed",
        Rescuing => "rescuing",
        RescueWait => "rescue wait",
        RescueFailed => "rescue failed",
        Unrescuing => "unrescuing",
        UnrescueFailed => "unrescue failed",
        Servicing => "servicing",
        ServiceWait => "service wait",
        ServiceFailed => "service failed",
        ServiceHold => "service hold",
    }
}

string_enum! {
    /// What happens to a node: an operator verb or an internal outcome.
    Event {
        Manage => "manage",
        Provide => "provide",
        Clean => "clean",
        Inspect => "inspect",
        Adopt => "adopt",
        Deploy => "deploy",
        Rebuild => "rebuild",
        Delete => "delete",
        Rescue => "rescue",
        Unrescue => "unrescue",
        Service => "service",
        Abort => "abort",
        Hold => "hold",
        Unhold => "unhold",
        Wait => "wait",
        Resume => "resume",
        Done => "done",
        Fail => "fail",
    }
}

use Event as E;
use ProvisionState as S;

/// Every edge of the FSM: (from, event, to, reachable through the API).
/// Reference §3.2, in its order. Edges marked `false` are fired only by the
/// conductor (outcomes, and the internal `clean`/`manage` that end tear-down
/// and manual cleaning).
pub const TRANSITIONS: &[(ProvisionState, Event, ProvisionState, bool)] = &[
    (S::Enroll, E::Manage, S::Verifying, true),
    (S::Verifying, E::Done, S::Manageable, false),
    (S::Verifying, E::Fail, S::Enroll, false),
    (S::Manageable, E::Provide, S::Cleaning, true),
    (S::Manageable, E::Clean, S::Cleaning, true),
    (S::Manageable, E::Inspect, S::Inspecting, true),
    (S::Manageable, E::Adopt, S::Adopting, true),
    (S::Available, E::Manage, S::Manageable, true),
    (S::Available, E::Deploy, S::Deploying, true),
    (S::Deploying, E::Wait, S::DeployWait, false),
    (S::Deploying, E::Hold, S::DeployHold, false),
    (S::Deploying, E::Done, S::Active, false),
    (S::Deploying, E::Fail, S::DeployFailed, false),
    (S::DeployWait, E::Resume, S::Deploying, false),
    (S::DeployWait, E::Hold, S::DeployHold, false),
    (S::DeployWait, E::Fail, S::DeployFailed, false),
    (S::DeployWait, E::Abort, S::DeployFailed, true),
    (S::DeployWait, E::Delete, S::Deleting, true),
    (S::DeployHold, E::Unhold, S::DeployWait, true),
    (S::DeployHold, E::Abort, S::DeployFailed, true),
    (S::DeployFailed, E::Rebuild, S::Deploying, true),
    (S::DeployFailed, E::Deploy, S::Deploying, true),
    (S::DeployFailed, E::Delete, S::Deleting, true),
    (S::Active, E::Rebuild, S::Deploying, true),
    (S::Active, E::Delete, S::Deleting, true),
    (S::Active, E::Rescue, S::Rescuing, true),
    (S::Active, E::Service, S::Servicing, true),
    (S::Error, E::Rebuild, S::Deploying, true),
    (S::Error, E::Delete, S::Deleting, true),
    (S::Deleting, E::Clean, S::Cleaning, false),
    (S::Deleting, E::Fail, S::Error, false),
    (S::Cleaning, E::Wait, S::CleanWait, false),
    (S::Cleaning, E::Hold, S::CleanHold, false),
    (S::Cleaning, E::Done, S::Available, false),
    (S::Cleaning, E::Manage, S::Manageable, false),
    (S::Cleaning, E::Fail, S::CleanFailed, false),
    (S::CleanWait, E::Resume, S::Cleaning, false),
    (S::CleanWait, E::Hold, S::CleanHold, false),
    (S::CleanWait, E::Fail, S::CleanFailed, false),
    (S::CleanWait, E::Abort, S::CleanFailed, true),
    (S::CleanHold, E::Unhold, S::CleanWait, true),
    (S::CleanHold, E::Abort, S::CleanFailed, true),
    (S::CleanFailed, E::Manage, S::Manageable, true),
    (S::Inspecting, E::Done, S::Manageable, false),
    (S::Inspecting, E::Wait, S::InspectWait, false),
    (S::Inspecting, E::Fail, S::InspectFailed, false),
    (S::InspectWait, E::Resume, S::Inspecting, false),
    (S::InspectWait, E::Done, S::Manageable, false),
    (S::InspectWait, E::Fail, S::InspectFailed, false),
    (S::InspectWait, E::Abort, S::InspectFailed, true),
    (S::InspectFailed, E::Manage, S::Manageable, true),
    (S::InspectFailed, E::Inspect, S::Inspecting, true),
    (S::Adopting, E::Done, S::Active, false),
    (S::Adopting, E::Fail, S::AdoptFailed, false),
    (S::AdoptFailed, E::Adopt, S::Adopting, true),
    (S::AdoptFailed, E::Manage, S::Manageable, true),
    (S::Rescuing, E::Done, S::Rescue, false),
    (S::Rescuing, E::Wait, S::RescueWait, false),
    (S::Rescuing, E::Fail, S::RescueFailed, false),
    (S::RescueWait, E::Resume, S::Rescuing, false),
    (S::RescueWait, E::Fail, S::RescueFailed, false),
    (S::RescueWait, E::Abort, S::RescueFailed, true),
    (S::RescueWait, E::Delete, S::Deleting, true),
    (S::Rescue, E::Rescue, S::Rescuing, true),
    (S::Rescue, E::Unrescue, S::Unrescuing, true),
    (S::Rescue, E::Delete, S::Deleting, true),
    (S::RescueFailed, E::Rescue, S::Rescuing, true),
    (S::RescueFailed, E::Unrescue, S::Unrescuing, true),
    (S::RescueFailed, E::Delete, S::Deleting, true),
    (S::Unrescuing, E::Done, S::Active, false),
    (S::Unrescuing, E::Fail, S::UnrescueFailed, false),
    (S::UnrescueFailed, E::Rescue, S::Rescuing, true),
    (S::UnrescueFailed, E::Unrescue, S::Unrescuing, true),
    (S::UnrescueFailed, E::Delete, S::Deleting, true),
    (S::Servicing, E::Done, S::Active, false),
    (S::Servicing, E::Wait, S::ServiceWait, false),
    (S::Servicing, E::Hold, S::ServiceHold, false),
    (S::Servicing, E::Fail, S::ServiceFailed, false),
    (S::ServiceWait, E::Resume, S::Servicing, false),
    (S::ServiceWait, E::Hold, S::ServiceHold, false),
    (S::ServiceWait, E::Fail, S::ServiceFailed, false),
    (S::ServiceWait, E::Abort, S::ServiceFailed, true),
    (S::ServiceWait, E::Delete, S::Deleting, true),
    (S::ServiceHold, E::Service, S::Servicing, true),
    (S::ServiceHold, E::Unhold, S::ServiceWait, true),
    (S::ServiceHold, E::Fail, S::ServiceFailed, false),
    (S::ServiceHold, E::Abort, S::ServiceFailed, true),
    (S::ServiceFailed, E::Service, S::Servicing, true),
    (S::ServiceFailed, E::Rescue, S::Rescuing, true),
    (S::ServiceFailed, E::Wait, S::ServiceWait, false),
    (S::ServiceFailed, E::Hold, S::ServiceHold, false),
    (S::ServiceFailed, E::Delete, S::Deleting, true),
    (S::ServiceFailed, E::Abort, S::Active, true),
];

impl ProvisionState {
    /// Where `event` takes a node in this state, if the FSM allows it at all.
    pub fn next(self, event: Event) -> Option<ProvisionState> {
        TRANSITIONS
            .iter()
            .find(|(from, ev, _, _)| *from == self && *ev == event)
            .map(|(_, _, to, _)| *to)
    }

    /// Where an operator's `event` takes a node in this state, if the API
    /// may fire it from here.
    pub fn next_by_api(self, event: Event) -> Option<ProvisionState> {
        TRANSITIONS
            .iter()
            .find(|(from, ev, _, api)| *api && *from == self && *ev == event)
            .map(|(_, _, to, _)| *to)
    }

    /// Stable states are where a node rests with no operation in flight.
    pub fn is_stable(self) -> bool {
        matches!(
            self,
            S::Enroll | S::Manageable | S::Available | S::Active | S::Error | S::Rescue
        )
    }

    /// States in which the node waits for an outside callback (agent
    /// heartbeat or a timeout); they survive conductor restarts.
    pub fn is_wait(self) -> bool {
        matches!(
            self,
            S::DeployWait | S::CleanWait | S::InspectWait | S::RescueWait | S::ServiceWait
        )
    }

    /// States where a failed operation leaves a node.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            S::DeployFailed
                | S::CleanFailed
                | S::InspectFailed
                | S::RescueFailed
                | S::UnrescueFailed
                | S::AdoptFailed
                | S::ServiceFailed
        )
    }

    /// States whose work runs inside a conductor and cannot be resumed after
    /// that conductor dies (reference §3.1 STUCK_TREATED_AS_FAIL).
    pub fn is_in_progress(self) -> bool {
        matches!(
            self,
            S::Deploying
                | S::Cleaning
                | S::Verifying
                | S::Inspecting
                | S::Adopting
                | S::Rescuing
                | S::Unrescuing
                | S::Deleting
                | S::Servicing
        )
    }

    /// The implicit target of a non-stable state; `None` for stable states.
    /// Cleaning states return `available`; manual cleaning keeps its own
    /// target in the node's `target_provision_state`.
    pub fn implicit_target(self) -> Option<ProvisionState> {
        match self {
            S::Enroll | S::Manageable | S::Available | S::Active | S::Error | S::Rescue => None,
            S::Verifying | S::Inspecting | S::InspectWait | S::InspectFailed => Some(S::Manageable),
            S::Cleaning | S::CleanWait | S::CleanFailed | S::CleanHold | S::Deleting => {
                Some(S::Available)
            }
            S::Rescuing | S::RescueWait | S::RescueFailed => Some(S::Rescue),
            S::Deploying
            | S::DeployWait
            | S::DeployFailed
            | S::DeployHold
            | S::Adopting
            | S::AdoptFailed
            | S::Unrescuing
            | S::UnrescueFailed
            | S::Servicing
            | S::ServiceWait
            | S::ServiceFailed
            | S::ServiceHold => Some(S::Active),
        }
    }

    /// States from which a node may be deleted without maintenance mode.
    pub fn allows_delete(self) -> bool {
        matches!(
            self,
            S::Manageable | S::Enroll | S::AdoptFailed | S::Available
        )
    }

    /// States in which PATCH is allowed while a target is set (reference §2.3).
    pub fn allows_update_in_transition(self) -> bool {
        matches!(
            self,
            S::DeployFailed
                | S::Inspecting
                | S::InspectFailed
                | S::InspectWait
                | S::CleanFailed
                | S::Error
                | S::Verifying
                | S::AdoptFailed
                | S::RescueFailed
                | S::UnrescueFailed
                | S::ServiceHold
                | S::ServiceFailed
        )
    }

    /// Whether the periodic power sync leaves nodes in this state alone.
    pub fn skips_power_sync(self) -> bool {
        matches!(
            self,
            S::DeployWait | S::CleanWait | S::Enroll | S::AdoptFailed
        )
    }

    /// The state name as a client at `version` expects to read it:
    /// `available` was null before 1.2 and `inspect wait` read `inspecting`
    /// before 1.39.
    pub fn for_version(self, version: Version) -> Option<&'static str> {
        match self {
            S::Available if version < Version(1, 2) => None,
            S::InspectWait if version < Version(1, 39) => Some(S::Inspecting.as_str()),
            other => Some(other.as_str()),
        }
    }
}

string_enum! {
    /// The `target` values accepted by `PUT /v1/nodes/{node}/states/provision`.
    Verb {
        Active => "active",
        Deploy => "deploy",
        Rebuild => "rebuild",
        Deleted => "deleted",
        Undeploy => "undeploy",
        Manage => "manage",
        Provide => "provide",
        Inspect => "inspect",
        Clean => "clean",
        Adopt => "adopt",
        Abort => "abort",
        Rescue => "rescue",
        Unrescue => "unrescue",
        Unhold => "unhold",
        Service => "service",
    }
}

impl Verb {
    /// The FSM event this verb fires.
    pub fn event(self) -> Event {
        match self {
            Verb::Active | Verb::Deploy => E::Deploy,
            Verb::Rebuild => E::Rebuild,
            Verb::Deleted | Verb::Undeploy => E::Delete,
            Verb::Manage => E::Manage,
            Verb::Provide => E::Provide,
            Verb::Inspect => E::Inspect,
            Verb::Clean => E::Clean,
            Verb::Adopt => E::Adopt,
            Verb::Abort => E::Abort,
            Verb::Rescue => E::Rescue,
            Verb::Unrescue => E::Unrescue,
            Verb::Unhold => E::Unhold,
            Verb::Service => E::Service,
        }
    }

    /// The first microversion at which the verb exists (reference §3.3).
    pub fn min_version(self) -> Version {
        match self {
            Verb::Active | Verb::Rebuild | Verb::Deleted => Version(1, 1),
            Verb::Manage | Verb::Provide => Version(1, 4),
            Verb::Inspect => Version(1, 6),
            Verb::Abort => Version(1, 13),
            Verb::Clean => Version(1, 15),
            Verb::Adopt => Version(1, 17),
            Verb::Rescue | Verb::Unrescue => Version(1, 38),
            Verb::Deploy | Verb::Undeploy => Version(1, 73),
            Verb::Unhold => Version(1, 85),
            Verb::Service => Version(1, 87),
        }
    }

    /// Whether the verb may be applied to a node in `state` by a client at
    /// `version`. Some API edges arrived later than the verb itself.
    pub fn allowed_from(self, state: ProvisionState, version: Version) -> bool {
        if self == Verb::Abort {
            let gate = match state {
                S::InspectWait => Version(1, 41),
                S::DeployWait => Version(1, 110),
                _ => Version(1, 13),
            };
            if version < gate {
                return false;
            }
        }
        state.next_by_api(self.event()).is_some()
    }
}

#[cfg(test)]
mod tests;
