//! The IDX reader and writer: round trips for every element type, a typed error for every
//! kind of bad file, and no panic on any input at all.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use convnets::idx::{
    IdxArray, IdxData, IdxError, IdxType, read_idx, read_idx_file, write_idx, write_idx_file,
};
use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::collection::vec;
use proptest::prelude::*;

/// A fresh path in Cargo's scratch directory for integration tests, unique per call.
fn temp_path(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("idx-{}-{n}-{name}", std::process::id()))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn to_bytes(array: &IdxArray) -> Vec<u8> {
    let mut bytes = Vec::new();
    write_idx(&mut bytes, array).unwrap();
    bytes
}

/// A header: magic, type code, and the dimensions as big-endian u32.
fn header(code: u8, dims: &[u32]) -> Vec<u8> {
    let mut bytes = vec![0, 0, code, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes
}

/// The values as bit patterns, so that NaNs compare equal to themselves.
fn bits(data: &IdxData) -> (IdxType, Vec<u64>) {
    let bits = match data {
        IdxData::U8(v) => v.iter().map(|&x| u64::from(x)).collect(),
        IdxData::I8(v) => v.iter().map(|&x| x as u64).collect(),
        IdxData::I16(v) => v.iter().map(|&x| x as u64).collect(),
        IdxData::I32(v) => v.iter().map(|&x| x as u64).collect(),
        IdxData::F32(v) => v.iter().map(|&x| u64::from(x.to_bits())).collect(),
        IdxData::F64(v) => v.iter().map(|&x| x.to_bits()).collect(),
    };
    (data.idx_type(), bits)
}

fn assert_same(a: &IdxArray, b: &IdxArray) {
    assert_eq!(a.dims, b.dims);
    assert_eq!(bits(&a.data), bits(&b.data));
}

/// 0 to 4 dimensions of 0 to 4 each: small, yet with empty axes and scalars.
fn dims() -> impl Strategy<Value = Vec<usize>> {
    vec(0usize..5, 0..=4)
}

fn array_of<T: Arbitrary + 'static>(wrap: fn(Vec<T>) -> IdxData) -> impl Strategy<Value = IdxArray> {
    dims().prop_flat_map(move |dims| {
        let count: usize = dims.iter().product();
        vec(any::<T>(), count).prop_map(move |values| IdxArray { dims: dims.clone(), data: wrap(values) })
    })
}

fn any_array() -> impl Strategy<Value = IdxArray> {
    prop_oneof![
        array_of::<u8>(IdxData::U8),
        array_of::<i8>(IdxData::I8),
        array_of::<i16>(IdxData::I16),
        array_of::<i32>(IdxData::I32),
        array_of::<f32>(IdxData::F32),
        array_of::<f64>(IdxData::F64),
    ]
}

/// One change to a byte string; positions wrap around its length.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, bit)| Mutation::Flip(i, bit)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match *m {
        Mutation::Flip(i, bit) if len > 0 => bytes[i % len] ^= 1 << bit,
        Mutation::Insert(i, b) => bytes.insert(i % (len + 1), b),
        Mutation::Delete(i) if len > 0 => {
            bytes.remove(i % len);
        }
        Mutation::Truncate(n) => bytes.truncate(n % (len + 1)),
        _ => {}
    }
}

/// Whatever `read_idx` returns, an array it accepts must be consistent.
fn check_consistent(result: Result<IdxArray, IdxError>) {
    if let Ok(array) = result {
        // An axis of size 0 empties the array, even next to axes whose product overflows.
        let count = if array.dims.contains(&0) {
            Some(0)
        } else {
            array.dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
        };
        assert_eq!(count, Some(array.len()), "dims {:?}", array.dims);
    }
}

proptest! {
    #[test]
    fn round_trip_in_memory(array in any_array(), gzipped in any::<bool>()) {
        let plain = to_bytes(&array);
        let bytes = if gzipped { gzip(&plain) } else { plain };
        assert_same(&read_idx(&bytes[..]).unwrap(), &array);
    }

    #[test]
    fn round_trip_through_a_file(array in any_array(), gzipped in any::<bool>()) {
        let path = temp_path("round-trip.idx");
        write_idx_file(&path, &array, gzipped).unwrap();
        let back = read_idx_file(&path);
        std::fs::remove_file(&path).unwrap();
        assert_same(&back.unwrap(), &array);
    }

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..300), gzip_magic in any::<bool>()) {
        // With the gzip magic in front, the bytes reach the decompressor too.
        let bytes = if gzip_magic { [&[0x1f, 0x8b][..], &bytes].concat() } else { bytes };
        check_consistent(read_idx(&bytes[..]));
    }

    #[test]
    fn mutated_files_never_panic(
        array in any_array(),
        gzipped in any::<bool>(),
        mutations in vec(mutation(), 1..4),
    ) {
        let plain = to_bytes(&array);
        let mut bytes = if gzipped { gzip(&plain) } else { plain };
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        check_consistent(read_idx(&bytes[..]));
    }

    #[test]
    fn mutated_headers_never_panic(
        code in prop::sample::select(vec![0x08u8, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]),
        dims in vec(any::<u32>(), 0..5),
        data in vec(any::<u8>(), 0..64),
        gzipped in any::<bool>(),
    ) {
        // Headers with arbitrary (often huge) dimensions over a little data.
        let plain = [header(code, &dims), data].concat();
        let bytes = if gzipped { gzip(&plain) } else { plain };
        check_consistent(read_idx(&bytes[..]));
    }
}

#[test]
fn reads_a_hand_written_file() {
    // Two i16 values, -2 and 258, as a 1-D array: 0xFFFE and 0x0102 big-endian.
    let bytes = [header(0x0B, &[2]), vec![0xFF, 0xFE, 0x01, 0x02]].concat();
    let array = read_idx(&bytes[..]).unwrap();
    assert_eq!(array.dims, [2]);
    assert_eq!(array.data, IdxData::I16(vec![-2, 258]));
    assert_eq!(array.type_name(), "i16");
    assert_eq!(array.len(), 2);
}

#[test]
fn scalar_has_no_dimensions_and_one_value() {
    let bytes = [header(0x08, &[]), vec![42]].concat();
    let array = read_idx(&bytes[..]).unwrap();
    assert!(array.dims.is_empty());
    assert_eq!(array.data, IdxData::U8(vec![42]));
}

#[test]
fn gzip_is_detected_by_content_not_name() {
    let array = IdxArray::new(vec![3], IdxData::F32(vec![0.5, -1.0, 2.0])).unwrap();
    // A gzipped file without `.gz`, and a plain one with it: both load.
    let gz_without_suffix = temp_path("no-suffix");
    let plain_with_suffix = temp_path("plain.gz");
    write_idx_file(&gz_without_suffix, &array, true).unwrap();
    write_idx_file(&plain_with_suffix, &array, false).unwrap();
    assert_eq!(std::fs::read(&gz_without_suffix).unwrap()[..2], [0x1f, 0x8b]);
    assert_eq!(read_idx_file(&gz_without_suffix).unwrap(), array);
    assert_eq!(read_idx_file(&plain_with_suffix).unwrap(), array);
    std::fs::remove_file(gz_without_suffix).unwrap();
    std::fs::remove_file(plain_with_suffix).unwrap();
}

#[test]
fn concatenated_gzip_members_are_one_stream() {
    // `cat head.gz body.gz` is valid gzip: the reader must see all of it.
    let bytes = [header(0x08, &[3]), vec![7, 8, 9]].concat();
    let two_members = [gzip(&bytes[..6]), gzip(&bytes[6..])].concat();
    assert_eq!(read_idx(&two_members[..]).unwrap().data, IdxData::U8(vec![7, 8, 9]));
}

#[test]
fn wrong_magic() {
    let bytes = [vec![0x12, 0x34, 0x08, 0x01], 1u32.to_be_bytes().to_vec(), vec![0]].concat();
    assert_eq!(read_idx(&bytes[..]), Err(IdxError::BadMagic { found: [0x12, 0x34] }));
    let message = read_idx(&bytes[..]).unwrap_err().to_string();
    assert!(message.contains("12 34"), "{message}");
}

#[test]
fn unknown_type_code() {
    let bytes = [header(0x0A, &[1]), vec![0]].concat();
    assert_eq!(read_idx(&bytes[..]), Err(IdxError::UnknownType(0x0A)));
}

#[test]
fn empty_file() {
    assert_eq!(read_idx(&[][..]), Err(IdxError::Empty));
    assert_eq!(read_idx(&gzip(&[])[..]), Err(IdxError::Empty));
}

#[test]
fn truncated_header() {
    assert_eq!(read_idx(&[0, 0, 8][..]), Err(IdxError::Truncated { expected: 4, got: 3 }));
    // Two dimensions announced, a dimension and a half given: 12 header bytes, 10 present.
    let bytes = &header(0x08, &[2, 2])[..10];
    assert_eq!(read_idx(bytes), Err(IdxError::Truncated { expected: 12, got: 10 }));
}

#[test]
fn truncated_data() {
    // Five i32 values announced (8 + 20 bytes), three bytes given.
    let bytes = [header(0x0C, &[5]), vec![1, 2, 3]].concat();
    assert_eq!(read_idx(&bytes[..]), Err(IdxError::Truncated { expected: 28, got: 11 }));
    assert_eq!(read_idx(&gzip(&bytes)[..]), Err(IdxError::Truncated { expected: 28, got: 11 }));
}

#[test]
fn trailing_bytes() {
    let bytes = [header(0x08, &[2]), vec![1, 2, 3]].concat();
    assert_eq!(read_idx(&bytes[..]), Err(IdxError::TrailingBytes { expected: 10 }));
    assert_eq!(read_idx(&gzip(&bytes)[..]), Err(IdxError::TrailingBytes { expected: 10 }));
}

#[test]
fn dimension_product_overflow() {
    let dims = [u32::MAX, u32::MAX, u32::MAX];
    let bytes = [header(0x0E, &dims), vec![0; 16]].concat();
    let expected = IdxError::DimensionOverflow { dims: dims.iter().map(|&d| u64::from(d)).collect() };
    assert_eq!(read_idx(&bytes[..]), Err(expected));
}

#[test]
fn an_empty_axis_makes_huge_axes_harmless() {
    let bytes = header(0x0E, &[u32::MAX, 0, u32::MAX, u32::MAX]);
    let array = read_idx(&bytes[..]).unwrap();
    assert!(array.is_empty());
    assert_eq!(array.dims, [u32::MAX as usize, 0, u32::MAX as usize, u32::MAX as usize]);
    // …and such an array writes back to the same bytes.
    assert_eq!(to_bytes(&array), bytes);
}

#[test]
fn a_header_that_lies_fails_fast_without_allocating_its_claim() {
    // Four billion values announced over five real bytes: the reader must not reserve 4 GB
    // (nor 16 GB as i32), and must say the file is too short.
    for (code, size) in [(0x08, 1), (0x0C, 4)] {
        let bytes = [header(code, &[4_000_000_000]), vec![1, 2, 3, 4, 5]].concat();
        let start = Instant::now();
        let expected = IdxError::Truncated { expected: 8 + 4_000_000_000 * size, got: 13 };
        assert_eq!(read_idx(&bytes[..]), Err(expected.clone()));
        assert_eq!(read_idx(&gzip(&bytes)[..]), Err(expected));
        assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());
    }
}

#[test]
fn corrupt_gzip_stream() {
    assert!(matches!(read_idx(&[0x1f, 0x8b][..]), Err(IdxError::Gzip(_))));
    let good = gzip(&[header(0x08, &[4]), vec![1, 2, 3, 4]].concat());
    // Without its last byte, the trailer (checksum and length) is incomplete.
    assert!(matches!(read_idx(&good[..good.len() - 1]), Err(IdxError::Gzip(_))));
    // A wrong checksum: the CRC32 is the 4 bytes before the 4-byte length at the end.
    let mut bad_crc = good.clone();
    let at = bad_crc.len() - 8;
    bad_crc[at] ^= 0xFF;
    assert!(matches!(read_idx(&bad_crc[..]), Err(IdxError::Gzip(_))));
}

/// A reader that yields some bytes and then fails, like a disk with a bad sector.
struct FailsAfter(Vec<u8>);

impl Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::Error::other("bad sector"));
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0.drain(..n);
        Ok(n)
    }
}

#[test]
fn io_errors_stay_io_errors_even_under_gzip() {
    let plain = [header(0x08, &[100]), vec![0; 100]].concat();
    let gzipped = gzip(&plain);
    for bytes in [&plain[..20], &gzipped[..12]] {
        match read_idx(FailsAfter(bytes.to_vec())) {
            Err(IdxError::Io { kind, message }) => {
                assert_eq!(kind, io::ErrorKind::Other);
                assert!(message.contains("bad sector"), "{message}");
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
    }
}

#[test]
fn missing_file_is_an_io_error_naming_the_file() {
    let path = temp_path("does-not-exist.idx");
    match read_idx_file(&path) {
        Err(IdxError::Io { kind: io::ErrorKind::NotFound, message }) => {
            assert!(message.contains("does-not-exist.idx"), "{message}");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn idx_errors_convert_into_the_crate_error() {
    fn load(bytes: &[u8]) -> convnets::Result<IdxArray> {
        Ok(read_idx(bytes)?)
    }
    assert_eq!(load(&[]), Err(convnets::Error::Idx(IdxError::Empty)));
}

#[test]
fn writer_rejects_arrays_the_format_cannot_hold() {
    let mismatch = IdxArray { dims: vec![2, 2], data: IdxData::U8(vec![1, 2, 3]) };
    let expected = IdxError::ShapeMismatch { dims: vec![2, 2], len: 3 };
    assert_eq!(write_idx(Vec::new(), &mismatch), Err(expected.clone()));
    assert_eq!(IdxArray::new(vec![2, 2], IdxData::U8(vec![1, 2, 3])), Err(expected));

    let too_many = IdxArray { dims: vec![1; 256], data: IdxData::U8(vec![7]) };
    assert_eq!(write_idx(Vec::new(), &too_many), Err(IdxError::TooManyDimensions(256)));
    // 255 dimensions still fit in the header's one byte.
    let most = IdxArray { dims: vec![1; 255], data: IdxData::U8(vec![7]) };
    assert_eq!(read_idx(&to_bytes(&most)[..]).unwrap(), most);

    let long = u32::MAX as usize + 1;
    let too_long = IdxArray { dims: vec![long, 0], data: IdxData::I8(vec![]) };
    assert_eq!(write_idx(Vec::new(), &too_long), Err(IdxError::DimensionTooLarge(long)));
}

#[test]
fn type_codes_and_sizes() {
    for (code, name, size) in [
        (0x08, "u8", 1),
        (0x09, "i8", 1),
        (0x0B, "i16", 2),
        (0x0C, "i32", 4),
        (0x0D, "f32", 4),
        (0x0E, "f64", 8),
    ] {
        let t = IdxType::from_code(code).unwrap();
        assert_eq!((t.code(), t.name(), t.size()), (code, name, size));
    }
    assert_eq!(IdxType::from_code(0x0A), None);
}
