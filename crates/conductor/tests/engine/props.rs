//! Property: whatever sequence of requests arrives, every node ends each
//! one unlocked, with no pending work and never stuck in a state whose
//! work runs inside a conductor.

use ferrite_model::{PowerTarget, ProvisionArgs, ProvisionState as S, Verb};
use proptest::prelude::*;
use serde_json::json;

use crate::common::*;

#[derive(Debug, Clone)]
enum Op {
    Provision(Verb, ProvisionArgs),
    Power(PowerTarget),
}

fn args() -> impl Strategy<Value = ProvisionArgs> {
    let clean = prop::sample::select(vec![
        json!([{"interface": "power", "step": "power_on"}]),
        json!([{"interface": "deploy", "step": "hold"}, {"interface": "power", "step": "reboot"}]),
        json!([{"interface": "deploy", "step": "wait", "args": {"seconds": 0.05}}]),
        json!([{"interface": "deploy", "step": "wait"}]),
        json!([{"interface": "raid", "step": "create_configuration"}]),
        json!([{"interface": "bios", "step": "nope"}]),
    ]);
    let deploy = prop::sample::select(vec![
        json!([]),
        json!([{"interface": "deploy", "step": "hold", "priority": 90}]),
        json!([{"interface": "deploy", "step": "wait", "priority": 10, "args": {"seconds": 0.05}}]),
        json!([{"interface": "deploy", "step": "boot_instance", "priority": 0}]),
    ]);
    (
        prop::option::of(clean),
        prop::option::of(deploy),
        prop::option::of(prop::sample::select(vec!["pw", ""])),
        any::<bool>(),
    )
        .prop_map(|(clean, deploy, password, service)| ProvisionArgs {
            service_steps: if service {
                clean.as_ref().and_then(|c| c.as_array().cloned())
            } else {
                None
            },
            clean_steps: clean.and_then(|c| c.as_array().cloned()),
            deploy_steps: deploy.and_then(|d| d.as_array().cloned()),
            rescue_password: password.map(str::to_string),
            ..ProvisionArgs::default()
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (prop::sample::select(Verb::ALL.to_vec()), args()).prop_map(|(v, a)| Op::Provision(v, a)),
        1 => prop::sample::select(PowerTarget::ALL.to_vec()).prop_map(Op::Power),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_requests_never_leave_a_node_locked_or_stuck(ops in prop::collection::vec(op(), 1..30)) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let site = site().await;
            let s = &site.store;
            let c = start(s, config()).await;
            let uuid = add_node(s, S::Enroll).await;
            for op in ops {
                match op {
                    Op::Provision(verb, args) => {
                        let _ = provision(s, &c, uuid, verb, args).await;
                    }
                    Op::Power(target) => {
                        if get(s, uuid).await.intent.is_none() {
                            power(s, &c, uuid, target).await;
                        }
                    }
                }
                let n = settle(s, uuid).await;
                assert!(!n.provision_state.is_in_progress(), "stuck in {}", n.provision_state);
                assert_eq!(n.target_power_state, None);
                assert!(S::ALL.contains(&n.provision_state));
                if n.provision_state.is_stable() {
                    assert_eq!(n.target_provision_state, None, "stable {} with a target", n.provision_state);
                }
            }
            c.shutdown().await;
            let n = get(s, uuid).await;
            assert_eq!(n.reservation, None);
        });
    }
}
