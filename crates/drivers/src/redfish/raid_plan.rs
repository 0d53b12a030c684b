//! Turning Ironic's `logical_disks` into Redfish volume requests, without
//! any I/O: which controller, which drives, which `RAIDType`, how many
//! bytes. Kept pure so every rule (minimum drives, disk type, "MAX" last,
//! the usable capacity of each level) is unit-tested without a BMC.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use crate::DriverError;

/// Bytes in one `size_gb` unit (Ironic's sizes are GiB).
pub const GIB: u64 = 1024 * 1024 * 1024;

/// A drive a controller can build volumes from.
#[derive(Debug, Clone, PartialEq)]
pub struct DriveInfo {
    /// Its resource path (what volume requests link to).
    pub path: String,
    /// Its `Id`.
    pub id: String,
    /// Its size.
    pub capacity_bytes: u64,
    /// `HDD` or `SSD`, when the BMC says.
    pub media_type: Option<String>,
    /// `SATA`, `SAS`, `NVMe`, …, when the BMC says.
    pub protocol: Option<String>,
}

/// A Storage subsystem with a RAID controller, as read from the BMC.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Controller {
    /// The Storage resource's path.
    pub path: String,
    /// The Storage resource's `Id`.
    pub id: String,
    /// Names of its `StorageControllers` (what operators call it).
    pub names: Vec<String>,
    /// Its `Volumes` collection.
    pub volumes_path: String,
    /// Its drives.
    pub drives: Vec<DriveInfo>,
    /// Paths of drives already in a volume.
    pub used: HashSet<String>,
    /// `SupportedRAIDTypes` of its controllers; empty when not reported.
    pub raid_types: Vec<String>,
}

impl Controller {
    /// Whether a logical disk's `controller` names this one: its Id, its
    /// path or one of its controllers' names.
    fn is_named(&self, name: &str) -> bool {
        self.id == name || self.path == name || self.names.iter().any(|n| n == name)
    }
}

/// One volume to create.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeRequest {
    /// Index into the controllers it was planned on.
    pub controller: usize,
    /// The body to POST to the controller's `Volumes` collection.
    pub body: Value,
    /// The logical disk as it will be recorded in `raid_config`.
    pub logical_disk: Map<String, Value>,
}

/// What an Ironic RAID level is on a Redfish controller.
struct Level {
    /// `RAIDType` (`None` for JBOD, sent as a raw device).
    raid_type: &'static str,
    /// The fewest drives it takes (Ironic's minimums).
    min: usize,
    /// How many drives' worth of space it keeps for data out of `n`
    /// drives of equal size.
    data_drives: fn(usize) -> usize,
}

/// The [`Level`] of an Ironic `raid_level`.
fn level(raid_level: &str) -> Result<Level, DriverError> {
    let (raid_type, min, data_drives): (_, _, fn(usize) -> usize) = match raid_level {
        "JBOD" => ("None", 1, |_| 1),
        "0" => ("RAID0", 2, |n| n),
        "1" => ("RAID1", 2, |_| 1),
        "5" => ("RAID5", 3, |n| n - 1),
        "6" => ("RAID6", 4, |n| n - 2),
        "1+0" => ("RAID10", 4, |n| n / 2),
        "5+0" => ("RAID50", 6, |n| n - 2),
        "6+0" => ("RAID60", 8, |n| n - 4),
        other => {
            return Err(DriverError::Unsupported(format!(
                "RAID level {other} cannot be built through Redfish (it has no RAIDType for it)."
            )));
        }
    };
    Ok(Level {
        raid_type,
        min,
        data_drives,
    })
}

fn matches_hints(drive: &DriveInfo, disk: &Map<String, Value>) -> bool {
    let eq = |key: &str, actual: &Option<String>| match disk.get(key).and_then(Value::as_str) {
        Some(want) => actual
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(want)),
        None => true,
    };
    eq("disk_type", &drive.media_type) && eq("interface_type", &drive.protocol)
}

fn failed(n: usize, message: String) -> DriverError {
    DriverError::Failed(format!("Cannot create logical disk {n}: {message}"))
}

/// The drives of `ctl` a logical disk gets: the ones it names in
/// `physical_disks` (by Id or path), else the smallest free drives that
/// match its `disk_type`/`interface_type`, as many as
/// `number_of_physical_disks` or the level's minimum.
fn pick_drives(
    n: usize,
    ctl: &Controller,
    taken: &HashSet<String>,
    disk: &Map<String, Value>,
    min: usize,
) -> Result<Vec<DriveInfo>, DriverError> {
    let free = |d: &&DriveInfo| !ctl.used.contains(&d.path) && !taken.contains(&d.path);
    if let Some(names) = disk.get("physical_disks").and_then(Value::as_array) {
        let mut out = Vec::new();
        for name in names {
            let name = name.as_str().unwrap_or_default();
            let drive = ctl
                .drives
                .iter()
                .find(|d| d.id == name || d.path == name)
                .ok_or_else(|| {
                    failed(n, format!("controller {} has no drive {name:?}.", ctl.id))
                })?;
            if !free(&drive) {
                return Err(failed(n, format!("drive {name} is already in use.")));
            }
            out.push(drive.clone());
        }
        return Ok(out);
    }
    let want = disk
        .get("number_of_physical_disks")
        .and_then(Value::as_u64)
        .map_or(min, |v| v as usize);
    let mut candidates: Vec<&DriveInfo> = ctl
        .drives
        .iter()
        .filter(free)
        .filter(|d| matches_hints(d, disk))
        .collect();
    candidates.sort_by_key(|d| (d.capacity_bytes, d.id.clone()));
    if candidates.len() < want {
        return Err(failed(
            n,
            format!(
                "it needs {want} free drives matching it on controller {}, which has {}.",
                ctl.id,
                candidates.len()
            ),
        ));
    }
    Ok(candidates.into_iter().take(want).cloned().collect())
}

/// Plans one logical disk on the first controller that can hold it (or
/// the one it names).
fn plan_one(
    n: usize,
    controllers: &[Controller],
    taken: &mut HashSet<String>,
    disk: &Map<String, Value>,
) -> Result<VolumeRequest, DriverError> {
    let raid_level = disk
        .get("raid_level")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Level {
        raid_type,
        min,
        data_drives,
    } = level(raid_level)?;
    let wanted = disk.get("controller").and_then(Value::as_str);
    let mut last_error = failed(
        n,
        match wanted {
            Some(w) => format!("the BMC has no RAID controller named {w:?}."),
            None => "the BMC reports no RAID controller.".to_string(),
        },
    );
    for (index, ctl) in controllers.iter().enumerate() {
        if wanted.is_some_and(|w| !ctl.is_named(w)) {
            continue;
        }
        let supported = ctl.raid_types.is_empty()
            || raid_type == "None"
            || ctl.raid_types.iter().any(|t| t == raid_type);
        if !supported {
            last_error = failed(
                n,
                format!(
                    "controller {} does not support {raid_type} (it supports {}).",
                    ctl.id,
                    ctl.raid_types.join(", ")
                ),
            );
            continue;
        }
        let drives = match pick_drives(n, ctl, taken, disk, min) {
            Ok(d) if d.len() < min => {
                return Err(failed(
                    n,
                    format!(
                        "RAID {raid_level} needs at least {min} drives, {} given.",
                        d.len()
                    ),
                ));
            }
            Ok(d) => d,
            Err(e) => {
                last_error = e;
                continue;
            }
        };
        let smallest = drives.iter().map(|d| d.capacity_bytes).min().unwrap_or(0);
        let usable = smallest.saturating_mul(data_drives(drives.len()) as u64);
        let capacity = match disk.get("size_gb") {
            Some(Value::String(s)) if s == "MAX" => None,
            Some(v) => {
                let bytes = v.as_u64().unwrap_or(0).saturating_mul(GIB);
                if bytes > usable {
                    return Err(failed(
                        n,
                        format!(
                            "{} GiB do not fit on RAID {raid_level} over {} drives \
                             ({} GiB usable).",
                            bytes / GIB,
                            drives.len(),
                            usable / GIB
                        ),
                    ));
                }
                Some(bytes)
            }
            None => None,
        };
        let links: Vec<Value> = drives
            .iter()
            .map(|d| json!({"@odata.id": d.path}))
            .collect();
        let mut body = json!({"Links": {"Drives": links}});
        if raid_type == "None" {
            body["VolumeType"] = json!("RawDevice");
        } else {
            body["RAIDType"] = json!(raid_type);
        }
        if let Some(bytes) = capacity {
            body["CapacityBytes"] = json!(bytes);
        }
        if let Some(name) = disk.get("volume_name") {
            body["Name"] = name.clone();
        }
        let mut logical_disk = disk.clone();
        logical_disk.insert("controller".into(), json!(ctl.path));
        logical_disk.insert(
            "physical_disks".into(),
            json!(drives.iter().map(|d| d.id.clone()).collect::<Vec<_>>()),
        );
        taken.extend(drives.into_iter().map(|d| d.path));
        return Ok(VolumeRequest {
            controller: index,
            body,
            logical_disk,
        });
    }
    Err(last_error)
}

/// Plans the logical disks of `config` (already validated) that the
/// flags select: the root volume first, then sized disks, then the
/// "MAX" ones (which take what is left), as Ironic orders them.
pub fn plan(
    controllers: &[Controller],
    config: &Map<String, Value>,
    create_root: bool,
    create_nonroot: bool,
) -> Result<Vec<VolumeRequest>, DriverError> {
    let disks = config
        .get("logical_disks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut selected: Vec<(usize, Map<String, Value>)> = disks
        .into_iter()
        .enumerate()
        .filter_map(|(n, d)| d.as_object().cloned().map(|d| (n, d)))
        .filter(|(_, d)| {
            let root = d.get("is_root_volume") == Some(&Value::Bool(true));
            if root { create_root } else { create_nonroot }
        })
        .collect();
    selected.sort_by_key(|(n, d)| {
        let root = d.get("is_root_volume") == Some(&Value::Bool(true));
        let max = d.get("size_gb").and_then(Value::as_str) == Some("MAX");
        (!root, max, *n)
    });
    let mut taken = HashSet::new();
    selected
        .iter()
        .map(|(n, d)| plan_one(*n, controllers, &mut taken, d))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drive(id: &str, gb: u64, media: &str) -> DriveInfo {
        DriveInfo {
            path: format!("/s/1/Drives/{id}"),
            id: id.to_string(),
            capacity_bytes: gb * GIB,
            media_type: Some(media.to_string()),
            protocol: Some("SATA".to_string()),
        }
    }

    fn controller() -> Controller {
        Controller {
            path: "/s/1".into(),
            id: "1".into(),
            names: vec!["RAID Controller".into()],
            volumes_path: "/s/1/Volumes".into(),
            drives: vec![
                drive("d0", 100, "SSD"),
                drive("d1", 100, "SSD"),
                drive("d2", 400, "HDD"),
                drive("d3", 400, "HDD"),
                drive("d4", 400, "HDD"),
            ],
            used: HashSet::new(),
            raid_types: vec!["RAID0".into(), "RAID1".into(), "RAID5".into()],
        }
    }

    fn config(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn drives_of(r: &VolumeRequest) -> Vec<String> {
        r.logical_disk["physical_disks"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn root_first_max_last_and_drives_never_shared() {
        let cfg = config(json!({"logical_disks": [
            {"size_gb": "MAX", "raid_level": "5"},
            {"size_gb": 50, "raid_level": "1", "is_root_volume": true, "volume_name": "root"},
        ]}));
        let Ok(plan) = plan(&[controller()], &cfg, true, true) else {
            panic!("plan failed")
        };
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].body["RAIDType"], "RAID1");
        assert_eq!(plan[0].body["CapacityBytes"], json!(50 * GIB));
        assert_eq!(plan[0].body["Name"], "root");
        assert_eq!(drives_of(&plan[0]), ["d0", "d1"]);
        assert_eq!(plan[1].body["RAIDType"], "RAID5");
        assert!(plan[1].body.get("CapacityBytes").is_none());
        assert_eq!(drives_of(&plan[1]), ["d2", "d3", "d4"]);
        assert_eq!(plan[1].logical_disk["controller"], "/s/1");
        let Ok(only_root) = super::plan(&[controller()], &cfg, true, false) else {
            panic!("plan failed")
        };
        assert_eq!(only_root.len(), 1);
    }

    #[test]
    fn hints_and_named_drives_choose() {
        let cfg = config(json!({"logical_disks": [
            {"size_gb": 100, "raid_level": "0", "disk_type": "hdd"},
            {"size_gb": 10, "raid_level": "1", "physical_disks": ["d0", "/s/1/Drives/d1"],
             "controller": "RAID Controller"},
        ]}));
        let Ok(plan) = plan(&[controller()], &cfg, true, true) else {
            panic!("plan failed")
        };
        assert_eq!(drives_of(&plan[0]), ["d2", "d3"]);
        assert_eq!(drives_of(&plan[1]), ["d0", "d1"]);
    }

    #[test]
    fn refusals_say_why() {
        let err = |v: Value, ctl: Controller| match plan(&[ctl], &config(v), true, true) {
            Err(e) => e.to_string(),
            Ok(p) => panic!("planned {p:?}"),
        };
        let too_big =
            json!({"logical_disks": [{"size_gb": 101, "raid_level": "1", "disk_type": "ssd"}]});
        assert!(err(too_big, controller()).contains("100 GiB usable"));
        let six = json!({"logical_disks": [{"size_gb": 1, "raid_level": "6"}]});
        assert!(err(six, controller()).contains("does not support RAID6"));
        let two = json!({"logical_disks": [{"size_gb": 1, "raid_level": "2"}]});
        assert!(err(two, controller()).contains("no RAIDType"));
        let mut busy = controller();
        busy.used.insert("/s/1/Drives/d0".into());
        let named = json!({"logical_disks": [{"size_gb": 1, "raid_level": "1",
            "physical_disks": ["d0", "d1"]}]});
        assert!(err(named, busy).contains("already in use"));
        let short = json!({"logical_disks": [{"size_gb": 1, "raid_level": "1",
            "physical_disks": ["d0"]}]});
        assert!(err(short, controller()).contains("at least 2"));
        let nowhere = json!({"logical_disks": [{"size_gb": 1, "raid_level": "1",
            "controller": "other"}]});
        assert!(err(nowhere, controller()).contains("no RAID controller named"));
        let hdd5 = json!({"logical_disks": [{"size_gb": 1, "raid_level": "5",
            "disk_type": "ssd"}]});
        assert!(err(hdd5, controller()).contains("needs 3 free drives"));
    }

    #[test]
    fn jbod_is_a_raw_device() {
        let cfg = config(json!({"logical_disks": [{"size_gb": "MAX", "raid_level": "JBOD"}]}));
        let Ok(plan) = plan(&[controller()], &cfg, true, true) else {
            panic!("plan failed")
        };
        assert_eq!(plan[0].body["VolumeType"], "RawDevice");
        assert_eq!(drives_of(&plan[0]), ["d0"]);
    }
}
