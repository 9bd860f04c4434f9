"""pb's counting engine: pure Python (NumPy allowed), no Django. Run it as `python -m tally`."""

ENGINE_NAME = "pb-tally"
ENGINE_VERSION = "0.1.0"
