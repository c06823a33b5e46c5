//! Home Assistant sentence templates (hassil's language), parsed and matched
//! natively.
