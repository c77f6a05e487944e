"""Run the real state machine offline: moto's interpreter, an EMR .sync adapter, the Lambdas in-process."""
