//! A bridge from the Smithy RPC v2 CBOR protocol, which `aws-sdk-cloudwatch` speaks, to the
//! JSON 1.0 protocol moto implements for CloudWatch (moto has no CBOR support: getmoto/moto
//! issue 9195). The proxy rewrites each CBOR request to JSON and each JSON answer to CBOR.
//!
//! Requests convert without a schema (CBOR tag 1 timestamps become epoch seconds, byte strings
//! base64, as the JSON protocol writes them). Answers need the types the SDK expects: members
//! named `Timestamps` or `…Timestamp` are timestamps (tag 1), numbers moto wrote with a
//! fraction are doubles (moto serializes every double as a float), other numbers integers.
//! That covers the operations faas and its tests use (`GetMetricData`, `PutMetricData`,
//! `PutMetricAlarm`, `DescribeAlarms`) and error bodies.

use aws_smithy_cbor::data::Type;
use aws_smithy_cbor::{Decoder, Encoder};
use aws_smithy_types::DateTime;
use base64::Engine;
use serde_json::Value;

/// The service and operation of a CBOR request path, `/service/{service}/operation/{operation}`.
pub(super) fn operation(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/service/")?;
    let (service, rest) = rest.split_once('/')?;
    let operation = rest.strip_prefix("operation/")?;
    Some((service, operation))
}

/// The body as sent, uncompressed when the SDK gzipped it (`PutMetricData` has Smithy's
/// request compression).
pub(super) fn gunzip_if(gzipped: bool, body: &[u8]) -> Result<Vec<u8>, String> {
    if !gzipped {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body), &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// A CBOR request body as the JSON protocol's body (`{}` for an empty one).
pub(super) fn request_to_json(body: &[u8]) -> Result<Vec<u8>, String> {
    if body.is_empty() {
        return Ok(b"{}".to_vec());
    }
    let mut d = Decoder::new(body);
    let v = decode(&mut d)?;
    serde_json::to_vec(&v).map_err(|e| e.to_string())
}

/// A JSON answer as CBOR (an empty body stays empty).
pub(super) fn answer_to_cbor(body: &[u8]) -> Result<Vec<u8>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("moto's answer is not JSON: {e}"))?;
    let mut e = Encoder::new(Vec::new());
    encode(&mut e, None, &v);
    Ok(e.into_writer())
}

fn decode(d: &mut Decoder<'_>) -> Result<Value, String> {
    let err = |e: aws_smithy_cbor::decode::DeserializeError| e.to_string();
    Ok(match d.datatype().map_err(err)? {
        Type::Bool => Value::Bool(d.boolean().map_err(err)?),
        Type::Null | Type::Undefined => {
            d.skip().map_err(err)?;
            Value::Null
        }
        Type::U8 | Type::U16 | Type::U32 | Type::U64 | Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => {
            Value::from(d.long().map_err(err)?)
        }
        Type::F16 | Type::F32 | Type::F64 => Value::from(d.double().map_err(err)?),
        Type::String | Type::StringIndef => Value::String(d.string().map_err(err)?),
        Type::Bytes | Type::BytesIndef => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(d.blob().map_err(err)?.as_ref()))
        }
        Type::Tag => Value::from(d.timestamp().map_err(err)?.as_secs_f64()),
        Type::Array | Type::ArrayIndef => {
            let mut items = Vec::new();
            match d.list().map_err(err)? {
                Some(n) => {
                    for _ in 0..n {
                        items.push(decode(d)?);
                    }
                }
                None => {
                    while d.datatype().map_err(err)? != Type::Break {
                        items.push(decode(d)?);
                    }
                    d.skip().map_err(err)?;
                }
            }
            Value::Array(items)
        }
        Type::Map | Type::MapIndef => {
            let mut map = serde_json::Map::new();
            let mut pair = |d: &mut Decoder<'_>| -> Result<(), String> {
                let key = d.string().map_err(err)?;
                let value = decode(d)?;
                map.insert(key, value);
                Ok(())
            };
            match d.map().map_err(err)? {
                Some(n) => {
                    for _ in 0..n {
                        pair(d)?;
                    }
                }
                None => {
                    while d.datatype().map_err(err)? != Type::Break {
                        pair(d)?;
                    }
                    d.skip().map_err(err)?;
                }
            }
            Value::Object(map)
        }
        other => return Err(format!("CBOR item {other:?} has no JSON form")),
    })
}

fn is_timestamp(key: &str) -> bool {
    key == "Timestamps" || key.ends_with("Timestamp")
}

fn encode(e: &mut Encoder, key: Option<&str>, v: &Value) {
    match v {
        Value::Null => {
            e.null();
        }
        Value::Bool(b) => {
            e.boolean(*b);
        }
        Value::Number(n) if key.is_some_and(is_timestamp) => {
            e.timestamp(&DateTime::from_secs_f64(n.as_f64().unwrap_or_default()));
        }
        Value::Number(n) => match n.as_i64() {
            Some(i) if !n.is_f64() => {
                e.long(i);
            }
            _ => {
                e.double(n.as_f64().unwrap_or_default());
            }
        },
        Value::String(s) => {
            e.str(s);
        }
        Value::Array(items) => {
            e.array(items.len());
            for item in items {
                encode(e, key, item);
            }
        }
        Value::Object(map) => {
            e.map(map.len());
            for (k, item) in map {
                e.str(k);
                encode(e, Some(k), item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_and_an_answer_cross_the_bridge() {
        let mut e = Encoder::new(Vec::new());
        e.map(3);
        e.str("StartTime").timestamp(&DateTime::from_secs(1_700_000_000));
        e.str("Values").array(2).double(1.5).long(2);
        e.str("Blob").blob_bytes(b"hi");
        let json: Value = serde_json::from_slice(&request_to_json(&e.into_writer()).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"StartTime": 1_700_000_000.0, "Values": [1.5, 2], "Blob": "aGk="})
        );

        let cbor = answer_to_cbor(br#"{"Timestamps": [1700000000.0], "Values": [3.0], "N": 4}"#).unwrap();
        let mut d = Decoder::new(&cbor);
        assert_eq!(d.map().unwrap(), Some(3));
        let mut seen = Vec::new();
        for _ in 0..3 {
            match d.string().unwrap().as_str() {
                "Timestamps" => {
                    d.list().unwrap();
                    seen.push(format!("t{}", d.timestamp().unwrap().secs()));
                }
                "Values" => {
                    d.list().unwrap();
                    seen.push(format!("v{}", d.double().unwrap()));
                }
                "N" => seen.push(format!("n{}", d.long().unwrap())),
                other => panic!("{other}"),
            }
        }
        seen.sort();
        assert_eq!(seen, ["n4", "t1700000000", "v3"]);
        assert_eq!(
            operation("/service/GraniteServiceVersion20100801/operation/GetMetricData"),
            Some(("GraniteServiceVersion20100801", "GetMetricData"))
        );
    }
}
