//! Shared packet-by-packet test harness (being extracted).
