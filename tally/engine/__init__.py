"""pb's counting engine: pure Python (NumPy allowed), no Django. Run it as `python -m tally`."""

ENGINE_NAME = "pb-tally"
ENGINE_VERSION = "0.2.0"  # 0.2.0: structured reasons (rounds[i].why, unfunded_why), option unsupported
