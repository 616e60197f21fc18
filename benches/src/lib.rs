//! Benchmarks of vigil hot paths; see the binaries under `src/bin/`.
