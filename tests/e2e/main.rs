//! End-to-end tests across processes: a real mosquitto on a free loopback
//! port per test, the real `hubd` binary, MQTT test devices, real SQLite.

mod ask_camera;
mod assistant;
mod automations;
mod broker_security;
mod camera;
mod camera_frigate;
mod camera_sources;
mod chat;
mod cli;
mod common;
mod config;
mod dashboard;
mod discovery;
mod domains;
mod faults;
mod heads;
mod kill_run;
mod link;
mod llm_tools;
mod openai_limits;
mod receipts;
mod search;
mod security;
mod spine;
mod spoken;
mod voice;
mod wyoming;
