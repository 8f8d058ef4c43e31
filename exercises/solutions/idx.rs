//! Reference solutions of the IDX chapter's exercises (see `exercises/src/idx.rs` for the
//! tasks).

use convnets::idx::{IdxData, IdxError, IdxType};

use crate::IdxHeader;

/// Shifts the four bytes into place, most significant first.
pub fn read_be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let four = bytes.get(at..at.checked_add(4)?)?;
    Some(four.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

/// The checks in order, with checked arithmetic for the sizes.
pub fn parse_idx_header(file: &[u8]) -> Result<IdxHeader, IdxError> {
    let got = file.len() as u64;
    if file.is_empty() {
        return Err(IdxError::Empty);
    }
    let [zero_a, zero_b, code, ndims] = *file.get(..4).ok_or(IdxError::Truncated { expected: 4, got })?
    else {
        unreachable!("four bytes")
    };
    if [zero_a, zero_b] != [0, 0] {
        return Err(IdxError::BadMagic { found: [zero_a, zero_b] });
    }
    let idx_type = IdxType::from_code(code).ok_or(IdxError::UnknownType(code))?;
    let data_start = 4 + 4 * usize::from(ndims);
    if file.len() < data_start {
        return Err(IdxError::Truncated { expected: data_start as u64, got });
    }
    let dims: Vec<u64> =
        (0..usize::from(ndims)).map(|i| u64::from(read_be_u32(file, 4 + 4 * i).unwrap())).collect();
    let overflow = || IdxError::DimensionOverflow { dims: dims.clone() };
    let sizes: Vec<usize> =
        dims.iter().map(|&d| usize::try_from(d).map_err(|_| overflow())).collect::<Result<_, _>>()?;
    let count = if sizes.contains(&0) {
        0
    } else {
        sizes.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n)).ok_or_else(overflow)?
    };
    let data_len = count.checked_mul(idx_type.size()).ok_or_else(overflow)?;
    let expected = data_len.checked_add(data_start).ok_or_else(overflow)? as u64;
    if got < expected {
        return Err(IdxError::Truncated { expected, got });
    }
    if got > expected {
        return Err(IdxError::TrailingBytes { expected });
    }
    Ok(IdxHeader { idx_type, dims: sizes, data_start })
}

/// `from_be_bytes` on each chunk of the type's size.
pub fn decode_values(idx_type: IdxType, bytes: &[u8]) -> IdxData {
    fn chunks<const N: usize, T>(bytes: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
        bytes.chunks_exact(N).map(|c| f(c.try_into().unwrap())).collect()
    }
    match idx_type {
        IdxType::U8 => IdxData::U8(bytes.to_vec()),
        IdxType::I8 => IdxData::I8(bytes.iter().map(|&b| b as i8).collect()),
        IdxType::I16 => IdxData::I16(chunks(bytes, i16::from_be_bytes)),
        IdxType::I32 => IdxData::I32(chunks(bytes, i32::from_be_bytes)),
        IdxType::F32 => IdxData::F32(chunks(bytes, f32::from_be_bytes)),
        IdxType::F64 => IdxData::F64(chunks(bytes, f64::from_be_bytes)),
    }
}
