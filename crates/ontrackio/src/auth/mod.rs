//! Sign-in: passwords, sessions, throttling. (Microsoft sign-in joins as `microsoft/`.)

pub mod password;
pub mod session;
pub mod throttle;
