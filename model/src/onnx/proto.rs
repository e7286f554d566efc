//! The subset of `onnx.proto` that veil reads, decoded by hand from the wire format.
//!
//! Field numbers follow onnx.proto (IR version 10). Fields veil has no use for are
//! skipped, whatever they hold; a known field with the wrong wire type is an error.
//! Sub-graphs (attributes of type GRAPH) are skipped, never decoded, so decoding does not
//! recurse on untrusted nesting.

use super::wire::{Field, WireError, WireReader};

/// `ModelProto`: the top-level message of an `.onnx` file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelProto {
    /// `ir_version` (1).
    pub ir_version: i64,
    /// `producer_name` (2).
    pub producer_name: String,
    /// `graph` (7).
    pub graph: Option<GraphProto>,
    /// `opset_import` (8).
    pub opset_import: Vec<OperatorSetId>,
    /// `metadata_props` (14), as key/value pairs in file order.
    pub metadata_props: Vec<(String, String)>,
}

/// `OperatorSetIdProto`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperatorSetId {
    /// `domain` (1); empty means the default ONNX domain.
    pub domain: String,
    /// `version` (2).
    pub version: i64,
}

/// `GraphProto`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphProto {
    /// `node` (1), in topological order.
    pub node: Vec<NodeProto>,
    /// `name` (2).
    pub name: String,
    /// `initializer` (5): the constant tensors (weights).
    pub initializer: Vec<TensorProto>,
    /// `input` (11).
    pub input: Vec<ValueInfoProto>,
    /// `output` (12).
    pub output: Vec<ValueInfoProto>,
    /// `value_info` (13).
    pub value_info: Vec<ValueInfoProto>,
    /// How many `sparse_initializer` (15) entries the graph has (veil does not read them).
    pub sparse_initializers: usize,
}

/// `NodeProto`: one operator application.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeProto {
    /// `input` (1): value names; an empty name is an omitted optional input.
    pub input: Vec<String>,
    /// `output` (2).
    pub output: Vec<String>,
    /// `name` (3).
    pub name: String,
    /// `op_type` (4).
    pub op_type: String,
    /// `attribute` (5).
    pub attribute: Vec<AttributeProto>,
    /// `domain` (7); empty means the default ONNX domain.
    pub domain: String,
}

/// `AttributeProto`: a named attribute of a node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttributeProto {
    /// `name` (1).
    pub name: String,
    /// `f` (2).
    pub f: f32,
    /// `i` (3).
    pub i: i64,
    /// `s` (4).
    pub s: Vec<u8>,
    /// `t` (5).
    pub t: Option<TensorProto>,
    /// `floats` (7).
    pub floats: Vec<f32>,
    /// `ints` (8).
    pub ints: Vec<i64>,
    /// `type` (20): 1 FLOAT, 2 INT, 3 STRING, 4 TENSOR, 6 FLOATS, 7 INTS, ...
    pub r#type: i64,
}

/// `TensorProto.DataLocation.EXTERNAL`.
pub const DATA_LOCATION_EXTERNAL: i64 = 1;

/// `TensorProto`: a constant tensor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TensorProto {
    /// `dims` (1).
    pub dims: Vec<i64>,
    /// `data_type` (2): 1 FLOAT, 6 INT32, 7 INT64, 11 DOUBLE, ...
    pub data_type: i64,
    /// `float_data` (4).
    pub float_data: Vec<f32>,
    /// `int32_data` (5), widened.
    pub int32_data: Vec<i64>,
    /// `int64_data` (7).
    pub int64_data: Vec<i64>,
    /// `name` (8).
    pub name: String,
    /// `raw_data` (9), if present.
    pub raw_data: Option<Vec<u8>>,
    /// `double_data` (10).
    pub double_data: Vec<f64>,
    /// `external_data` (13): key/value pairs (`location`, `offset`, `length`, ...).
    pub external_data: Vec<(String, String)>,
    /// `data_location` (14): 0 DEFAULT, 1 EXTERNAL.
    pub data_location: i64,
    /// True if the tensor uses `segment` (3), which veil does not support.
    pub segmented: bool,
}

/// One dimension of a `TensorShapeProto`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// `dim_value` (1).
    Value(i64),
    /// `dim_param` (2): a symbolic dimension such as `batch`.
    Param(String),
    /// Neither is set.
    Unknown,
}

/// `ValueInfoProto` reduced to what veil needs: the name, element type and shape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValueInfoProto {
    /// `name` (1).
    pub name: String,
    /// `type.tensor_type.elem_type`, if the value is a tensor.
    pub elem_type: Option<i64>,
    /// `type.tensor_type.shape.dim`, if the shape is given.
    pub shape: Option<Vec<Dim>>,
}

/// Decodes a `ModelProto` from a whole `.onnx` file.
pub fn decode_model(bytes: &[u8]) -> Result<ModelProto, WireError> {
    const M: &str = "ModelProto";
    let mut m = ModelProto::default();
    let mut r = WireReader::new(bytes);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => m.ir_version = f.int64(M)?,
            2 => m.producer_name = f.string(M)?,
            7 => m.graph = Some(decode_graph(f.bytes(M)?)?),
            8 => m.opset_import.push(decode_opset(f.bytes(M)?)?),
            14 => m.metadata_props.push(decode_entry(f.bytes(M)?)?),
            _ => {}
        }
    }
    Ok(m)
}

fn decode_opset(bytes: &[u8]) -> Result<OperatorSetId, WireError> {
    const M: &str = "OperatorSetIdProto";
    let mut o = OperatorSetId::default();
    let mut r = WireReader::new(bytes);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => o.domain = f.string(M)?,
            2 => o.version = f.int64(M)?,
            _ => {}
        }
    }
    Ok(o)
}

fn decode_entry(bytes: &[u8]) -> Result<(String, String), WireError> {
    const M: &str = "StringStringEntryProto";
    let (mut key, mut value) = (String::new(), String::new());
    let mut r = WireReader::new(bytes);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => key = f.string(M)?,
            2 => value = f.string(M)?,
            _ => {}
        }
    }
    Ok((key, value))
}

fn decode_graph(bytes: &[u8]) -> Result<GraphProto, WireError> {
    const M: &str = "GraphProto";
    let mut g = GraphProto::default();
    let mut r = WireReader::new(bytes);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => g.node.push(decode_node(f.bytes(M)?)?),
            2 => g.name = f.string(M)?,
            5 => g.initializer.push(decode_tensor(f.bytes(M)?)?),
            11 => g.input.push(decode_value_info(f.bytes(M)?)?),
            12 => g.output.push(decode_value_info(f.bytes(M)?)?),
            13 => g.value_info.push(decode_value_info(f.bytes(M)?)?),
            15 => g.sparse_initializers += 1,
            _ => {}
        }
    }
    Ok(g)
}

fn decode_node(bytes: &[u8]) -> Result<NodeProto, WireError> {
    const M: &str = "NodeProto";
    let mut n = NodeProto::default();
    let mut r = WireReader::new(bytes);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => n.input.push(f.string(M)?),
            2 => n.output.push(f.string(M)?),
            3 => n.name = f.string(M)?,
            4 => n.op_type = f.string(M)?,
            5 => n.attribute.push(decode_attribute(f.bytes(M)?)?),
            7 => n.domain = f.string(M)?,
            _ => {}
        }
    }
    Ok(n)
}

fn decode_attribute(bytes: &[u8]) -> Result<AttributeProto, WireError> {
    const M: &str = "AttributeProto";
    let mut a = AttributeProto::default();
    let mut r = WireReader::new(bytes);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => a.name = f.string(M)?,
            2 => a.f = f.float(M)?,
            3 => a.i = f.int64(M)?,
            4 => a.s = f.bytes(M)?.to_vec(),
            5 => a.t = Some(decode_tensor(f.bytes(M)?)?),
            7 => f.push_floats(&mut a.floats, M)?,
            8 => f.push_int64s(&mut a.ints, M)?,
            20 => a.r#type = f.int64(M)?,
            _ => {}
        }
    }
    Ok(a)
}

/// Decodes a `TensorProto` (also used for tensors stored outside a model).
pub fn decode_tensor(bytes: &[u8]) -> Result<TensorProto, WireError> {
    const M: &str = "TensorProto";
    let mut t = TensorProto::default();
    let mut r = WireReader::new(bytes);
    while let Some(f) = r.next_field()? {
        decode_tensor_field(&mut t, &f, M)?;
    }
    Ok(t)
}

fn decode_tensor_field(
    t: &mut TensorProto,
    f: &Field<'_>,
    m: &'static str,
) -> Result<(), WireError> {
    match f.number {
        1 => f.push_int64s(&mut t.dims, m)?,
        2 => t.data_type = f.int64(m)?,
        3 => t.segmented = true,
        4 => f.push_floats(&mut t.float_data, m)?,
        5 => f.push_int64s(&mut t.int32_data, m)?,
        7 => f.push_int64s(&mut t.int64_data, m)?,
        8 => t.name = f.string(m)?,
        9 => t.raw_data = Some(f.bytes(m)?.to_vec()),
        10 => f.push_doubles(&mut t.double_data, m)?,
        13 => t.external_data.push(decode_entry(f.bytes(m)?)?),
        14 => t.data_location = f.int64(m)?,
        _ => {}
    }
    Ok(())
}

fn decode_value_info(bytes: &[u8]) -> Result<ValueInfoProto, WireError> {
    const M: &str = "ValueInfoProto";
    let mut v = ValueInfoProto::default();
    let mut r = WireReader::new(bytes);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => v.name = f.string(M)?,
            2 => decode_type(f.bytes(M)?, &mut v)?,
            _ => {}
        }
    }
    Ok(v)
}

/// `TypeProto`: only `tensor_type` (1) is read; other kinds leave `elem_type` unset.
fn decode_type(bytes: &[u8], v: &mut ValueInfoProto) -> Result<(), WireError> {
    const M: &str = "TypeProto";
    let mut r = WireReader::new(bytes);
    while let Some(f) = r.next_field()? {
        if f.number != 1 {
            continue;
        }
        let mut tr = WireReader::new(f.bytes(M)?);
        while let Some(tf) = tr.next_field()? {
            match tf.number {
                1 => v.elem_type = Some(tf.int64("TypeProto.Tensor")?),
                2 => v.shape = Some(decode_shape(tf.bytes("TypeProto.Tensor")?)?),
                _ => {}
            }
        }
    }
    Ok(())
}

fn decode_shape(bytes: &[u8]) -> Result<Vec<Dim>, WireError> {
    const M: &str = "TensorShapeProto";
    let mut dims = Vec::new();
    let mut r = WireReader::new(bytes);
    while let Some(f) = r.next_field()? {
        if f.number != 1 {
            continue;
        }
        let mut dim = Dim::Unknown;
        let mut dr = WireReader::new(f.bytes(M)?);
        while let Some(df) = dr.next_field()? {
            match df.number {
                1 => dim = Dim::Value(df.int64("Dimension")?),
                2 => dim = Dim::Param(df.string("Dimension")?),
                _ => {}
            }
        }
        dims.push(dim);
    }
    Ok(dims)
}
