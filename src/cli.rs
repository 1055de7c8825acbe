//! stub
/// Entry point (stub until the CLI lands).
pub fn main() -> i32 {
    0
}
