//! Grading the IDX chapter against `convnets::idx::read_idx`.

use convnets::idx::{IdxData, IdxError, IdxType, read_idx};
use proptest::prelude::*;

use super::{Check, Ex, Grader};
use crate::idx as student;
use crate::{IdxHeader, fail};

pub const EXERCISES: &[(&str, Grader)] =
    &[("read_be_u32", read_be_u32), ("parse_idx_header", parse_idx_header), ("decode_values", decode_values)];

fn one_u32(ex: &Ex, bytes: &[u8], at: usize) -> Check {
    let want = bytes
        .get(at..at.saturating_add(4))
        .filter(|b| b.len() == 4)
        .map(|b| u32::from_be_bytes(b.try_into().expect("4")));
    let got = ex.call(format_args!("bytes {bytes:02x?}, at {at}"), || student::read_be_u32(bytes, at))?;
    if got != want {
        let hint = match (got, want) {
            (Some(g), Some(w)) if g == w.swap_bytes() => {
                "\nThat is the little-endian reading (the Intel way): big-endian puts the most significant byte first."
            }
            (Some(_), None) => "\nThe slice ends before four bytes: None.",
            _ => "",
        };
        fail!("read_be_u32({bytes:02x?}, {at}) is {got:?}, but it should be {want:?}.{hint}");
    }
    Ok(())
}

fn read_be_u32(ex: &Ex) -> Check {
    one_u32(ex, &[0x00, 0x00, 0xea, 0x60], 0)?; // 60,000 MNIST training images
    one_u32(ex, &[0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x00, 0x1c], 4)?; // 28
    one_u32(ex, &[0x12, 0x34, 0x56, 0x78, 0x9a], 1)?;
    one_u32(ex, &[0x00, 0x00, 0x00], 0)?;
    one_u32(ex, &[1, 2, 3, 4, 5], 2)?;
    one_u32(ex, &[1, 2, 3, 4], usize::MAX)?;
    ex.for_random(200, (proptest::collection::vec(any::<u8>(), 0..10), 0..10usize), |(b, at)| {
        one_u32(ex, &b, at)
    })
}

/// The header `read_idx` finds in `file`, or its error.
fn reference_header(file: &[u8]) -> Result<IdxHeader, IdxError> {
    read_idx(file).map(|a| IdxHeader {
        idx_type: a.idx_type(),
        dims: a.dims.clone(),
        data_start: 4 + 4 * a.dims.len(),
    })
}

/// Why `want` is the right answer for `file`.
fn explain(file: &[u8], want: &Result<IdxHeader, IdxError>) -> String {
    match want {
        Ok(h) => format!(
            "a valid file: type {:?}, dimensions {:?}, values from byte {} on, and exactly as many bytes as announced",
            h.idx_type, h.dims, h.data_start
        ),
        Err(IdxError::Empty) => "a file with no bytes at all is Empty".into(),
        Err(IdxError::Truncated { expected: 4, got }) => {
            format!("{got} bytes is not even the four first bytes of a header")
        }
        Err(IdxError::BadMagic { found }) => {
            format!("an IDX file starts with 00 00, this one with {:02x} {:02x}", found[0], found[1])
        }
        Err(IdxError::UnknownType(code)) => {
            format!("the type code {code:#04x} is not one of 08 u8, 09 i8, 0b i16, 0c i32, 0d f32, 0e f64")
        }
        Err(IdxError::Truncated { expected, got })
            if (*expected as usize) == 4 + 4 * usize::from(file[3]) =>
        {
            format!(
                "byte 3 announces {} dimensions, so the header is 4 + 4·{} = {expected} bytes long, and the file ends after {got}",
                file[3], file[3]
            )
        }
        Err(IdxError::Truncated { expected, got }) => {
            format!(
                "the header announces {expected} bytes (header + count·size of the values) and the file ends after {got}"
            )
        }
        Err(IdxError::TrailingBytes { expected }) => {
            format!(
                "the header announces {expected} bytes and the file goes on after them: no more, no fewer"
            )
        }
        Err(IdxError::DimensionOverflow { dims }) => format!(
            "the dimensions {dims:?} times the type's size do not fit in a usize: compute the size with checked_mul, \
             and remember that an axis of 0 makes the array empty"
        ),
        Err(other) => format!("{other}"),
    }
}

fn one_header(ex: &Ex, file: &[u8]) -> Check {
    let want = reference_header(file);
    let shown = if file.len() <= 40 {
        format!("{file:02x?}")
    } else {
        format!("{:02x?} … ({} bytes)", &file[..40], file.len())
    };
    let got = ex.call(format_args!("the file {shown}"), || student::parse_idx_header(file))?;
    if got != want {
        fail!(
            "parse_idx_header is wrong on the file {shown} ({} bytes):\n  yours:     {got:?}\n  expected:  {want:?}\n\
             because {}.",
            file.len(),
            explain(file, &want)
        );
    }
    Ok(())
}

fn header(code: u8, dims: &[u32]) -> Vec<u8> {
    let mut bytes = vec![0, 0, code, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes
}

/// A valid file, then perhaps cut short, lengthened, or one header byte changed.
fn files() -> impl Strategy<Value = Vec<u8>> {
    let codes = proptest::sample::select(vec![0x08u8, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]);
    (codes, proptest::collection::vec(0..4u32, 0..4))
        .prop_flat_map(|(code, dims)| {
            let size = IdxType::from_code(code).expect("a known code").size();
            let len = dims.iter().product::<u32>() as usize * size;
            (
                Just(header(code, &dims)),
                proptest::collection::vec(any::<u8>(), len),
                0..4u8,
                any::<prop::sample::Index>(),
                any::<u8>(),
            )
        })
        .prop_map(|(mut file, data, how, index, byte)| {
            file.extend(data);
            match how {
                1 => file.truncate(index.index(file.len() + 1)),
                2 => file.push(byte),
                3 => {
                    let i = index.index(file.len().min(8));
                    file[i] = byte;
                }
                _ => {}
            }
            // A file starting 1f 8b is read as gzip by read_idx: not a plain IDX file.
            if file.starts_with(&[0x1f, 0x8b]) {
                file[0] = 0;
            }
            file
        })
}

fn parse_idx_header(ex: &Ex) -> Check {
    let train_images = [header(0x08, &[60_000, 28, 28])].concat();
    let book: Vec<Vec<u8>> = vec![
        [header(0x08, &[2, 3]), vec![1, 2, 3, 4, 5, 6]].concat(),
        [header(0x0B, &[2]), vec![0xff, 0xfe, 0x01, 0x02]].concat(),
        vec![],
        vec![0, 0, 8],
        vec![0x1f, 0x8c, 0x08, 0x00],
        header(0x07, &[1]),
        train_images[..10].to_vec(),
        [header(0x08, &[1000]), vec![7; 10]].concat(),
        [header(0x0E, &[u32::MAX; 3]), vec![0; 8]].concat(),
        [header(0x08, &[2]), vec![1, 2, 3]].concat(),
        [header(0x08, &[4_000_000_000]), vec![7; 10]].concat(),
        [header(0x0D, &[0, u32::MAX, u32::MAX, u32::MAX])].concat(),
        header(0x0C, &[]),
        [header(0x0C, &[]), vec![0, 0, 0, 42]].concat(),
    ];
    for file in &book {
        one_header(ex, file)?;
    }
    ex.for_random(300, files(), |file| one_header(ex, &file))
}

fn one_decode(ex: &Ex, idx_type: IdxType, bytes: &[u8]) -> Check {
    let count = (bytes.len() / idx_type.size()) as u32;
    let file = [header(idx_type.code(), &[count]), bytes.to_vec()].concat();
    let want = read_idx(&file[..]).expect("a valid file").data;
    let got = ex.call(format_args!("{idx_type:?} values from the bytes {bytes:02x?}"), || {
        student::decode_values(idx_type, bytes)
    })?;
    // Compare floats bit for bit (a NaN read from a file is still a value).
    let same = match (&got, &want) {
        (IdxData::F32(a), IdxData::F32(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
        }
        (IdxData::F64(a), IdxData::F64(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
        }
        (a, b) => a == b,
    };
    if !same {
        let hint = if got.idx_type() != want.idx_type() {
            format!("\nThe values must have the declared type: IdxData::{:?}.", idx_type)
        } else if got.len() != want.len() {
            format!("\n{} bytes of {} bytes each hold {} values.", bytes.len(), idx_type.size(), want.len())
        } else {
            "\nEach value is big-endian: its most significant byte comes first.".to_string()
        };
        fail!("decode_values({idx_type:?}, {bytes:02x?}) is\n  {got:?}\nbut it should be\n  {want:?}{hint}");
    }
    Ok(())
}

fn decode_values(ex: &Ex) -> Check {
    one_decode(ex, IdxType::I16, &[0xff, 0xfe, 0x01, 0x02])?; // -2, 258
    one_decode(ex, IdxType::U8, &[1, 2, 255])?;
    one_decode(ex, IdxType::I8, &[1, 0xff, 0x80])?;
    one_decode(ex, IdxType::I32, &[0x00, 0x00, 0xea, 0x60, 0xff, 0xff, 0xff, 0xff])?;
    one_decode(ex, IdxType::F32, &0.5f32.to_be_bytes())?;
    one_decode(ex, IdxType::F64, &[(-1.25f64).to_be_bytes(), 3.0f64.to_be_bytes()].concat())?;
    let types = proptest::sample::select(vec![
        IdxType::U8,
        IdxType::I8,
        IdxType::I16,
        IdxType::I32,
        IdxType::F32,
        IdxType::F64,
    ]);
    let cases = (types, 0..6usize)
        .prop_flat_map(|(t, n)| (Just(t), proptest::collection::vec(any::<u8>(), n * t.size())));
    ex.for_random(200, cases, |(t, bytes)| one_decode(ex, t, &bytes))
}
