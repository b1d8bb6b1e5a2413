pub mod fixture;
pub mod recorder;
