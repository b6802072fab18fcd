//! Correlation tests.
