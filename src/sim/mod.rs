//! A simulated OpenRouter-dialect server for the demo, the tests and the benchmarks.
