//! Scenario simulator (to be written).
