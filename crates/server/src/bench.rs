//! `bench taxii`: TAXII POST and paged GET throughput against medallion.
