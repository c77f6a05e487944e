"""Orchard on one machine: moto plays AWS, local Spark plays EMR (make demo, make run, the workflow tests)."""
