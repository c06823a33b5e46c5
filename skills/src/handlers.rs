//! Skill handlers: an [`Understanding`] plus the registry and current state
//! become device commands and a spoken-style reply.
