"""Benchmarks behind ``make bench`` (:mod:`.pipeline`) and ``make bench-peer`` (:mod:`.peer`)."""
