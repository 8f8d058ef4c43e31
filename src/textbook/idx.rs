//! The IDX file format, in which MNIST is distributed.
//!
//! An IDX file is a short header followed by the numbers of one n-dimensional array:
//!
//! ```text
//! byte 0..2   0x00 0x00                 magic: two zero bytes
//! byte 2      type code                 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
//! byte 3      number of dimensions      0 to 255
//! then        one u32 per dimension     big-endian
//! then        the values                big-endian, row-major (last axis fastest)
//! ```
//!
//! Files are often gzipped (`train-images-idx3-ubyte.gz`). [`read_idx`] recognises gzip by
//! the two bytes every gzip stream starts with (`1f 8b`), not by the file name, so a renamed
//! file still loads.
//!
//! The reader never trusts the header: it computes how many bytes the header announces with
//! checked arithmetic, then reads only the bytes that are really there, and never more than
//! [`MAX_DATA_BYTES`] of values, however much a gzip stream would inflate to. A corrupt or
//! hostile file gives an [`IdxError`], never a panic and never a huge allocation.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use thiserror::Error;

// ANCHOR: types
/// The element type of an IDX file, named by the third byte of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxType {
    /// Unsigned byte, code `0x08`. MNIST pixels and labels are stored this way.
    U8,
    /// Signed byte, code `0x09`.
    I8,
    /// Signed 16-bit integer, code `0x0B`.
    I16,
    /// Signed 32-bit integer, code `0x0C`.
    I32,
    /// 32-bit float, code `0x0D`.
    F32,
    /// 64-bit float, code `0x0E`.
    F64,
}

impl IdxType {
    /// The type for a header's type code, or `None` if the code is not one of the six.
    pub fn from_code(code: u8) -> Option<IdxType> {
        match code {
            0x08 => Some(IdxType::U8),
            0x09 => Some(IdxType::I8),
            0x0B => Some(IdxType::I16),
            0x0C => Some(IdxType::I32),
            0x0D => Some(IdxType::F32),
            0x0E => Some(IdxType::F64),
            _ => None,
        }
    }

    /// The type code written in the header.
    pub fn code(self) -> u8 {
        match self {
            IdxType::U8 => 0x08,
            IdxType::I8 => 0x09,
            IdxType::I16 => 0x0B,
            IdxType::I32 => 0x0C,
            IdxType::F32 => 0x0D,
            IdxType::F64 => 0x0E,
        }
    }

    /// How many bytes one value takes in the file.
    pub fn size(self) -> usize {
        match self {
            IdxType::U8 | IdxType::I8 => 1,
            IdxType::I16 => 2,
            IdxType::I32 | IdxType::F32 => 4,
            IdxType::F64 => 8,
        }
    }

    /// The Rust name of the type: `"u8"`, `"i8"`, `"i16"`, `"i32"`, `"f32"` or `"f64"`.
    pub fn name(self) -> &'static str {
        match self {
            IdxType::U8 => "u8",
            IdxType::I8 => "i8",
            IdxType::I16 => "i16",
            IdxType::I32 => "i32",
            IdxType::F32 => "f32",
            IdxType::F64 => "f64",
        }
    }
}
// ANCHOR_END: types

/// The values of an IDX array, in row-major order, in the type the file declares.
#[derive(Debug, Clone, PartialEq)]
pub enum IdxData {
    /// Unsigned bytes (type code `0x08`).
    U8(Vec<u8>),
    /// Signed bytes (type code `0x09`).
    I8(Vec<i8>),
    /// 16-bit integers (type code `0x0B`).
    I16(Vec<i16>),
    /// 32-bit integers (type code `0x0C`).
    I32(Vec<i32>),
    /// 32-bit floats (type code `0x0D`).
    F32(Vec<f32>),
    /// 64-bit floats (type code `0x0E`).
    F64(Vec<f64>),
}

impl IdxData {
    /// The element type of these values.
    pub fn idx_type(&self) -> IdxType {
        match self {
            IdxData::U8(_) => IdxType::U8,
            IdxData::I8(_) => IdxType::I8,
            IdxData::I16(_) => IdxType::I16,
            IdxData::I32(_) => IdxType::I32,
            IdxData::F32(_) => IdxType::F32,
            IdxData::F64(_) => IdxType::F64,
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            IdxData::U8(v) => v.len(),
            IdxData::I8(v) => v.len(),
            IdxData::I16(v) => v.len(),
            IdxData::I32(v) => v.len(),
            IdxData::F32(v) => v.len(),
            IdxData::F64(v) => v.len(),
        }
    }

    /// True if there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as bytes if the type is `u8`, the type of MNIST; `None` for any other type.
    pub fn as_u8(&self) -> Option<&[u8]> {
        match self {
            IdxData::U8(v) => Some(v),
            _ => None,
        }
    }
}

/// An n-dimensional array read from, or to be written to, an IDX file.
///
/// `dims` is the size of each axis (MNIST's training images: `[60000, 28, 28]`) and `data`
/// holds `dims[0] · dims[1] · …` values in row-major order. An array with no dimensions
/// holds a single value, as a scalar does.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// The size of each axis.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: IdxData,
}

impl IdxArray {
    /// An array of the given dimensions; fails if they do not hold exactly `data.len()` values.
    pub fn new(dims: Vec<usize>, data: IdxData) -> Result<IdxArray, IdxError> {
        let array = IdxArray { dims, data };
        array.check_shape()?;
        Ok(array)
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True if the array holds no values (some axis has size 0).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The element type.
    pub fn idx_type(&self) -> IdxType {
        self.data.idx_type()
    }

    /// The Rust name of the element type, e.g. `"u8"`.
    pub fn type_name(&self) -> &'static str {
        self.idx_type().name()
    }

    /// Checks that `dims` and `data` agree, since both fields are public.
    fn check_shape(&self) -> Result<(), IdxError> {
        if element_count(&self.dims) != Some(self.data.len()) {
            return Err(IdxError::ShapeMismatch { dims: self.dims.clone(), len: self.data.len() });
        }
        Ok(())
    }
}

// ANCHOR: error
/// Everything that can be wrong with an IDX file, or with an array to be written as one.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum IdxError {
    /// Reading or writing failed below the format (a missing file, a full disk, …).
    /// Holds the kind and message of the `std::io::Error`, so that this type can be compared.
    #[error("I/O error: {message}")]
    Io {
        /// What kind of I/O failure it was, e.g. `NotFound`.
        kind: io::ErrorKind,
        /// The system's description of the failure.
        message: String,
    },
    /// The file (after decompression, if it was gzipped) has no bytes at all.
    #[error("the IDX file is empty")]
    Empty,
    /// The file does not start with the two zero bytes of an IDX header.
    #[error("not an IDX file: it should start with bytes 00 00, found {:02x} {:02x}", found[0], found[1])]
    BadMagic {
        /// The first two bytes that were found instead.
        found: [u8; 2],
    },
    /// The type code (third byte) is not one of the six IDX types.
    #[error(
        "unknown IDX type code 0x{0:02x} (known: 0x08 u8, 0x09 i8, 0x0b i16, 0x0c i32, 0x0d f32, 0x0e f64)"
    )]
    UnknownType(u8),
    /// The file ends before the header, or before all the values the header announces.
    /// Both counts are in bytes from the start of the (decompressed) file.
    #[error("truncated IDX file: the header announces {expected} bytes but the file ends after {got}")]
    Truncated {
        /// How many bytes the file should have, header included.
        expected: u64,
        /// How many it has.
        got: u64,
    },
    /// The file goes on after the last value the header announces.
    #[error("the IDX file has bytes after the {expected} its header announces")]
    TrailingBytes {
        /// How many bytes the file should have, header included.
        expected: u64,
    },
    /// The header's dimensions multiply to more bytes than this computer can address.
    #[error("IDX dimensions {dims:?} hold more bytes than fit in memory")]
    DimensionOverflow {
        /// The dimensions as the header states them.
        dims: Vec<u64>,
    },
    /// The file starts like a gzip stream (`1f 8b`) but does not decompress.
    #[error("bad gzip stream: {0}")]
    Gzip(String),
    /// The file (after decompression, if it was gzipped) holds more than
    /// [`MAX_DATA_BYTES`] bytes of values. Reading stopped there.
    #[error(
        "the IDX header announces {announced} bytes of values, and the file holds more than the limit of {limit}"
    )]
    TooLarge {
        /// The bytes of values the header announces.
        announced: u64,
        /// [`MAX_DATA_BYTES`].
        limit: u64,
    },
    /// There was not enough memory for the values the file holds.
    #[error("not enough memory for the {announced} bytes of values the IDX header announces")]
    OutOfMemory {
        /// The bytes of values the header announces.
        announced: u64,
    },
    /// An array's dimensions do not multiply to its number of values.
    #[error("dimensions {dims:?} do not hold {len} values")]
    ShapeMismatch {
        /// The dimensions of the array.
        dims: Vec<usize>,
        /// The number of values it has.
        len: usize,
    },
    /// An array has more than 255 dimensions: the header stores the count in one byte.
    #[error("an IDX file holds at most 255 dimensions, the array has {0}")]
    TooManyDimensions(usize),
    /// An axis is longer than `u32::MAX`: the header stores each size in four bytes.
    #[error("an IDX dimension is at most 4294967295 (u32::MAX) long, the array has one of {0}")]
    DimensionTooLarge(usize),
}
// ANCHOR_END: error

impl From<io::Error> for IdxError {
    fn from(e: io::Error) -> IdxError {
        IdxError::Io { kind: e.kind(), message: e.to_string() }
    }
}

/// The most bytes of values an IDX file may hold: 128 MiB, nearly three times MNIST's
/// largest file (its 60,000 training images take 47 MB).
///
/// A file whose header announces more is read only until the values really pass this limit,
/// then refused with [`IdxError::TooLarge`]: a 600 KB gzip file that inflates to 600 MiB
/// costs at most this much memory, and a header that claims more than the file holds is
/// still reported as `Truncated`.
pub const MAX_DATA_BYTES: usize = 1 << 27;

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

// ANCHOR: read_idx
/// Reads one IDX array, plain or gzipped, from any reader (a file, a `&[u8]`, …).
///
/// Gzip is recognised by its first two bytes, `1f 8b`, whatever the file is called.
/// Wrap a file in a `BufReader` (as [`read_idx_file`] does): the reader reads small pieces.
///
/// ```
/// use convnets::idx::{IdxData, read_idx};
///
/// // A 2×3 array of u8: magic 00 00, type 08, 2 dimensions, sizes 2 and 3, then 6 values.
/// let bytes = [0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6];
/// let array = read_idx(&bytes[..]).unwrap();
/// assert_eq!(array.dims, [2, 3]);
/// assert_eq!(array.data, IdxData::U8(vec![1, 2, 3, 4, 5, 6]));
/// ```
pub fn read_idx(reader: impl Read) -> Result<IdxArray, IdxError> {
    let mut source = Watched { inner: reader, failed: false };
    // Peek at two bytes, then put them back in front of the rest of the stream.
    let mut start = [0u8; 2];
    let n = read_up_to(&mut source, &mut start)?;
    let stream = (&start[..n]).chain(&mut source);
    if start[..n] == GZIP_MAGIC {
        // `MultiGzDecoder`, because `cat a.gz b.gz` is a valid gzip file too.
        match read_plain(MultiGzDecoder::new(stream)) {
            // An I/O error the file itself did not raise came from the decompressor:
            // the gzip stream is corrupt. (Running out of memory is not the stream's fault:
            // `read_plain` reports it as `OutOfMemory`.)
            Err(IdxError::Io { message, .. }) if !source.failed => Err(IdxError::Gzip(message)),
            result => result,
        }
    } else {
        read_plain(stream)
    }
}
// ANCHOR_END: read_idx

/// Reads one IDX array, plain or gzipped, from a file.
pub fn read_idx_file(path: impl AsRef<Path>) -> Result<IdxArray, IdxError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| IdxError::Io {
        kind: e.kind(),
        message: format!("cannot open {}: {e}", path.display()),
    })?;
    read_idx(BufReader::new(file))
}

// ANCHOR: read_plain
/// Reads an uncompressed IDX stream: the header, then exactly the bytes it announces.
fn read_plain(mut reader: impl Read) -> Result<IdxArray, IdxError> {
    // Magic, type code and number of dimensions: four bytes.
    let mut head = [0u8; 4];
    let n = read_up_to(&mut reader, &mut head)?;
    if n == 0 {
        return Err(IdxError::Empty);
    }
    if n < head.len() {
        return Err(IdxError::Truncated { expected: 4, got: n as u64 });
    }
    let [zero_a, zero_b, code, ndims] = head;
    if [zero_a, zero_b] != [0, 0] {
        return Err(IdxError::BadMagic { found: [zero_a, zero_b] });
    }
    let idx_type = IdxType::from_code(code).ok_or(IdxError::UnknownType(code))?;

    // One big-endian u32 per dimension. At most 255 · 4 bytes: safe to allocate.
    let header_len = 4 + 4 * ndims as usize;
    let mut dim_bytes = vec![0u8; 4 * ndims as usize];
    let n = read_up_to(&mut reader, &mut dim_bytes)?;
    if n < dim_bytes.len() {
        return Err(IdxError::Truncated { expected: header_len as u64, got: (4 + n) as u64 });
    }
    let dims: Vec<u64> =
        dim_bytes.chunks_exact(4).map(|b| u64::from(u32::from_be_bytes(be_array(b)))).collect();

    // What the header claims, computed without trusting it to be small.
    let (dims, data_len) = checked_sizes(&dims, idx_type)?;

    // Read at most one byte more than announced: enough to notice trailing bytes, and the
    // vector grows with the bytes that really arrive, not with what the header claims. Never
    // more than one byte past the limit either, however long a gzip stream inflates.
    let limit = data_len.min(MAX_DATA_BYTES);
    let mut bytes = Vec::new();
    if let Err(e) = reader.take(limit as u64 + 1).read_to_end(&mut bytes) {
        return Err(match e.kind() {
            io::ErrorKind::OutOfMemory => IdxError::OutOfMemory { announced: data_len as u64 },
            _ => e.into(),
        });
    }
    let expected = (header_len + data_len) as u64;
    if data_len > MAX_DATA_BYTES && bytes.len() > MAX_DATA_BYTES {
        let (announced, limit) = (data_len as u64, MAX_DATA_BYTES as u64);
        return Err(IdxError::TooLarge { announced, limit });
    }
    if bytes.len() < data_len {
        return Err(IdxError::Truncated { expected, got: (header_len + bytes.len()) as u64 });
    }
    if bytes.len() > data_len {
        return Err(IdxError::TrailingBytes { expected });
    }
    Ok(IdxArray { dims, data: decode(idx_type, bytes) })
}
// ANCHOR_END: read_plain

// ANCHOR: checked_sizes
/// The header's dimensions as `usize`, and the number of data bytes they announce,
/// or `DimensionOverflow` if either does not fit in a `usize`.
fn checked_sizes(dims: &[u64], idx_type: IdxType) -> Result<(Vec<usize>, usize), IdxError> {
    let overflow = || IdxError::DimensionOverflow { dims: dims.to_vec() };
    let sizes: Vec<usize> =
        dims.iter().map(|&d| usize::try_from(d)).collect::<Result<_, _>>().map_err(|_| overflow())?;
    let count = element_count(&sizes).ok_or_else(overflow)?;
    let data_len = count.checked_mul(idx_type.size()).ok_or_else(overflow)?;
    // `read_plain` adds the header and one spare byte to this; make sure those fit too.
    if data_len.checked_add(4 + 4 * 255 + 1).is_none() {
        return Err(overflow());
    }
    Ok((sizes, data_len))
}

/// The product of the dimensions, or `None` if it overflows a `usize`.
fn element_count(dims: &[usize]) -> Option<usize> {
    // An axis of size 0 makes the array empty however large the others are.
    if dims.contains(&0) {
        return Some(0);
    }
    dims.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n))
}
// ANCHOR_END: checked_sizes

/// Turns the big-endian data bytes into values of the declared type.
/// `bytes.len()` is a multiple of the type's size: `read_plain` checked it.
fn decode(idx_type: IdxType, bytes: Vec<u8>) -> IdxData {
    match idx_type {
        IdxType::U8 => IdxData::U8(bytes),
        IdxType::I8 => IdxData::I8(bytes.into_iter().map(|b| b as i8).collect()),
        IdxType::I16 => {
            IdxData::I16(bytes.chunks_exact(2).map(|b| i16::from_be_bytes(be_array(b))).collect())
        }
        IdxType::I32 => {
            IdxData::I32(bytes.chunks_exact(4).map(|b| i32::from_be_bytes(be_array(b))).collect())
        }
        IdxType::F32 => {
            IdxData::F32(bytes.chunks_exact(4).map(|b| f32::from_be_bytes(be_array(b))).collect())
        }
        IdxType::F64 => {
            IdxData::F64(bytes.chunks_exact(8).map(|b| f64::from_be_bytes(be_array(b))).collect())
        }
    }
}

/// Copies a chunk from `chunks_exact(N)` into an array, which is what `from_be_bytes` takes.
fn be_array<const N: usize>(chunk: &[u8]) -> [u8; N] {
    let mut array = [0u8; N];
    array.copy_from_slice(chunk);
    array
}

/// Fills `buf` as far as the stream allows and returns how many bytes it got.
/// Unlike `read_exact`, running out early is not an error here: the caller knows what was
/// missing and can say so.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize, IdxError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(filled)
}

/// A reader that remembers whether it failed, so that `read_idx` can tell an error of the
/// underlying file from an error of the gzip decoder reading it.
struct Watched<R> {
    inner: R,
    failed: bool,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = self.inner.read(buf);
        if matches!(&result, Err(e) if e.kind() != io::ErrorKind::Interrupted) {
            self.failed = true;
        }
        result
    }
}

/// Writes an array as an uncompressed IDX stream.
///
/// Fails if the dimensions do not hold `array.len()` values, if there are more than 255 of
/// them, or if one is longer than `u32::MAX`. Wrap a file in a `BufWriter`: this writes one
/// value at a time.
pub fn write_idx(mut writer: impl Write, array: &IdxArray) -> Result<(), IdxError> {
    array.check_shape()?;
    let ndims = u8::try_from(array.dims.len()).map_err(|_| IdxError::TooManyDimensions(array.dims.len()))?;
    writer.write_all(&[0, 0, array.idx_type().code(), ndims])?;
    for &d in &array.dims {
        let d32 = u32::try_from(d).map_err(|_| IdxError::DimensionTooLarge(d))?;
        writer.write_all(&d32.to_be_bytes())?;
    }
    match &array.data {
        IdxData::U8(v) => writer.write_all(v)?,
        IdxData::I8(v) => v.iter().try_for_each(|x| writer.write_all(&x.to_be_bytes()))?,
        IdxData::I16(v) => v.iter().try_for_each(|x| writer.write_all(&x.to_be_bytes()))?,
        IdxData::I32(v) => v.iter().try_for_each(|x| writer.write_all(&x.to_be_bytes()))?,
        IdxData::F32(v) => v.iter().try_for_each(|x| writer.write_all(&x.to_be_bytes()))?,
        IdxData::F64(v) => v.iter().try_for_each(|x| writer.write_all(&x.to_be_bytes()))?,
    }
    Ok(())
}

/// Writes an array to an IDX file, gzipped if `gzip` is true (as MNIST is distributed).
pub fn write_idx_file(path: impl AsRef<Path>, array: &IdxArray, gzip: bool) -> Result<(), IdxError> {
    let path = path.as_ref();
    let file = File::create(path).map_err(|e| IdxError::Io {
        kind: e.kind(),
        message: format!("cannot create {}: {e}", path.display()),
    })?;
    let mut out = BufWriter::new(file);
    if gzip {
        let mut encoder = GzEncoder::new(&mut out, Compression::default());
        write_idx(&mut encoder, array)?;
        // `finish` writes the gzip trailer (checksum and length); dropping would hide errors.
        encoder.finish()?;
    } else {
        write_idx(&mut out, array)?;
    }
    // Flush explicitly: `BufWriter`'s drop would swallow a write error.
    out.flush()?;
    Ok(())
}
