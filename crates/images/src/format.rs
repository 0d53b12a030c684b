//! Telling image formats apart by their first bytes (never by file name or
//! by what the user claims in `image_disk_format`).

use std::fmt;

/// What an image is, as far as writing it to a disk is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// A raw disk image, written byte for byte.
    Raw,
    /// gzip-compressed raw (or whatever the decompressed bytes turn out to be).
    Gzip,
    /// zstd-compressed raw.
    Zstd,
    /// QEMU copy-on-write v2/v3: must be converted before writing.
    Qcow2,
}

/// Bytes needed to recognise every format of [`ImageFormat`].
pub const MAGIC_LEN: usize = 4;

impl ImageFormat {
    /// Recognises a format from the first bytes of an image. Anything that
    /// is not a known container is raw; fewer than [`MAGIC_LEN`] bytes can
    /// only be raw.
    pub fn detect(head: &[u8]) -> ImageFormat {
        match head {
            [0x1f, 0x8b, ..] => ImageFormat::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => ImageFormat::Zstd,
            [b'Q', b'F', b'I', 0xfb, ..] => ImageFormat::Qcow2,
            _ => ImageFormat::Raw,
        }
    }

    /// The lower-case name used in reports and `image_disk_format`.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Raw => "raw",
            ImageFormat::Gzip => "gzip",
            ImageFormat::Zstd => "zstd",
            ImageFormat::Qcow2 => "qcow2",
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::ImageFormat;

    #[test]
    fn magic_bytes_decide() {
        assert_eq!(ImageFormat::detect(&[0x1f, 0x8b, 8, 0]), ImageFormat::Gzip);
        assert_eq!(
            ImageFormat::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            ImageFormat::Zstd
        );
        assert_eq!(
            ImageFormat::detect(b"QFI\xfb\0\0\0\x03"),
            ImageFormat::Qcow2
        );
        assert_eq!(ImageFormat::detect(b"QFI"), ImageFormat::Raw);
        assert_eq!(ImageFormat::detect(&[0xeb, 0x63, 0x90]), ImageFormat::Raw);
        assert_eq!(ImageFormat::detect(&[]), ImageFormat::Raw);
    }
}
