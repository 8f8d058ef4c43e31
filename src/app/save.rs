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
//! Every number is little-endian. Loading reads the whole file, checks every count against
//! the bytes actually left before allocating anything, and rebuilds the model layer by layer,
//! so a kernel that does not fit its input is caught exactly as when building by hand.
//! Saving writes a temporary file next to the target and renames it over the target, so an
//! interrupted save never leaves half a model behind.

use std::path::Path;

use byteorder::{ByteOrder, LittleEndian, WriteBytesExt};

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::model::Sequential;
use crate::padding::Padding;
use crate::spec::LayerSpec;
use crate::tensor::{Tensor, element_count};

/// The first eight bytes of every model file.
pub const MAGIC: &[u8; 8] = b"CONVNETS";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;

fn file_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::ModelFile(format!("{}: {reason}", path.display()))
}

// ANCHOR: save
/// Writes `model` to `path` in the format above (atomically: a temporary file, then a rename).
pub fn save_model(model: &Sequential, path: &Path) -> Result<()> {
    let bytes = encode(model)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, &bytes).map_err(|e| file_error(path, format!("cannot write: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| file_error(path, format!("cannot replace: {e}")))
}
// ANCHOR_END: save

/// The model in the file format, as bytes.
pub fn encode(model: &Sequential) -> Result<Vec<u8>> {
    let mut out = MAGIC.to_vec();
    let put = |out: &mut Vec<u8>, v: usize| -> Result<()> {
        let v =
            u32::try_from(v).map_err(|_| Error::ModelFile(format!("{v} does not fit the format's u32")))?;
        out.write_u32::<LittleEndian>(v).map_err(|e| Error::ModelFile(e.to_string()))
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

impl Cursor<'_> {
    fn take(&mut self, n: usize, what: &str) -> std::result::Result<&[u8], String> {
        let left = self.bytes.len() - self.pos;
        if n > left {
            return Err(format!(
                "truncated: {what} needs {n} bytes at offset {} but {left} are left",
                self.pos
            ));
        }
        self.pos += n;
        Ok(&self.bytes[self.pos - n..self.pos])
    }

    fn u8(&mut self, what: &str) -> std::result::Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> std::result::Result<usize, String> {
        Ok(LittleEndian::read_u32(self.take(4, what)?) as usize)
    }

    fn pair(&mut self, what: &str) -> std::result::Result<(usize, usize), String> {
        Ok((self.u32(what)?, self.u32(what)?))
    }

    /// `count` f32 values; the count is checked against the bytes left before allocating.
    fn floats(&mut self, count: Option<usize>, what: &str) -> std::result::Result<Vec<f32>, String> {
        let bytes =
            count.and_then(|c| c.checked_mul(4)).ok_or_else(|| format!("{what}: the size overflows"))?;
        let raw = self.take(bytes, what)?;
        let mut values = vec![0.0; bytes / 4];
        LittleEndian::read_f32_into(raw, &mut values);
        Ok(values)
    }

    fn padding(&mut self) -> std::result::Result<Padding, String> {
        match self.u8("padding")? {
            0 => Ok(Padding::Valid),
            1 => Ok(Padding::Same),
            code => Err(format!("unknown padding code {code}")),
        }
    }

    fn activation(&mut self) -> std::result::Result<Activation, String> {
        match self.u8("activation")? {
            0 => Ok(Activation::Linear),
            1 => Ok(Activation::Relu),
            2 => Ok(Activation::Softmax),
            code => Err(format!("unknown activation code {code}")),
        }
    }

    fn layer(&mut self) -> std::result::Result<LayerSpec, String> {
        Ok(match self.u8("layer tag")? {
            1 => {
                let (kh, kw) = self.pair("conv kernel size")?;
                let (in_c, filters) = self.pair("conv channels")?;
                let strides = self.pair("conv strides")?;
                let (padding, activation) = (self.padding()?, self.activation()?);
                let shape = [kh, kw, in_c, filters];
                let kernel = self.floats(element_count(&shape).ok(), "conv kernel")?;
                let bias = self.floats(Some(filters), "conv bias")?;
                let kernel = Tensor::new(&shape, kernel).map_err(|e| e.to_string())?;
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
                let kernel = Tensor::new(&[inputs, units], kernel).map_err(|e| e.to_string())?;
                LayerSpec::Dense { kernel, bias, activation }
            }
            tag => return Err(format!("unknown layer tag {tag}")),
        })
    }
}

// ANCHOR: load
/// Reads a model written by [`save_model`]. A wrong magic or version, a truncated file, bytes
/// left over, or layers whose shapes do not fit together are clear errors.
pub fn load_model(path: &Path) -> Result<Sequential> {
    let bytes = std::fs::read(path).map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    decode(&bytes).map_err(|e| match e {
        Error::ModelFile(reason) => file_error(path, reason),
        other => file_error(path, other),
    })
}
// ANCHOR_END: load

/// A model from the bytes of a model file.
pub fn decode(bytes: &[u8]) -> Result<Sequential> {
    let mut r = Cursor { bytes, pos: 0 };
    let fail = |reason: String| Error::ModelFile(reason);
    let magic = r.take(MAGIC.len(), "magic").map_err(fail)?;
    if magic != MAGIC {
        return Err(fail(format!("not a convnets model file (it starts with {magic:?}, not \"CONVNETS\")")));
    }
    let version = r.u32("version").map_err(fail)?;
    if version != VERSION as usize {
        return Err(fail(format!(
            "format version {version} is not supported (this build reads version {VERSION})"
        )));
    }
    let rank = r.u32("input rank").map_err(fail)?;
    if rank > 8 {
        return Err(fail(format!("an input of {rank} dimensions is not a model input")));
    }
    let input: Vec<usize> =
        (0..rank).map(|_| r.u32("input shape")).collect::<std::result::Result<_, _>>().map_err(fail)?;
    let count = r.u32("layer count").map_err(fail)?;
    let mut model = Sequential::new(&input, 0);
    for i in 0..count {
        let spec = r.layer().map_err(|e| fail(format!("layer {}: {e}", i + 1)))?;
        model.add_spec(spec).map_err(|e| fail(format!("layer {}: {e}", i + 1)))?;
    }
    if r.pos != bytes.len() {
        return Err(fail(format!("{} unexpected bytes after the last layer", bytes.len() - r.pos)));
    }
    Ok(model)
}
