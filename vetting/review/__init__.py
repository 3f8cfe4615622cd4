"""A person decides: validation of items, the pictures marked as evidence, the uniformity check."""
