use thiserror::Error;

/// Everything that can go wrong turning commands into MQTT and back.
#[derive(Debug, Error, PartialEq)]
pub enum BridgeError {
    /// The device's firmware cannot do this (e.g. a colour on a Tasmota relay).
    #[error("{dialect} {kind} device `{device}` does not support {action}")]
    Unsupported { dialect: &'static str, kind: &'static str, device: String, action: String },
    /// A value outside what the command accepts.
    #[error("{field} = {value} is out of range ({range})")]
    OutOfRange { field: &'static str, value: String, range: &'static str },
    /// A state payload that could not be parsed.
    #[error("bad state payload on topic `{topic}`: {reason}")]
    BadPayload { topic: String, reason: String },
    /// Payload larger than the bridge accepts.
    #[error("state payload on topic `{topic}` is {len} bytes, limit is {limit}")]
    TooLarge { topic: String, len: usize, limit: usize },
}
