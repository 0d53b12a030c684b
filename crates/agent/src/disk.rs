//! Raw disk work: wiping metadata, overwriting whole disks and reading
//! partition tables. Disks are plain files here (a block device opens
//! like one), which is also how tests run them against file-backed disks.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::AgentError;

/// How much is zeroed at each end of a disk by a metadata wipe: covers
/// the MBR, both GPT copies, md/LVM superblocks and filesystem magic.
pub const METADATA_SPAN: u64 = 1 << 20;

/// The write size of a full overwrite.
const CHUNK: usize = 1 << 20;

fn open_rw(path: &Path) -> Result<File, AgentError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| AgentError::io(format!("opening {}", path.display()), e))
}

/// The size of an open disk, by seeking to its end (works for block
/// devices, whose metadata length is 0, and files alike).
fn size_of(file: &mut File, path: &Path) -> Result<u64, AgentError> {
    file.seek(SeekFrom::End(0))
        .map_err(|e| AgentError::io(format!("sizing {}", path.display()), e))
}

fn write_at(file: &mut File, path: &Path, offset: u64, data: &[u8]) -> Result<(), AgentError> {
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.write_all(data))
        .map_err(|e| AgentError::io(format!("writing {} at {offset}", path.display()), e))
}

fn flush(file: &File, path: &Path) -> Result<(), AgentError> {
    file.sync_all()
        .map_err(|e| AgentError::io(format!("flushing {}", path.display()), e))
}

/// Zeroes the first and last [`METADATA_SPAN`] of a disk, so no partition
/// table, RAID or filesystem signature survives (Ironic's
/// `erase_devices_metadata`). Returns the disk's size.
pub fn erase_metadata(path: &Path) -> Result<u64, AgentError> {
    let mut file = open_rw(path)?;
    let size = size_of(&mut file, path)?;
    let head = size.min(METADATA_SPAN);
    let zeros = vec![0u8; head as usize];
    write_at(&mut file, path, 0, &zeros)?;
    let tail_start = size.saturating_sub(METADATA_SPAN).max(head);
    write_at(
        &mut file,
        path,
        tail_start,
        &zeros[..(size - tail_start) as usize],
    )?;
    flush(&file, path)?;
    Ok(size)
}

/// A fast, non-cryptographic generator for overwrite passes: the point is
/// that old data is gone, not that the pattern is unpredictable.
struct XorShift(u64);

impl XorShift {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let bytes = self.0.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// Overwrites a whole disk: `random_passes` passes of a pseudo-random
/// pattern, then one of zeros when `zeroize` (Ironic's
/// `agent_erase_devices_iterations` / `agent_erase_devices_zeroize`).
/// Returns the bytes written.
pub fn overwrite(path: &Path, random_passes: u32, zeroize: bool) -> Result<u64, AgentError> {
    if random_passes == 0 && !zeroize {
        return Err(AgentError::InvalidParams(
            "erase_devices with no random pass and no zero pass would erase nothing".into(),
        ));
    }
    let mut file = open_rw(path)?;
    let size = size_of(&mut file, path)?;
    let mut buf = vec![0u8; CHUNK];
    let mut rng = XorShift(crate::entropy::u64() | 1);
    let mut written = 0;
    for pass in 0..random_passes + u32::from(zeroize) {
        let random = pass < random_passes;
        if !random {
            buf.fill(0);
        }
        let mut offset = 0;
        while offset < size {
            let n = (size - offset).min(CHUNK as u64) as usize;
            if random {
                rng.fill(&mut buf[..n]);
            }
            write_at(&mut file, path, offset, &buf[..n])?;
            offset += n as u64;
        }
        flush(&file, path)?;
        written += size;
    }
    Ok(written)
}

/// The EFI System Partition's GPT type GUID.
const ESP_TYPE: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";

/// What `standby.get_partition_uuids` reports about a written disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The disk identifier: the GPT disk GUID or the MBR signature
    /// (`0x1234abcd`); Ironic stores it as the whole-disk image's root id.
    pub disk_id: Option<String>,
    /// The unique GUID of the EFI System Partition (GPT), if there is one.
    pub esp_uuid: Option<String>,
    /// `gpt`, `msdos` or `None` for a blank disk.
    pub table: Option<&'static str>,
}

/// A mixed-endian GPT GUID as text.
fn guid(b: &[u8]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads the partition table of a disk with 512-byte logical sectors.
pub fn partitions(path: &Path) -> Result<PartitionInfo, AgentError> {
    let mut file =
        File::open(path).map_err(|e| AgentError::io(format!("opening {}", path.display()), e))?;
    let mut head = vec![0u8; 1024];
    file.read_exact(&mut head)
        .map_err(|e| AgentError::io(format!("reading {}", path.display()), e))?;
    if &head[510..512] != b"\x55\xaa" {
        return Ok(PartitionInfo::default());
    }
    let protective = head[446 + 4] == 0xee;
    if protective && &head[512..520] == b"EFI PART" {
        let gpt = &head[512..];
        let entries_lba = u64::from_le_bytes(gpt[72..80].try_into().unwrap_or([0; 8]));
        let count = le32(&gpt[80..84]).min(256) as usize;
        let entry_size = (le32(&gpt[84..88]) as usize).clamp(128, 512);
        let mut table = vec![0u8; count * entry_size];
        file.seek(SeekFrom::Start(entries_lba * 512))
            .and_then(|_| file.read_exact(&mut table))
            .map_err(|e| AgentError::io(format!("reading the GPT of {}", path.display()), e))?;
        let esp_uuid = table
            .chunks(entry_size)
            .find(|e| guid(&e[..16]) == ESP_TYPE)
            .map(|e| guid(&e[16..32]));
        return Ok(PartitionInfo {
            disk_id: Some(guid(&gpt[56..72])),
            esp_uuid,
            table: Some("gpt"),
        });
    }
    Ok(PartitionInfo {
        disk_id: Some(format!("0x{:08x}", le32(&head[440..444]))),
        esp_uuid: None,
        table: Some("msdos"),
    })
}
