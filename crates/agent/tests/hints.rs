//! Root device hints: Ironic's operators and defaults, unit- and
//! property-tested.

use ferrite_agent::hints::{MIN_DEFAULT_DISK_BYTES, matching, select};
use ferrite_model::inventory::Disk;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const GIB: u64 = 1 << 30;

fn disk(name: &str, gib: u64, hdd: bool, serial: &str) -> Disk {
    Disk {
        name: format!("/dev/{name}"),
        size_bytes: gib * GIB,
        media_type: Some(if hdd { "HDD" } else { "SSD" }.into()),
        model: Some(format!("Model {name}")),
        vendor: Some("ATA".into()),
        serial: Some(serial.into()),
        wwn: Some(format!("0x5000{serial}")),
        hctl: Some(format!("0:0:{}:0", name.len())),
        by_path: Some(format!("/dev/disk/by-path/pci-{name}")),
        ..Disk::default()
    }
}

fn hints(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn fleet() -> Vec<Disk> {
    vec![
        disk("sda", 2, true, "A"),
        disk("sdb", 100, true, "B"),
        disk("sdc", 10, false, "C"),
        disk("nvme0n1", 500, false, "D"),
    ]
}

fn pick(h: Value) -> Result<String, String> {
    let disks = fleet();
    select(&disks, &hints(h))
        .map(|d| d.name.clone())
        .map_err(|e| e.to_string())
}

#[test]
fn without_hints_the_smallest_disk_of_4_gib_wins() {
    assert_eq!(pick(json!({})).unwrap(), "/dev/sdc");
    let tiny = vec![disk("sda", 3, true, "A")];
    assert!(
        select(&tiny, &Map::new())
            .unwrap_err()
            .to_string()
            .contains("4 GiB")
    );
}

#[test]
fn size_operators() {
    assert_eq!(pick(json!({"size": 100})).unwrap(), "/dev/sdb");
    assert_eq!(pick(json!({"size": "100"})).unwrap(), "/dev/sdb");
    assert_eq!(pick(json!({"size": ">= 101"})).unwrap(), "/dev/nvme0n1");
    assert_eq!(pick(json!({"size": "> 2"})).unwrap(), "/dev/sdb");
    assert_eq!(pick(json!({"size": "<= 2"})).unwrap(), "/dev/sda");
    assert_eq!(pick(json!({"size": "< 10"})).unwrap(), "/dev/sda");
    assert_eq!(pick(json!({"size": "!= 2"})).unwrap(), "/dev/sdb");
    assert_eq!(
        pick(json!({"size": "<or> 500 <or> 10"})).unwrap(),
        "/dev/sdc"
    );
    assert!(
        pick(json!({"size": 7}))
            .unwrap_err()
            .contains("no disk matches")
    );
    assert!(
        pick(json!({"size": ">= lots"}))
            .unwrap_err()
            .contains("invalid value")
    );
}

#[test]
fn string_operators_and_name_normalisation() {
    assert_eq!(pick(json!({"name": "sdc"})).unwrap(), "/dev/sdc");
    assert_eq!(pick(json!({"name": "/dev/sdc"})).unwrap(), "/dev/sdc");
    assert_eq!(pick(json!({"name": "s== /dev/sdb"})).unwrap(), "/dev/sdb");
    assert_eq!(pick(json!({"serial": "D"})).unwrap(), "/dev/nvme0n1");
    assert_eq!(pick(json!({"serial": "s!= A"})).unwrap(), "/dev/sdb");
    assert_eq!(pick(json!({"model": "<in> nvme"})).unwrap(), "/dev/nvme0n1");
    assert_eq!(
        pick(json!({"serial": "<or> X <or> C"})).unwrap(),
        "/dev/sdc"
    );
    assert_eq!(pick(json!({"serial": "s>= C"})).unwrap(), "/dev/sdc");
    assert_eq!(pick(json!({"serial": "s< B"})).unwrap(), "/dev/sda");
    assert_eq!(pick(json!({"wwn": "0x5000B"})).unwrap(), "/dev/sdb");
    assert_eq!(
        pick(json!({"vendor": "ATA", "size": 500})).unwrap(),
        "/dev/nvme0n1"
    );
    assert_eq!(pick(json!({"hctl": "0:0:7:0"})).unwrap(), "/dev/nvme0n1");
    assert_eq!(
        pick(json!({"by_path": "/dev/disk/by-path/pci-sdb"})).unwrap(),
        "/dev/sdb"
    );
    // Case matters, as Ironic compares strings exactly.
    assert!(pick(json!({"vendor": "ata"})).is_err());
    // A hint no disk has a value for matches nothing.
    assert!(pick(json!({"wwn_with_extension": "x"})).is_err());
}

#[test]
fn rotational_is_a_boolean() {
    assert_eq!(pick(json!({"rotational": false})).unwrap(), "/dev/sdc");
    assert_eq!(pick(json!({"rotational": "true"})).unwrap(), "/dev/sda");
    assert_eq!(
        pick(json!({"rotational": "off", "size": ">= 11"})).unwrap(),
        "/dev/nvme0n1"
    );
    assert!(
        pick(json!({"rotational": "maybe"}))
            .unwrap_err()
            .contains("invalid value")
    );
}

#[test]
fn unknown_hints_are_refused_not_ignored() {
    let err = pick(json!({"sise": 100})).unwrap_err();
    assert!(err.contains("unknown root device hint sise"), "{err}");
}

fn arb_disks() -> impl Strategy<Value = Vec<Disk>> {
    prop::collection::vec((1u64..64, any::<bool>(), 0u8..4), 1..6).prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (gib, hdd, s))| {
                disk(
                    &format!("sd{}", (b'a' + i as u8) as char),
                    gib,
                    hdd,
                    &s.to_string(),
                )
            })
            .collect()
    })
}

proptest! {
    /// Whatever is chosen satisfies every hint, and it is the first such
    /// disk; when nothing is chosen, no disk satisfies them.
    #[test]
    fn the_choice_satisfies_the_hints(disks in arb_disks(), min in 0u64..70, serial in 0u8..5, hdd in any::<bool>()) {
        let h = hints(json!({"size": format!(">= {min}"), "serial": serial.to_string(), "rotational": hdd}));
        let ok = |d: &Disk| d.size_bytes / GIB >= min
            && d.serial.as_deref() == Some(serial.to_string().as_str())
            && (d.media_type.as_deref() == Some("HDD")) == hdd;
        match select(&disks, &h) {
            Ok(d) => {
                prop_assert!(ok(d));
                prop_assert_eq!(Some(d), disks.iter().find(|d| ok(d)));
            }
            Err(_) => prop_assert!(!disks.iter().any(ok)),
        }
        prop_assert_eq!(matching(&disks, &h).unwrap().len(), disks.iter().filter(|d| ok(d)).count());
    }

    /// Without hints the pick is the smallest disk of at least 4 GiB.
    #[test]
    fn default_is_the_smallest_big_enough(disks in arb_disks()) {
        let smallest = disks.iter().filter(|d| d.size_bytes >= MIN_DEFAULT_DISK_BYTES).map(|d| d.size_bytes).min();
        match select(&disks, &Map::new()) {
            Ok(d) => prop_assert_eq!(Some(d.size_bytes), smallest),
            Err(_) => prop_assert_eq!(smallest, None),
        }
    }

    /// `name` with or without /dev/ names the same disk.
    #[test]
    fn name_prefix_is_optional(disks in arb_disks(), i in 0usize..6) {
        let i = i % disks.len();
        let bare = disks[i].name.trim_start_matches("/dev/").to_string();
        let a = select(&disks, &hints(json!({"name": bare}))).unwrap();
        let b = select(&disks, &hints(json!({"name": disks[i].name.clone()}))).unwrap();
        prop_assert_eq!(a, b);
        prop_assert_eq!(a, &disks[i]);
    }
}
