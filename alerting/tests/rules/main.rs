//! Rule evaluation: value functions against hand-computed series, the
//! throttling schedule over six hours, alert state, history and restarts.

mod alerter;
mod support;
mod throttle;
mod values;
