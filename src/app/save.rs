//! Saving a trained model to a file and loading it back.
//!
//! The format is small and documented here, so a reader could write it from another language:
//!
//! ```text
//! magic        8 bytes   "CONVNETS"
//! version      u32       1
//! input rank   u32, then each input dimension as u32        e.g. 3: 28 28 1
//! layer count  u32
//! each layer:  tag u8, then its settings, then its weights (f32)
//!   1 Conv2D            kernel_h kernel_w in_channels filters stride_h stride_w (u32)
//!                       padding u8, activation u8, kernel (HWIO), bias
//!   2 MaxPooling2D      pool_h pool_w stride_h stride_w (u32), padding u8
//!   3 AveragePooling2D  as MaxPooling2D
//!   4 Flatten           nothing
//!   5 Dense             inputs units (u32), activation u8, kernel (inputs × units), bias
//! padding: 0 valid, 1 same;  activation: 0 linear, 1 relu, 2 softmax
//! ```
//!
//! Every number is little-endian. Loading reads the whole file (at most [`MAX_FILE_BYTES`]),
//! checks every count against the bytes actually left before allocating anything, and
//! rebuilds the model layer by layer, so a kernel that does not fit its input, or a layer that
//! breaks one of the [limits](crate::limits), is caught exactly as when building by hand: a
//! model that loads is safe to run. At most [`MAX_RANK`] input dimensions and [`MAX_LAYERS`]
//! layers.
//!
//! Saving survives a crash or a power cut at any moment: the model is written to a new
//! temporary file in the target's folder (`.<name>.<pid>.<n>.tmp`, created only if no file,
//! and no symbolic link, has that name), flushed to the disk, renamed over the target, and the
//! folder is flushed too (see [`write_atomically`]). The target holds the old model or the
//! new one, never half of one; a failed save removes its temporary file.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use byteorder::{ByteOrder, LittleEndian};

use crate::activation::Activation;
use crate::error::{Error, ModelFileError, ModelFileProblem, Result};
use crate::model::Sequential;
use crate::padding::Padding;
use crate::spec::LayerSpec;
use crate::tensor::{Tensor, element_count};

/// The first eight bytes of every model file.
pub const MAGIC: &[u8; 8] = b"CONVNETS";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// The largest model file this build reads or writes: 256 MiB, 64 million weights (the
/// book's model takes 373 KB).
pub const MAX_FILE_BYTES: u64 = 1 << 28;
/// The most input dimensions a model file may give.
pub const MAX_RANK: usize = 8;
/// The most layers a model file may hold.
pub const MAX_LAYERS: usize = 1024;

/// A model-file error about the file at `path`.
fn at(path: &Path, problem: ModelFileProblem) -> Error {
    Error::ModelFile(ModelFileError { path: Some(path.to_path_buf()), layer: None, problem })
}

/// A model-file error with no file named yet (while encoding or decoding bytes).
fn bad(problem: ModelFileProblem) -> Error {
    Error::ModelFile(ModelFileError::new(problem))
}

// ANCHOR: save
/// Writes `model` to `path` in the format above, atomically (see [`write_atomically`]).
pub fn save_model(model: &Sequential, path: &Path) -> Result<()> {
    let bytes = encode(model).map_err(|e| match e {
        Error::ModelFile(e) => Error::ModelFile(ModelFileError { path: Some(path.to_path_buf()), ..e }),
        other => other,
    })?;
    write_atomically(path, |file| file.write_all(&bytes))
        .map_err(|e| at(path, ModelFileProblem::Write { kind: e.kind(), message: e.to_string() }))
}
// ANCHOR_END: save

/// Checks, before any work, that a model could be saved to `path`: its folder exists and a
/// file can be created there, and `path` is not a folder. (Creates and removes a temporary
/// file, as a save would.)
pub fn check_can_save(path: &Path) -> Result<()> {
    let fail = |e: io::Error| at(path, ModelFileProblem::Write { kind: e.kind(), message: e.to_string() });
    let (dir, name) = split(path).map_err(fail)?;
    let (tmp, file) = create_temp(&dir, &name).map_err(fail)?;
    drop(file);
    std::fs::remove_file(&tmp).map_err(fail)
}

/// The process's count of temporary files, so that two saves never pick the same name.
static TEMP_FILES: AtomicU64 = AtomicU64::new(0);

/// How many names [`write_atomically`] tries before giving up.
const TEMP_ATTEMPTS: u64 = 1000;

/// Writes a file so that a crash or a power cut at any moment leaves either the old file or
/// the whole new one at `path`:
///
/// 1. `write` fills a new temporary file in the same folder, named
///    `.<name>.<process id>.<n>.tmp` and created with `create_new`, which refuses an existing
///    file or symbolic link of that name (so nothing is ever written through a link someone
///    left there; the next `n` is tried instead);
/// 2. the file is flushed to the disk (`sync_all`);
/// 3. it is renamed over `path` (one atomic step on the same file system);
/// 4. the folder is flushed, so that the rename itself is on the disk (on Unix).
///
/// On any failure the temporary file is removed and `path` is left as it was. A `path` that
/// is a folder is refused before anything is written.
pub fn write_atomically(path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    let (dir, name) = split(path)?;
    let (tmp, mut file) = create_temp(&dir, &name)?;
    let mut renamed = false;
    let result = (|| {
        write(&mut file)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        renamed = true;
        sync_dir(&dir)
    })();
    if result.is_err() && !renamed {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The folder and the file name of `path`, refusing a path that is a folder or names none.
fn split(path: &Path) -> io::Result<(PathBuf, OsString)> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{} does not name a file", path.display()))
    })?;
    if path.is_dir() {
        return Err(io::Error::new(io::ErrorKind::IsADirectory, format!("{} is a folder", path.display())));
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("the folder {} does not exist", dir.display()),
        ));
    }
    Ok((dir, name.to_os_string()))
}

/// A new, empty temporary file for `name` in `dir`, and its path.
fn create_temp(dir: &Path, name: &std::ffi::OsStr) -> io::Result<(PathBuf, File)> {
    for _ in 0..TEMP_ATTEMPTS {
        let n = TEMP_FILES.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.{n}.tmp", std::process::id()));
        let tmp = dir.join(tmp_name);
        // `create_new` is O_CREAT | O_EXCL: it fails on any existing name, symbolic links
        // included, rather than following them.
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{TEMP_ATTEMPTS} temporary file names in {} are all taken", dir.display()),
    ))
}

/// Flushes a folder's entries (a rename in it) to the disk.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Elsewhere a folder cannot be opened as a file; the rename is left to the file system.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// The model in the file format, as bytes.
pub fn encode(model: &Sequential) -> Result<Vec<u8>> {
    let mut out = MAGIC.to_vec();
    let put = |out: &mut Vec<u8>, v: usize| -> Result<()> {
        let v = u32::try_from(v).map_err(|_| bad(ModelFileProblem::NotU32 { value: v }))?;
        out.extend(v.to_le_bytes());
        Ok(())
    };
    put(&mut out, VERSION as usize)?;
    put(&mut out, model.input_shape().len())?;
    for &d in model.input_shape() {
        put(&mut out, d)?;
    }
    let specs = model.layer_specs()?;
    put(&mut out, specs.len())?;
    let floats = |out: &mut Vec<u8>, values: &[f32]| {
        let start = out.len();
        out.resize(start + 4 * values.len(), 0);
        LittleEndian::write_f32_into(values, &mut out[start..]);
    };
    for spec in &specs {
        match spec {
            LayerSpec::Conv2D { kernel, bias, strides, padding, activation } => {
                out.push(1);
                for &d in kernel.shape() {
                    put(&mut out, d)?;
                }
                put(&mut out, strides.0)?;
                put(&mut out, strides.1)?;
                out.extend([padding_code(*padding), activation_code(*activation)]);
                floats(&mut out, kernel.data());
                floats(&mut out, bias);
            }
            LayerSpec::MaxPooling2D { pool, strides, padding }
            | LayerSpec::AveragePooling2D { pool, strides, padding } => {
                out.push(if matches!(spec, LayerSpec::MaxPooling2D { .. }) { 2 } else { 3 });
                for d in [pool.0, pool.1, strides.0, strides.1] {
                    put(&mut out, d)?;
                }
                out.push(padding_code(*padding));
            }
            LayerSpec::Flatten => out.push(4),
            LayerSpec::Dense { kernel, bias, activation } => {
                out.push(5);
                for &d in kernel.shape() {
                    put(&mut out, d)?;
                }
                out.push(activation_code(*activation));
                floats(&mut out, kernel.data());
                floats(&mut out, bias);
            }
        }
    }
    if out.len() as u64 > MAX_FILE_BYTES {
        return Err(bad(ModelFileProblem::TooLarge { bytes: out.len() as u64, limit: MAX_FILE_BYTES }));
    }
    Ok(out)
}

fn padding_code(p: Padding) -> u8 {
    match p {
        Padding::Valid => 0,
        Padding::Same => 1,
    }
}

fn activation_code(a: Activation) -> u8 {
    match a {
        Activation::Linear => 0,
        Activation::Relu => 1,
        Activation::Softmax => 2,
    }
}

/// Reads the bytes of a model file front to back, refusing to read past the end.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// A problem found while reading a model file.
type Parsed<T> = std::result::Result<T, ModelFileProblem>;

impl Cursor<'_> {
    fn take(&mut self, n: usize, what: &'static str) -> Parsed<&[u8]> {
        let left = self.bytes.len() - self.pos;
        if n > left {
            return Err(ModelFileProblem::Truncated { what, offset: self.pos, needed: n, left });
        }
        self.pos += n;
        Ok(&self.bytes[self.pos - n..self.pos])
    }

    fn u8(&mut self, what: &'static str) -> Parsed<u8> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &'static str) -> Parsed<usize> {
        Ok(LittleEndian::read_u32(self.take(4, what)?) as usize)
    }

    fn pair(&mut self, what: &'static str) -> Parsed<(usize, usize)> {
        Ok((self.u32(what)?, self.u32(what)?))
    }

    /// `count` f32 values; the count is checked against the bytes left before allocating.
    fn floats(&mut self, count: Option<usize>, what: &'static str) -> Parsed<Vec<f32>> {
        let bytes = count.and_then(|c| c.checked_mul(4)).ok_or(ModelFileProblem::SizeOverflow { what })?;
        let raw = self.take(bytes, what)?;
        let mut values = vec![0.0; bytes / 4];
        LittleEndian::read_f32_into(raw, &mut values);
        Ok(values)
    }

    fn padding(&mut self) -> Parsed<Padding> {
        match self.u8("padding")? {
            0 => Ok(Padding::Valid),
            1 => Ok(Padding::Same),
            code => Err(ModelFileProblem::UnknownCode { what: "padding code", code }),
        }
    }

    fn activation(&mut self) -> Parsed<Activation> {
        match self.u8("activation")? {
            0 => Ok(Activation::Linear),
            1 => Ok(Activation::Relu),
            2 => Ok(Activation::Softmax),
            code => Err(ModelFileProblem::UnknownCode { what: "activation code", code }),
        }
    }

    fn layer(&mut self) -> Parsed<LayerSpec> {
        let invalid = |e: Error| ModelFileProblem::Invalid(Box::new(e));
        Ok(match self.u8("layer tag")? {
            1 => {
                let (kh, kw) = self.pair("conv kernel size")?;
                let (in_c, filters) = self.pair("conv channels")?;
                let strides = self.pair("conv strides")?;
                let (padding, activation) = (self.padding()?, self.activation()?);
                let shape = [kh, kw, in_c, filters];
                let kernel = self.floats(element_count(&shape).ok(), "conv kernel")?;
                let bias = self.floats(Some(filters), "conv bias")?;
                let kernel = Tensor::new(&shape, kernel).map_err(invalid)?;
                LayerSpec::Conv2D { kernel, bias, strides, padding, activation }
            }
            tag @ (2 | 3) => {
                let (pool, strides, padding) =
                    (self.pair("pool size")?, self.pair("pool strides")?, self.padding()?);
                if tag == 2 {
                    LayerSpec::MaxPooling2D { pool, strides, padding }
                } else {
                    LayerSpec::AveragePooling2D { pool, strides, padding }
                }
            }
            4 => LayerSpec::Flatten,
            5 => {
                let (inputs, units) = self.pair("dense size")?;
                let activation = self.activation()?;
                let kernel = self.floats(inputs.checked_mul(units), "dense kernel")?;
                let bias = self.floats(Some(units), "dense bias")?;
                let kernel = Tensor::new(&[inputs, units], kernel).map_err(invalid)?;
                LayerSpec::Dense { kernel, bias, activation }
            }
            code => return Err(ModelFileProblem::UnknownCode { what: "layer tag", code }),
        })
    }
}

// ANCHOR: load
/// Reads a model written by [`save_model`]. A wrong magic or version, a truncated file, bytes
/// left over, a file larger than [`MAX_FILE_BYTES`], or layers whose shapes do not fit together
/// or break the [limits](crate::limits) are clear errors ([`Error::ModelFile`]).
pub fn load_model(path: &Path) -> Result<Sequential> {
    let cannot_read =
        |e: io::Error| at(path, ModelFileProblem::Read { kind: e.kind(), message: e.to_string() });
    let file = File::open(path).map_err(cannot_read)?;
    let len = file.metadata().map_err(cannot_read)?.len();
    if len > MAX_FILE_BYTES {
        return Err(at(path, ModelFileProblem::TooLarge { bytes: len, limit: MAX_FILE_BYTES }));
    }
    let mut bytes = Vec::new();
    // `take`: a file that grows while it is read still stops at the limit.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(at(
            path,
            ModelFileProblem::TooLarge { bytes: bytes.len() as u64, limit: MAX_FILE_BYTES },
        ));
    }
    decode(&bytes).map_err(|e| match e {
        Error::ModelFile(e) => Error::ModelFile(ModelFileError { path: Some(path.to_path_buf()), ..e }),
        other => at(path, ModelFileProblem::Invalid(Box::new(other))),
    })
}
// ANCHOR_END: load

/// A model from the bytes of a model file.
pub fn decode(bytes: &[u8]) -> Result<Sequential> {
    let mut r = Cursor { bytes, pos: 0 };
    let magic = r.take(MAGIC.len(), "magic").map_err(bad)?;
    if magic != MAGIC {
        return Err(bad(ModelFileProblem::NotAModelFile { start: magic.to_vec() }));
    }
    let version = r.u32("version").map_err(bad)?;
    if version != VERSION as usize {
        return Err(bad(ModelFileProblem::Version { found: version, supported: VERSION }));
    }
    let rank = r.u32("input rank").map_err(bad)?;
    if rank > MAX_RANK {
        return Err(bad(ModelFileProblem::InputRank { rank, limit: MAX_RANK }));
    }
    let input: Vec<usize> = (0..rank).map(|_| r.u32("input shape")).collect::<Parsed<_>>().map_err(bad)?;
    crate::limits::values("the model", "input", &input)
        .map_err(|e| bad(ModelFileProblem::Invalid(Box::new(e))))?;
    let count = r.u32("layer count").map_err(bad)?;
    if count > MAX_LAYERS {
        return Err(bad(ModelFileProblem::TooManyLayers { count, limit: MAX_LAYERS }));
    }
    let mut model = Sequential::new(&input, 0);
    for i in 1..=count {
        let in_layer = |problem| Error::ModelFile(ModelFileError { path: None, layer: Some(i), problem });
        let spec = r.layer().map_err(in_layer)?;
        model.add_spec(spec).map_err(|e| in_layer(ModelFileProblem::Invalid(Box::new(e))))?;
    }
    if r.pos != bytes.len() {
        return Err(bad(ModelFileProblem::TrailingBytes { count: bytes.len() - r.pos }));
    }
    Ok(model)
}
