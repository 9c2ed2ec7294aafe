//! The ONNX graph under construction: nodes with generated value names, constants, attributes
//! and tensors in the protobuf types of `crate::onnx`.

use crate::onnx::*;

/// Nodes and constants, with generated value names.
#[derive(Default)]
pub(super) struct Graph {
    pub(super) nodes: Vec<NodeProto>,
    pub(super) initializers: Vec<TensorProto>,
}

impl Graph {
    fn fresh(&self, op: &str) -> String {
        format!(
            "{}_{}",
            op.to_ascii_lowercase(),
            self.nodes.len() + self.initializers.len()
        )
    }

    pub(super) fn node(&mut self, op: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        self.node_in(op, "", inputs, attribute)
    }

    pub(super) fn node_in(
        &mut self,
        op: &str,
        domain: &str,
        inputs: &[&str],
        attribute: Vec<AttributeProto>,
    ) -> String {
        let out = self.fresh(op);
        self.push(op, domain, inputs, attribute, &out);
        out
    }

    pub(super) fn node_named(&mut self, op: &str, inputs: &[&str], attribute: Vec<AttributeProto>, out: &str) {
        self.push(op, "", inputs, attribute, out);
    }

    fn push(&mut self, op: &str, domain: &str, inputs: &[&str], attribute: Vec<AttributeProto>, out: &str) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.to_string()],
            name: out.to_string(),
            op_type: op.into(),
            attribute,
            domain: domain.into(),
        });
    }

    pub(super) fn constant_f64(&mut self, values: &[f64], dims: &[i64]) -> String {
        let name = self.fresh("const");
        let mut t = f64_tensor(values, dims);
        t.name = name.clone();
        self.initializers.push(t);
        name
    }

    pub(super) fn constant_i64(&mut self, values: &[i64]) -> String {
        let name = self.fresh("const");
        self.initializers.push(TensorProto {
            dims: vec![values.len() as i64],
            data_type: data_type::INT64,
            name: name.clone(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name
    }
}

pub(super) fn f64_tensor(values: &[f64], dims: &[i64]) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: data_type::DOUBLE,
        name: String::new(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

pub(super) fn u8_tensor(values: &[u8]) -> TensorProto {
    TensorProto {
        dims: vec![values.len() as i64],
        data_type: data_type::UINT8,
        name: String::new(),
        raw_data: values.to_vec(),
    }
}

pub(super) fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        r#type: attribute_type::INT,
        ..Default::default()
    }
}

pub(super) fn ints(name: &str, ints: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints,
        r#type: attribute_type::INTS,
        ..Default::default()
    }
}

pub(super) fn tensor_attr(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        t: Some(t),
        r#type: attribute_type::TENSOR,
        ..Default::default()
    }
}

pub(super) fn value_info(name: &str, elem_type: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorType {
                elem_type,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| match d {
                            Some(v) => Dimension {
                                dim_value: Some(*v),
                                dim_param: None,
                            },
                            None => Dimension {
                                dim_value: None,
                                dim_param: Some("rows".into()),
                            },
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

pub(super) fn json_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| {
            let mut q = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => q.push_str("\\\""),
                    '\\' => q.push_str("\\\\"),
                    c if (c as u32) < 0x20 => q.push_str(&format!("\\u{:04x}", c as u32)),
                    c => q.push(c),
                }
            }
            q.push('"');
            q
        })
        .collect();
    format!("[{}]", quoted.join(","))
}
