"""Training data for the lifter: motion-capture clips converted to Human3.6M-17 joints."""
