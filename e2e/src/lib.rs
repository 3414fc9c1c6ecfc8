//! Test harness shared by the e2e tests.
