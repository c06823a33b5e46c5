//! hub-kernels: tensor kernels shared by the model and the daemon.
//! Every kernel keeps a scalar `*_ref` and is tested fast-vs-reference.
pub mod image;
pub mod int8;
pub mod mel;
pub mod motion;
pub mod norm;
pub mod rotary;
