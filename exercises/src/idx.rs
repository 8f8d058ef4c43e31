//! Exercises of "The IDX format and loading MNIST" (`chapters/idx.md`): big-endian numbers, a
//! header checked before it is trusted, and the values it announces.
//!
//! Replace each `todo!()` with your code, then grade this file:
//!
//! ```console
//! $ cargo test -p exercises --test idx
//! ```
//!
//! The layout, from the book:
//!
//! ```text
//! byte 0..2   0x00 0x00                 magic: two zero bytes
//! byte 2      type code                 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
//! byte 3      number of dimensions      0 to 255
//! then        one u32 per dimension     big-endian
//! then        the values                big-endian, row-major (last axis fastest)
//! ```

use convnets::idx::{IdxData, IdxError, IdxType};

use crate::IdxHeader;

/// The four bytes `bytes[at..at + 4]` read as a big-endian `u32`, or `None` if the slice ends
/// before them. No input may make it panic (use `get`, not indexing).
///
/// From the book: "**Big-endian** puts the most significant byte first, the way we write
/// numbers: 60000 = `0x0000ea60` is stored `00 00 ea 60`." Without `u32::from_be_bytes`:
/// shift each byte into place yourself.
pub fn read_be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    todo!()
}

/// Check the header before trusting it: parse the header at the start of a whole,
/// uncompressed IDX `file`, and check that the file holds exactly the bytes it announces.
///
/// Return the same errors, with the same fields, as the crate's `read_idx`, checking in this
/// order:
///
/// 1. no bytes at all: `IdxError::Empty`;
/// 2. fewer than the four first bytes: `Truncated { expected: 4, got }`;
/// 3. bytes 0 and 1 are not `00 00`: `BadMagic { found }`;
/// 4. a type code that is not one of the six: `UnknownType(code)` (`IdxType::from_code`);
/// 5. the file ends inside the dimensions: `Truncated { expected: header length, got }`;
/// 6. the dimensions times the type's size do not fit in a `usize`:
///    `DimensionOverflow { dims }` (the dimensions as `u64`, as stated);
/// 7. the values are cut short: `Truncated { expected: header + data length, got: file length }`;
/// 8. the file goes on after them: `TrailingBytes { expected }`.
///
/// From the book: "it computes the data size with **checked arithmetic**, which returns `None`
/// on overflow instead of wrapping […] An axis of size 0 makes the whole array empty, however
/// large the other axes are." And: "A file must have exactly the bytes its header announces,
/// no fewer and no more."
pub fn parse_idx_header(file: &[u8]) -> Result<IdxHeader, IdxError> {
    todo!()
}

/// The values of an IDX file: `bytes` (a whole number of values) read as big-endian values
/// of `idx_type`, in order.
///
/// From the book: "The values are big-endian too, which matters for every type but `u8` and
/// `i8`. A 16-bit value of -2 is `ff fe`." (`i16::from_be_bytes`, `f32::from_be_bytes`, …
/// and `chunks_exact` are your friends.)
pub fn decode_values(idx_type: IdxType, bytes: &[u8]) -> IdxData {
    todo!()
}
