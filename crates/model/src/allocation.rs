//! Allocations (1.52): requests for a node matching a resource class and traits, scheduled by the conductor.
