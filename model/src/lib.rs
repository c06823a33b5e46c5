//! hub-model: the AutoGLM stack on libtorch (`tch`).
//!
//! One module per model; loaders read each file format themselves (CT2,
//! GGUF, safetensors, TorchScript) and are tested against the reference
//! library on the same file. Models run on dedicated threads behind bounded
//! channels; callers hold async handles.

pub mod bert;
pub mod chat_template;
pub mod constrain;
pub mod ct2;
pub mod decoder;
pub mod detector;
pub mod fusion_gate;
pub mod generate;
pub mod gguf;
pub mod glm4v;
pub mod glm4v_chat;
pub mod heads;
pub mod hog;
pub mod mtcnn;
pub mod placement;
pub mod safetensors_loader;
pub mod threads;
pub mod vad;
pub mod vision;
pub mod weights;
pub mod whisper;
