//! Deterministic, computed-on-demand hardware inventory.
//!
//! Nothing here is stored per system: identities, MACs and hardware are
//! pure functions of `(seed, index)`. That keeps 10,000 systems cheap and
//! makes a fleet reproducible from its seed alone, so a test can predict
//! the MAC of system 42 without asking the simulator.

/// Mixes a 64-bit value into a well-distributed one (SplitMix64 finaliser).
/// Used wherever a deterministic "random" choice is needed without state.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Maps a hash to `[0, 1)` with 53 bits of precision.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Prefix of every system `Id`; the decimal index follows, zero-padded to
/// five digits (`sys-00000`), so ids stay stable when the fleet grows.
pub const ID_PREFIX: &str = "sys-";

/// One disk as the Storage and SimpleStorage resources describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drive {
    /// Redfish `Id` within its storage subsystem.
    pub id: String,
    /// Size in bytes.
    pub capacity_bytes: u64,
    /// `HDD` or `SSD`.
    pub media_type: &'static str,
    /// `SATA`, `SAS` or `NVMe`.
    pub protocol: &'static str,
    /// Drive model string.
    pub model: &'static str,
    /// Drive serial number.
    pub serial: String,
}

/// Static hardware facts of one simulated server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardware {
    /// ComputerSystem `Model`.
    pub model: &'static str,
    /// ComputerSystem `SerialNumber`.
    pub serial: String,
    /// ComputerSystem `SKU`.
    pub sku: String,
    /// `BiosVersion`.
    pub bios_version: &'static str,
    /// Processor model string.
    pub cpu_model: &'static str,
    /// Number of processor sockets (Processors collection members).
    pub sockets: u32,
    /// Cores per socket.
    pub cores_per_socket: u32,
    /// Threads per core.
    pub threads_per_core: u32,
    /// Total memory in GiB.
    pub memory_gib: u32,
    /// Number of DIMMs (Memory collection members).
    pub dimms: u32,
    /// Disks behind the storage controller.
    pub drives: Vec<Drive>,
}

impl Hardware {
    /// Total logical processors, as `ProcessorSummary.LogicalProcessorCount`.
    pub fn logical_processors(&self) -> u32 {
        self.sockets * self.cores_per_socket * self.threads_per_core
    }
}

const MODELS: [&str; 4] = [
    "SimServer R640",
    "SimServer R740",
    "SimServer X11",
    "SimServer G10",
];
const CPUS: [&str; 3] = [
    "Simulated Xeon Gold 6338 CPU @ 2.00GHz",
    "Simulated EPYC 7543 32-Core Processor",
    "Simulated Xeon Silver 4314 CPU @ 2.40GHz",
];
const BIOS_VERSIONS: [&str; 3] = ["2.14.2", "2.17.1", "1.9.3"];

/// Derives identities and hardware for a fleet from its seed.
#[derive(Debug, Clone)]
pub struct Inventory {
    seed: u64,
    count: usize,
    nics: u8,
    uuid_prefix: String,
    mac_offset: u32,
}

impl Inventory {
    /// A fleet of `count` systems with `nics` NICs each.
    pub fn new(seed: u64, count: usize, nics: u8) -> Inventory {
        let a = mix(seed ^ 0xB3C5_1A00);
        let b = mix(a);
        let uuid_prefix = format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-",
            a as u32,
            (a >> 32) as u16,
            (a >> 48) as u16 & 0xfff,
            0x8000 | (b as u16 & 0x3fff),
        );
        Inventory {
            seed,
            count,
            nics,
            uuid_prefix,
            mac_offset: (b >> 32) as u32 & 0xff_ffff,
        }
    }

    /// Number of systems.
    pub fn count(&self) -> usize {
        self.count
    }

    /// NICs per system.
    pub fn nics(&self) -> u8 {
        self.nics
    }

    /// The Redfish `Id` of system `index` (also its manager's and chassis').
    pub fn system_id(&self, index: usize) -> String {
        format!("{ID_PREFIX}{index:05}")
    }

    /// The system's `UUID`: seed-derived prefix, index in the last group,
    /// so it is unique, stable and reversible.
    pub fn uuid(&self, index: usize) -> String {
        format!("{}{:012x}", self.uuid_prefix, index)
    }

    /// The `UUID` of the system's manager (BMC): same scheme, top bit of
    /// the last group set, so it never collides with a system UUID.
    pub fn manager_uuid(&self, index: usize) -> String {
        format!(
            "{}{:012x}",
            self.uuid_prefix,
            index as u64 | 0x8000_0000_0000
        )
    }

    /// Finds a system by `Id` (`sys-00042`) or by UUID, as sushy-tools
    /// accepts both.
    pub fn resolve(&self, key: &str) -> Option<usize> {
        let index = if let Some(digits) = key.strip_prefix(ID_PREFIX) {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse::<usize>().ok()?
        } else {
            let lower = key.to_ascii_lowercase();
            let tail = lower.strip_prefix(&self.uuid_prefix)?;
            if tail.len() != 12 {
                return None;
            }
            usize::from_str_radix(tail, 16).ok()?
        };
        (index < self.count).then_some(index)
    }

    /// MAC address of NIC `nic` of system `index`, in QEMU's 52:54:00 range.
    /// Unique across the fleet because `index * nics + nic` is below 2^24
    /// (checked by [`crate::Config::validate`]) and the offset is a bijection.
    pub fn mac(&self, index: usize, nic: u8) -> String {
        let n = (index as u64 * u64::from(self.nics) + u64::from(nic)) as u32;
        let v = n.wrapping_add(self.mac_offset) & 0xff_ffff;
        format!(
            "52:54:00:{:02x}:{:02x}:{:02x}",
            (v >> 16) & 0xff,
            (v >> 8) & 0xff,
            v & 0xff
        )
    }

    /// Hash of `(seed, index, salt)` for per-system deterministic choices.
    pub(crate) fn hash(&self, index: usize, salt: u64) -> u64 {
        mix(self.seed ^ mix(index as u64 ^ salt.rotate_left(32)))
    }

    /// The hardware of system `index`.
    pub fn hardware(&self, index: usize) -> Hardware {
        let h = self.hash(index, 1);
        let pick = |shift: u32, n: usize| ((h >> shift) as usize) % n;
        let sockets = 1 + pick(0, 2) as u32;
        let cores_per_socket = [8, 16, 24, 32][pick(4, 4)];
        let memory_gib = [64, 128, 256, 512][pick(8, 4)] * sockets;
        let dimm_gib = 32;
        let drive_count = 2 + pick(12, 3);
        let nvme = pick(16, 2) == 0;
        let drives = (0..drive_count)
            .map(|d| {
                let size_gb = if nvme {
                    [960u64, 1920][pick(20, 2)]
                } else {
                    [480, 2000, 4000][pick(24, 3)]
                };
                Drive {
                    id: format!("Disk.{d}"),
                    capacity_bytes: size_gb * 1_000_000_000,
                    media_type: if nvme {
                        "SSD"
                    } else if size_gb > 480 {
                        "HDD"
                    } else {
                        "SSD"
                    },
                    protocol: if nvme { "NVMe" } else { "SATA" },
                    model: if nvme { "SimNVMe 7450" } else { "SimDisk 12G" },
                    serial: format!("SD{:08X}{d}", h as u32 ^ index as u32),
                }
            })
            .collect();
        Hardware {
            model: MODELS[pick(28, MODELS.len())],
            serial: format!("SIM{:07}", index),
            sku: format!("SKU-{:06X}", (h >> 40) as u32 & 0xff_ffff),
            bios_version: BIOS_VERSIONS[pick(32, BIOS_VERSIONS.len())],
            cpu_model: CPUS[pick(36, CPUS.len())],
            sockets,
            cores_per_socket,
            threads_per_core: 2,
            memory_gib,
            dimms: memory_gib / dimm_gib,
            drives,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_and_uuids_resolve_back() {
        let inv = Inventory::new(7, 1000, 2);
        for i in [0, 1, 42, 999] {
            assert_eq!(inv.resolve(&inv.system_id(i)), Some(i));
            assert_eq!(inv.resolve(&inv.uuid(i)), Some(i));
            assert_eq!(inv.resolve(&inv.uuid(i).to_uppercase()), Some(i));
        }
        assert_eq!(inv.resolve("sys-01000"), None);
        assert_eq!(inv.resolve("sys-"), None);
        assert_eq!(inv.resolve("sys-+1"), None);
        assert_eq!(inv.resolve("nope"), None);
        let other = Inventory::new(8, 1000, 2);
        assert_eq!(other.resolve(&inv.uuid(3)), None);
    }

    #[test]
    fn macs_are_unique_and_in_qemu_range() {
        let inv = Inventory::new(99, 20_000, 4);
        let mut seen = HashSet::new();
        for i in 0..inv.count() {
            for n in 0..inv.nics() {
                let mac = inv.mac(i, n);
                assert!(mac.starts_with("52:54:00:"), "{mac}");
                assert!(seen.insert(mac));
            }
        }
    }

    #[test]
    fn deterministic_per_seed() {
        let a = Inventory::new(1, 10, 2);
        let b = Inventory::new(1, 10, 2);
        let c = Inventory::new(2, 10, 2);
        assert_eq!(a.hardware(5), b.hardware(5));
        assert_eq!(a.uuid(5), b.uuid(5));
        assert_ne!(a.uuid(5), c.uuid(5));
        assert_ne!(a.mac(5, 0), c.mac(5, 0));
        let hw = a.hardware(5);
        assert!(hw.drives.len() >= 2);
        assert_eq!(hw.dimms * 32, hw.memory_gib);
    }
}
