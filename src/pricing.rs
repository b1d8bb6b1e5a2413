//! Model prices and cost accounting, including what probes spend.
